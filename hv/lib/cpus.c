/*
 * The machine's cores from the firmware's tables (lib/cpus.h): ACPI 6.4
 * §5.2.5.1 (where the RSDP is: the EBDA's first KiB, or E0000h-FFFFFh, on
 * a 16-byte boundary), §5.2.12 (MADT); MP Specification 1.4 §4 (the
 * floating pointer: the EBDA's first KiB, the last KiB of base memory, or
 * F0000h-FFFFFh). On UEFI the RSDP is given instead (§5.2.5.2: the EFI
 * configuration table).
 */
#include "lib/cpus.h"
#include "hw/acpi.h"
#include "lib/mem.h"

#define MADT_MAX_LEN (1u << 20)

struct found {
    uint32_t *ids;
    unsigned n, max;
};

static void add(struct found *f, uint32_t id)
{
    for (unsigned i = 0; i < f->n; i++)
        if (f->ids[i] == id)
            return;
    if (f->n < f->max)
        f->ids[f->n++] = id;
}

/* The byte sum of len bytes at pa, read in chunks; -1 if a read fails. */
static int sum(cpus_read_fn read, void *ctx, uint64_t pa, uint32_t len)
{
    uint8_t buf[256], s = 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t chunk = len - off < sizeof(buf) ? len - off : sizeof(buf);
        if (!read(ctx, pa + off, buf, chunk))
            return -1;
        for (uint32_t i = 0; i < chunk; i++)
            s = (uint8_t)(s + buf[i]);
        off += chunk;
    }
    return s;
}

/* The address of a 16-byte-aligned structure that starts with sig and
 * whose first `len` bytes sum to 0, in [from, to); 0 if none. */
static uint64_t scan(cpus_read_fn read, void *ctx, uint64_t from, uint64_t to, const char *sig,
                     uint32_t siglen, uint32_t len)
{
    for (uint64_t pa = from; pa + len <= to; pa += 16) {
        char head[8];
        if (!read(ctx, pa, head, siglen) || lib_memcmp(head, sig, siglen))
            continue;
        if (sum(read, ctx, pa, len) == 0)
            return pa;
    }
    return 0;
}

static bool madt(cpus_read_fn read, void *ctx, uint64_t pa, struct found *f)
{
    struct acpi_sdt h;
    if (!read(ctx, pa, &h, sizeof(h)) || lib_memcmp(h.signature, "APIC", 4) ||
        h.length < ACPI_MADT_ENTRIES || h.length > MADT_MAX_LEN || sum(read, ctx, pa, h.length))
        return false;
    for (uint32_t off = ACPI_MADT_ENTRIES; off + 2 <= h.length;) {
        uint8_t e[16];
        if (!read(ctx, pa + off, e, 2) || e[1] < 2 || off + e[1] > h.length)
            break;
        uint32_t len = e[1] < sizeof(e) ? e[1] : sizeof(e);
        if (!read(ctx, pa + off, e, len))
            break;
        if (e[0] == ACPI_MADT_LAPIC && len >= 8) {
            uint32_t flags = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
            if (flags & (ACPI_MADT_ENABLED | ACPI_MADT_ONLINE_CAPABLE))
                add(f, e[3]);
        } else if (e[0] == ACPI_MADT_X2APIC && len >= 16) {
            uint32_t id = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
            uint32_t flags = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24;
            if (flags & (ACPI_MADT_ENABLED | ACPI_MADT_ONLINE_CAPABLE))
                add(f, id);
        }
        off += e[1];
    }
    return f->n > 0;
}

