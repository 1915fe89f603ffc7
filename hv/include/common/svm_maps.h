/*
 * Setting bits in the SVM permission maps.
 * IOPM: one bit per port, 12 KiB (AMD APM Vol.2 §15.10.1).
 * MSRPM: two bits per MSR (read, then write), 8 KiB in three 2 KiB ranges:
 * 0000_0000-0000_1FFF, C000_0000-C000_1FFF, C001_0000-C001_1FFF (§15.11).
 */
#ifndef COMMON_SVM_MAPS_H
#define COMMON_SVM_MAPS_H

#include <stdbool.h>
#include <stdint.h>

static inline void iopm_set(uint8_t *iopm, uint32_t port, uint32_t count, bool on)
{
    for (uint32_t p = port; p < port + count && p < 0x10000; p++) {
        if (on)
            iopm[p / 8] |= (uint8_t)(1u << (p % 8));
        else
            iopm[p / 8] &= (uint8_t) ~(1u << (p % 8));
    }
}

/* Returns 0, or -1 if msr is outside the three ranges the map covers. */
static inline int msrpm_set(uint8_t *msrpm, uint32_t msr, bool read, bool write)
{
    uint32_t base;
    if (msr <= 0x1fff)
        base = 0;
    else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
        base = 0x800 * 8, msr -= 0xc0000000;
    else if (msr >= 0xc0010000 && msr <= 0xc0011fff)
        base = 0x1000 * 8, msr -= 0xc0010000;
    else
        return -1;
    uint32_t bit = base + msr * 2;
    msrpm[bit / 8] = (uint8_t)((msrpm[bit / 8] & ~(3u << (bit % 8))) |
                               ((read ? 1u : 0u) << (bit % 8)) | ((write ? 2u : 0u) << (bit % 8)));
    return 0;
}

#endif
