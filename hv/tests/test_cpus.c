/* Unit tests for lib/cpus.c: the cores from crafted ACPI and MP tables in a
 * 1 MiB + 64 KiB host buffer standing for physical memory. */
#include "acpi_mem.h"
#include "check.h"
#include "lib/cpus.h"
#include <stdlib.h>
#include <string.h>

/* A MADT at 0x100000 with: cpu 0 enabled, cpu 2 disabled, cpu 5 online
 * capable, cpu 0 again (a duplicate), an I/O APIC entry, x2APIC 300. */
static uint32_t madt(void)
{
    uint64_t pa = 0x100000;
    uint32_t off = ACPI_MADT_ENTRIES;
    uint8_t lapic[][8] = {{0, 8, 0, 0, 1, 0, 0, 0},
                          {0, 8, 1, 2, 0, 0, 0, 0},
                          {0, 8, 2, 5, 2, 0, 0, 0},
                          {0, 8, 3, 0, 1, 0, 0, 0}};
    uint8_t ioapic[12] = {1, 12, 9, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0};
    uint8_t x2[16] = {9, 16, 0, 0, 0x2c, 1, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0};
    for (unsigned i = 0; i < 4; i++, off += 8)
        memcpy(mem + pa + off, lapic[i], 8);
    memcpy(mem + pa + off, ioapic, 12);
    off += 12;
    memcpy(mem + pa + off, x2, 16);
    off += 16;
    sdt(pa, "APIC", off);
    fix_sum(pa, off, 9);
    return off;
}

static void rsdp(uint64_t pa, uint8_t rev, uint32_t rsdt, uint64_t xsdt)
{
    struct acpi_rsdp r = {0};
    memcpy(r.signature, "RSD PTR ", 8);
    r.revision = rev;
    r.rsdt = rsdt;
    r.length = sizeof(r);
    r.xsdt = xsdt;
    memcpy(mem + pa, &r, sizeof(r));
    fix_sum(pa, 20, 8);
    fix_sum(pa, sizeof(r), 32);
}

static void rsdt_at(uint64_t pa, uint32_t entry)
{
    sdt(pa, "RSDT", 40);
    memcpy(mem + pa + 36, &entry, 4);
    fix_sum(pa, 40, 9);
}

static void xsdt_at(uint64_t pa, uint64_t entry)
{
    sdt(pa, "XSDT", 44);
    memcpy(mem + pa + 36, &entry, 8);
    fix_sum(pa, 44, 9);
}

static void mptable(uint64_t fp, uint64_t cfg)
{
    memcpy(mem + fp, "_MP_", 4);
    uint32_t c = (uint32_t)cfg;
    memcpy(mem + fp + 4, &c, 4);
    mem[fp + 8] = 1;
    fix_sum(fp, 16, 10);
    uint8_t *h = mem + cfg;
    memcpy(h, "PCMP", 4);
    uint32_t off = MP_CONFIG_HEADER_SIZE;
    uint8_t procs[3][20] = {{0, 0, 0x14, MP_PROC_ENABLED | MP_PROC_BSP},
                            {0, 1, 0x14, 0},
                            {0, 3, 0x14, MP_PROC_ENABLED}};
    uint8_t bus[8] = {1, 0, 'I', 'S', 'A', ' ', ' ', ' '};
    memcpy(h + off, procs[0], 20), off += 20;
    memcpy(h + off, bus, 8), off += 8;
    memcpy(h + off, procs[1], 20), off += 20;
    memcpy(h + off, procs[2], 20), off += 20;
    h[4] = (uint8_t)off, h[5] = (uint8_t)(off >> 8);
    h[34] = 4;
    fix_sum(cfg, off, 7);
}

static void expect(const char *name, uint64_t ebda, const uint32_t *want, unsigned nwant,
                   enum cpus_source src)
{
    uint32_t ids[16];
    enum cpus_source got_src;
    unsigned n = cpus_find(rd, NULL, ebda, ids, 16, &got_src);
    bool same = n == nwant && got_src == src;
    for (unsigned i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK(same, "%s: %u cpus (source %d), first %u; want %u (source %d)", name, n, got_src,
          n ? ids[0] : 0, nwant, src);
}

int main(void)
{
    static const uint32_t madt_ids[] = {0, 5, 300}, mp_ids[] = {0, 3};
    mem = calloc(1, MEM);

    madt();
    xsdt_at(0x101000, 0x100000);
    rsdp(0xf5a30, 2, 0, 0x101000);
    expect("XSDT -> MADT", 0, madt_ids, 3, CPUS_MADT);

    memset(mem, 0, MEM);
    madt();
    rsdt_at(0x101000, 0x100000);
    rsdp(0xe0010, 0, 0x101000, 0);
    expect("ACPI 1.0: RSDT -> MADT", 0, madt_ids, 3, CPUS_MADT);

    memset(mem, 0, MEM);
    madt();
    rsdt_at(0x101000, 0x100000);
    rsdp(0x9fc40, 0, 0x101000, 0);
    expect("the RSDP in the EBDA", 0x9fc00, madt_ids, 3, CPUS_MADT);
    expect("the EBDA not given: not found", 0, 0, 0, CPUS_NONE);

    memset(mem, 0, MEM);
    madt();
    mem[0x100000 + 50] ^= 1; /* the MADT's checksum breaks */
    rsdt_at(0x101000, 0x100000);
    rsdp(0xe0010, 0, 0x101000, 0);
    mptable(0xf0100, 0x9f000);
    expect("a bad MADT falls back to the MP table", 0, mp_ids, 2, CPUS_MPTABLE);

    memset(mem, 0, MEM);
    mptable(0xf0100, 0x9f000);
    mem[0x9f000 + 60] ^= 1; /* and a bad MP table too */
    expect("nothing that checks out", 0, 0, 0, CPUS_NONE);

    memset(mem, 0, MEM);
    madt();
    xsdt_at(0x101000, 0x100000);
    rsdp(0xf5a30, 2, 0, 0x101000);
    mem[0x100000 + 4] = 0xff, mem[0x100000 + 5] = 0xff, mem[0x100000 + 6] = 0xff; /* length */
    expect("a MADT that claims 16 MB is refused", 0, 0, 0, CPUS_NONE);

    /* UEFI: the RSDP from the configuration table, anywhere in memory. */
    memset(mem, 0, MEM);
    madt();
    xsdt_at(0x101000, 0x100000);
    rsdp(0x102000, 2, 0, 0x101000);
    uint32_t ids[16];
    unsigned n = cpus_find_rsdp(rd, NULL, 0x102000, ids, 16);
    CHECK(n == 3 && ids[0] == 0 && ids[1] == 5 && ids[2] == 300, "RSDP given: %u cpus", n);
    CHECK(cpus_find_rsdp(rd, NULL, 0x102010, ids, 16) == 0, "no RSDP at the address given");
    mem[0x102000 + 9] ^= 1; /* the RSDP's checksum breaks */
    CHECK(cpus_find_rsdp(rd, NULL, 0x102000, ids, 16) == 0, "a bad RSDP is refused");

    free(mem);
    return check_report();
}
