/*
 * The firmware's ACPI tables (lib/acpi.h): ACPI 6.4 §5.2.5 (the RSDP),
 * §5.2.6-5.2.8 (the table header, RSDT, XSDT); PCI Firmware Specification
 * 3.0 §4.1.2 (the MCFG).
 */
#include "lib/acpi.h"
#include "hw/acpi.h"
#include "lib/mem.h"

#define TABLE_MAX_LEN (1u << 20)

int acpi_sum(acpi_read_fn read, void *ctx, uint64_t pa, uint32_t len)
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

uint64_t acpi_scan(acpi_read_fn read, void *ctx, uint64_t from, uint64_t to, const char *sig,
                   uint32_t siglen, uint32_t len)
{
    for (uint64_t pa = from; pa + len <= to; pa += 16) {
        char head[8];
        if (!read(ctx, pa, head, siglen) || lib_memcmp(head, sig, siglen))
            continue;
        if (acpi_sum(read, ctx, pa, len) == 0)
            return pa;
    }
    return 0;
}

uint64_t acpi_find_rsdp(acpi_read_fn read, void *ctx, uint64_t ebda)
{
    uint64_t rsdp = ebda ? acpi_scan(read, ctx, ebda, ebda + 1024, "RSD PTR ", 8, 20) : 0;
    return rsdp ? rsdp : acpi_scan(read, ctx, 0xe0000, 0x100000, "RSD PTR ", 8, 20);
}

bool acpi_each_table(acpi_read_fn read, void *ctx, uint64_t rsdp_pa, acpi_table_fn fn, void *arg)
{
    struct acpi_rsdp rsdp;
    char sig[8];
    if (!rsdp_pa || !read(ctx, rsdp_pa, sig, 8) || lib_memcmp(sig, "RSD PTR ", 8) ||
        acpi_sum(read, ctx, rsdp_pa, 20) || !read(ctx, rsdp_pa, &rsdp, sizeof(rsdp)))
        return false;
    bool x = rsdp.revision >= 2 && rsdp.xsdt && rsdp.length >= sizeof(rsdp) &&
             acpi_sum(read, ctx, rsdp_pa, sizeof(rsdp)) == 0;
    uint64_t sdt = x ? rsdp.xsdt : rsdp.rsdt;
    unsigned width = x ? 8 : 4;
    struct acpi_sdt h;
    if (!read(ctx, sdt, &h, sizeof(h)) || lib_memcmp(h.signature, x ? "XSDT" : "RSDT", 4) ||
        h.length < sizeof(h) || h.length > TABLE_MAX_LEN || acpi_sum(read, ctx, sdt, h.length))
        return false;
    for (uint32_t off = sizeof(h); off + width <= h.length; off += width) {
        uint64_t entry = 0;
        if (!read(ctx, sdt + off, &entry, width))
            return false;
        if (fn(read, ctx, entry, arg))
            return true;
    }
    return false;
}

/* An MCFG that checks out, and its segment-0 window (the first). */
static bool mcfg(acpi_read_fn read, void *ctx, uint64_t pa, void *arg)
{
    struct acpi_sdt h;
    if (!read(ctx, pa, &h, sizeof(h)) || lib_memcmp(h.signature, "MCFG", 4) ||
        h.length < ACPI_MCFG_ENTRIES || h.length > TABLE_MAX_LEN ||
        acpi_sum(read, ctx, pa, h.length))
        return false;
    for (uint32_t off = ACPI_MCFG_ENTRIES; off + sizeof(struct acpi_mcfg_alloc) <= h.length;
         off += sizeof(struct acpi_mcfg_alloc)) {
        struct acpi_mcfg_alloc a;
        if (!read(ctx, pa + off, &a, sizeof(a)))
            return false;
        if (a.segment == 0 && a.base && !(a.base & 0xfffff) && a.bus_start <= a.bus_end) {
            *(struct acpi_ecam *)arg = (struct acpi_ecam){a.base, a.bus_start, a.bus_end};
            return true;
        }
    }
    return false;
}

bool acpi_find_ecam(acpi_read_fn read, void *ctx, uint64_t rsdp, struct acpi_ecam *out)
{
    struct acpi_ecam e;
    if (!acpi_each_table(read, ctx, rsdp, mcfg, &e))
        return false;
    *out = e;
    return true;
}
