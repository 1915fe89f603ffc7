/* IA32_TSC_DEADLINE between the VM's TSC and the core's (lib/tsc_deadline.h). */
#include "lib/tsc_deadline.h"

/* t + d for a d that moves t up (up) or down, clamped to [1, ~0]; 0 stays 0. */
static uint64_t clamp(uint64_t t, uint64_t r, int up)
{
    if (!t)
        return 0;
    if (up && r < t)
        return ~0ull;
    if (!up && r > t)
        return 1;
    return r ? r : 1;
}

uint64_t tsc_deadline_to_host(uint64_t val, uint64_t off)
{
    return clamp(val, val - off, (int64_t)off < 0);
}

uint64_t tsc_deadline_to_guest(uint64_t hw, uint64_t off)
{
    return clamp(hw, hw + off, (int64_t)off > 0);
}
