/*
 * E820 map sorting and patching (see lib/e820.h).
 *
 * End addresses are computed saturating at 2^64 - 1 so that a firmware entry
 * reaching the top of the address space cannot wrap.
 */
#include "lib/e820.h"
#include <stdbool.h>

/* Returns addr + len, saturated at UINT64_MAX. */
static uint64_t e820_end(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;

    return end < addr ? UINT64_MAX : end;
}

/* Returns the new count; map is sorted by addr, zero-length entries gone. */
int e820_sort(struct e820_entry *map, int count)
{
    int n = 0;

    for (int i = 0; i < count; i++) {
        struct e820_entry e = map[i];
        int j;

        if (!e.len)
            continue;
        /* stable: move only past strictly greater addresses */
        for (j = n; j > 0 && map[j - 1].addr > e.addr; j--)
            map[j] = map[j - 1];
        map[j] = e;
        n++;
    }
    return n;
}

/* Returns the new count, or -1 (map untouched) if max would be exceeded. */
int e820_remove(struct e820_entry *map, int count, int max, uint64_t base, uint64_t len)
{
    uint64_t rend = e820_end(base, len);
    int splits = 0, n;

    if (!len)
        return e820_sort(map, count);

    /* First pass: count the splits, so failure leaves the map unchanged. */
    for (int i = 0; i < count; i++) {
        uint64_t end = e820_end(map[i].addr, map[i].len);

        if (map[i].len && map[i].addr < base && end > rend)
            splits++;
    }
    if (count + splits > max)
        return -1;

    n = count;
    for (int i = 0; i < count; i++) {
        struct e820_entry *e = &map[i];
        uint64_t end = e820_end(e->addr, e->len);

        if (!e->len || end <= base || e->addr >= rend)
            continue;
        if (e->addr < base && end > rend) {
            /* split: the tail becomes a new entry at the end */
            map[n] = *e;
            map[n].addr = rend;
            map[n].len = end - rend;
            n++;
            e->len = base - e->addr;
        } else if (e->addr < base) {
            e->len = base - e->addr; /* clip the tail */
        } else if (end > rend) {
            e->len = end - rend; /* clip the head */
            e->addr = rend;
        } else {
            e->len = 0; /* fully covered */
        }
    }
    return e820_sort(map, n);
}

/* Returns min(limit, highest RAM end address); 0 if no RAM below limit. */
uint64_t e820_ram_top_below(const struct e820_entry *map, int count, uint64_t limit)
{
    uint64_t top = 0;

    for (int i = 0; i < count; i++) {
        uint64_t end;

        if (map[i].type != E820_RAM || !map[i].len || map[i].addr >= limit)
            continue;
        end = e820_end(map[i].addr, map[i].len);
        if (end > limit)
            end = limit;
        if (end > top)
            top = end;
    }
    return top;
}

/* Returns the total length of entries of `type` (saturating). */
uint64_t e820_total(const struct e820_entry *map, int count, uint32_t type)
{
    uint64_t sum = 0;

    for (int i = 0; i < count; i++)
        if (map[i].type == type)
            sum = e820_end(sum, map[i].len);
    return sum;
}

/* Returns the highest end address over all entries. */
uint64_t e820_max_addr(const struct e820_entry *map, int count)
{
    uint64_t top = 0;

    for (int i = 0; i < count; i++) {
        uint64_t end = e820_end(map[i].addr, map[i].len);

        if (map[i].len && end > top)
            top = end;
    }
    return top;
}
