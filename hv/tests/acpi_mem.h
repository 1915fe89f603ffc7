/* For the tests of the ACPI walkers (lib/acpi.c, lib/cpus.c): a 1 MiB +
 * 64 KiB host buffer standing for physical memory, its reader, and the
 * helpers that lay tables out in it (ACPI 6.5 §5.2.6, the table header,
 * whose bytes sum to zero). */
#ifndef TESTS_ACPI_MEM_H
#define TESTS_ACPI_MEM_H

#include "hw/acpi.h"
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define MEM 0x110000
static uint8_t *mem;

static bool rd(void *ctx, uint64_t pa, void *buf, uint32_t len)
{
    (void)ctx;
    if (pa + len > MEM)
        return false;
    memcpy(buf, mem + pa, len);
    return true;
}

static void fix_sum(uint64_t pa, uint32_t len, uint32_t at)
{
    uint8_t s = 0;
    mem[pa + at] = 0;
    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + mem[pa + i]);
    mem[pa + at] = (uint8_t)-s;
}

static void sdt(uint64_t pa, const char *sig, uint32_t len)
{
    struct acpi_sdt h = {0};
    memcpy(h.signature, sig, 4);
    h.length = len;
    h.revision = 1;
    memcpy(mem + pa, &h, sizeof(h));
}

#endif
