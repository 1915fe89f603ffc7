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
#include "lib/acpi.h"
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

/* An MADT that checks out and lists at least one core (an acpi_table_fn). */
static bool madt(acpi_read_fn read, void *ctx, uint64_t pa, void *arg)
{
    struct found *f = arg;
    struct acpi_sdt h;
    if (!read(ctx, pa, &h, sizeof(h)) || lib_memcmp(h.signature, "APIC", 4) ||
        h.length < ACPI_MADT_ENTRIES || h.length > MADT_MAX_LEN ||
        acpi_sum(read, ctx, pa, h.length))
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

static bool from_acpi(cpus_read_fn read, void *ctx, uint64_t ebda, struct found *f)
{
    return acpi_each_table(read, ctx, acpi_find_rsdp(read, ctx, ebda), madt, f);
}

static bool from_mptable(cpus_read_fn read, void *ctx, uint64_t ebda, struct found *f)
{
    uint64_t fp = ebda ? acpi_scan(read, ctx, ebda, ebda + 1024, "_MP_", 4, MP_FLOAT_SIZE) : 0;
    if (!fp)
        fp = acpi_scan(read, ctx, 0x9fc00, 0xa0000, "_MP_", 4, MP_FLOAT_SIZE);
    if (!fp)
        fp = acpi_scan(read, ctx, 0xf0000, 0x100000, "_MP_", 4, MP_FLOAT_SIZE);
    uint32_t cfg;
    uint8_t h[MP_CONFIG_HEADER_SIZE];
    if (!fp || !read(ctx, fp + 4, &cfg, 4) || !cfg || !read(ctx, cfg, h, sizeof(h)) ||
        lib_memcmp(h, "PCMP", 4))
        return false;
    uint32_t len = h[4] | h[5] << 8, count = h[34] | h[35] << 8;
    if (len < sizeof(h) || acpi_sum(read, ctx, cfg, len))
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
    return acpi_each_table(read, ctx, rsdp, madt, &f) ? f.n : 0;
}
