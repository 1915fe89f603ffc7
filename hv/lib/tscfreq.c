/* The TSC rate CPUID claims (lib/tscfreq.h). */
#include "lib/tscfreq.h"

uint64_t tsc_claim_hz(uint32_t max_leaf, const uint32_t l15[4], const uint32_t l16[4])
{
    if (max_leaf >= 0x15 && l15 && l15[0] && l15[1] && l15[2])
        return (uint64_t)l15[2] * l15[1] / l15[0];
    if (max_leaf >= 0x16 && l16 && (l16[0] & 0xffff))
        return (uint64_t)(l16[0] & 0xffff) * 1000000u;
    return 0;
}

bool tsc_claim_wrong(uint64_t claim_hz, uint64_t measured_hz)
{
    if (!claim_hz || !measured_hz)
        return false;
    uint64_t diff = claim_hz > measured_hz ? claim_hz - measured_hz : measured_hz - claim_hz;
    return diff > measured_hz / 4;
}