static bool from_rsdp(cpus_read_fn read, void *ctx, uint64_t rsdp_pa, struct found *f)
{
    struct acpi_rsdp rsdp;
    char sig[8];
    if (!rsdp_pa || !read(ctx, rsdp_pa, sig, 8) || lib_memcmp(sig, "RSD PTR ", 8) ||
        sum(read, ctx, rsdp_pa, 20) || !read(ctx, rsdp_pa, &rsdp, sizeof(rsdp)))
        return false;
    bool x = rsdp.revision >= 2 && rsdp.xsdt && rsdp.length >= sizeof(rsdp) &&
             sum(read, ctx, rsdp_pa, sizeof(rsdp)) == 0;
    uint64_t sdt = x ? rsdp.xsdt : rsdp.rsdt;
    unsigned width = x ? 8 : 4;
    struct acpi_sdt h;
    if (!read(ctx, sdt, &h, sizeof(h)) || lib_memcmp(h.signature, x ? "XSDT" : "RSDT", 4) ||
        h.length < sizeof(h) || h.length > MADT_MAX_LEN || sum(read, ctx, sdt, h.length))
        return false;
    for (uint32_t off = sizeof(h); off + width <= h.length; off += width) {
        uint64_t entry = 0;
        if (!read(ctx, sdt + off, &entry, width))
            return false;
        if (madt(read, ctx, entry, f))
            return true;
    }
    return false;
}

static bool from_acpi(cpus_read_fn read, void *ctx, uint64_t ebda, struct found *f)
{
    uint64_t rsdp_pa = ebda ? scan(read, ctx, ebda, ebda + 1024, "RSD PTR ", 8, 20) : 0;
    if (!rsdp_pa)
        rsdp_pa = scan(read, ctx, 0xe0000, 0x100000, "RSD PTR ", 8, 20);
    return from_rsdp(read, ctx, rsdp_pa, f);
}

static bool from_mptable(cpus_read_fn read, void *ctx, uint64_t ebda, struct found *f)
{
    uint64_t fp = ebda ? scan(read, ctx, ebda, ebda + 1024, "_MP_", 4, MP_FLOAT_SIZE) : 0;
    if (!fp)
        fp = scan(read, ctx, 0x9fc00, 0xa0000, "_MP_", 4, MP_FLOAT_SIZE);
    if (!fp)
        fp = scan(read, ctx, 0xf0000, 0x100000, "_MP_", 4, MP_FLOAT_SIZE);
    uint32_t cfg;
    uint8_t h[MP_CONFIG_HEADER_SIZE];
    if (!fp || !read(ctx, fp + 4, &cfg, 4) || !cfg || !read(ctx, cfg, h, sizeof(h)) ||
        lib_memcmp(h, "PCMP", 4))
        return false;
    uint32_t len = h[4] | h[5] << 8, count = h[34] | h[35] << 8;
    if (len < sizeof(h) || sum(read, ctx, cfg, len))
        return false;
    uint32_t off = sizeof(h);
    for (uint32_t i = 0; i < count && off < len; i++) {
        uint8_t e[20];
        if (!read(ctx, cfg + off, e, 1))
            return false;
        if (e[0] == MP_ENTRY_PROCESSOR) {
            if (off + 20 > len || !read(ctx, cfg + off, e, 20))
                return false;
            if (e[3] & MP_PROC_ENABLED)
                add(f, e[1]);
            off += 20;
        } else {
            off += 8; /* bus, I/O APIC, interrupt assignments */
        }
    }
    return f->n > 0;
}

unsigned cpus_find(cpus_read_fn read, void *ctx, uint64_t ebda, uint32_t *apic_ids, unsigned max,
                   enum cpus_source *source)
{
    struct found f = {apic_ids, 0, max};
    *source = CPUS_NONE;
    if (from_acpi(read, ctx, ebda, &f)) {
        *source = CPUS_MADT;
        return f.n;
    }
    f.n = 0;
    if (from_mptable(read, ctx, ebda, &f)) {
        *source = CPUS_MPTABLE;
        return f.n;
    }
    return 0;
}

unsigned cpus_find_rsdp(cpus_read_fn read, void *ctx, uint64_t rsdp, uint32_t *apic_ids,
                        unsigned max)
{
    struct found f = {apic_ids, 0, max};
    return from_rsdp(read, ctx, rsdp, &f) ? f.n : 0;
}
