/* Unit tests for lib/acpi.c: the MCFG's ECAM window from crafted tables in
 * a 1 MiB + 64 KiB host buffer standing for physical memory. (lib/cpus.c's
 * tests walk the same RSDP and table lists to the MADT.) */
#include "acpi_mem.h"
#include "check.h"
#include "lib/acpi.h"
#include <stdlib.h>
#include <string.h>

/* An RSDP (ACPI 2.0) at 0xf5a30 whose XSDT at 0x101000 lists the tables at
 * t[0..n). */
static uint64_t tables(const uint64_t *t, unsigned n)
{
    uint32_t len = 36 + 8 * n;
    sdt(0x101000, "XSDT", len);
    memcpy(mem + 0x101000 + 36, t, 8 * n);
    fix_sum(0x101000, len, 9);
    struct acpi_rsdp r = {0};
    memcpy(r.signature, "RSD PTR ", 8);
    r.revision = 2;
    r.length = sizeof(r);
    r.xsdt = 0x101000;
    memcpy(mem + 0xf5a30, &r, sizeof(r));
    fix_sum(0xf5a30, 20, 8);
    fix_sum(0xf5a30, sizeof(r), 32);
    return 0xf5a30;
}

/* An MCFG at pa with the windows w[0..n). */
static void mcfg(uint64_t pa, const struct acpi_mcfg_alloc *w, unsigned n)
{
    uint32_t len = ACPI_MCFG_ENTRIES + 16 * n;
    sdt(pa, "MCFG", len);
    memset(mem + pa + 36, 0, 8);
    memcpy(mem + pa + ACPI_MCFG_ENTRIES, w, 16 * n);
    fix_sum(pa, len, 9);
}

int main(void)
{
    mem = calloc(1, MEM);
    struct acpi_ecam e;

    /* QEMU q35: one window, segment 0, buses 0-255 at 0xb0000000. */
    static const struct acpi_mcfg_alloc q35[] = {{0xb0000000, 0, 0, 255, 0}};
    uint64_t t[] = {0x100000, 0x100400};
    sdt(0x100000, "APIC", 44);
    fix_sum(0x100000, 44, 9);
    mcfg(0x100400, q35, 1);
    uint64_t rsdp = tables(t, 2);
    CHECK(acpi_find_rsdp(rd, NULL, 0) == rsdp, "the RSDP in E0000h-FFFFFh");
    CHECK(acpi_find_ecam(rd, NULL, rsdp, &e), "q35's MCFG");
    CHECK(e.base == 0xb0000000 && e.bus_start == 0 && e.bus_end == 255, "base %llx buses %u-%u",
          (unsigned long long)e.base, e.bus_start, e.bus_end);

    /* Segment 0's window is taken, wherever it is listed. */
    static const struct acpi_mcfg_alloc two[] = {{0xe0000000, 1, 0, 63, 0},
                                                 {0x80000000, 0, 0, 15, 0}};
    mcfg(0x100400, two, 2);
    CHECK(acpi_find_ecam(rd, NULL, rsdp, &e) && e.base == 0x80000000 && e.bus_end == 15,
          "segment 0 of two: base %llx", (unsigned long long)e.base);

    static const struct {
        const char *why;
        struct acpi_mcfg_alloc w;
    } bad[] = {
        {"no segment-0 window", {0xb0000000, 2, 0, 255, 0}},
        {"a base not on 1 MiB", {0xb0001000, 0, 0, 255, 0}},
        {"a base of 0", {0, 0, 0, 255, 0}},
        {"buses backwards", {0xb0000000, 0, 8, 7, 0}},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        mcfg(0x100400, &bad[i].w, 1);
        e = (struct acpi_ecam){1, 2, 3};
        CHECK(!acpi_find_ecam(rd, NULL, rsdp, &e) && e.base == 1, "%s is refused", bad[i].why);
    }

    mcfg(0x100400, q35, 1);
    mem[0x100400 + 50] ^= 1; /* the MCFG's checksum breaks */
    CHECK(!acpi_find_ecam(rd, NULL, rsdp, &e), "a bad checksum is refused");

    uint64_t no_mcfg[] = {0x100000};
    rsdp = tables(no_mcfg, 1);
    CHECK(!acpi_find_ecam(rd, NULL, rsdp, &e), "no MCFG (QEMU pc)");
    CHECK(!acpi_find_ecam(rd, NULL, 0, &e), "no RSDP");

    free(mem);
    return check_report();
}
