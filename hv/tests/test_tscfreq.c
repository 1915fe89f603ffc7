/* The TSC rate CPUID claims, against the measured one (lib/tscfreq.c). */
#include "check.h"
#include "lib/tscfreq.h"

int main(void)
{
    static const struct {
        const char *what;
        uint32_t max, l15[4], l16[4];
        uint64_t claim;
    } claims[] = {
        {"no leaf 15h (an AMD CPU, QEMU's EPYC)", 0xd, {2, 200, 25000000, 0}, {3500, 0, 0, 0}, 0},
        {"crystal enumerated: ECX * EBX / EAX",
         0x16,
         {2, 200, 24000000, 0},
         {2400, 0, 0, 0},
         2400000000ull},
        {"crystal not enumerated: leaf 16h's base MHz",
         0x16,
         {2, 280, 0, 0},
         {3500, 3500, 100, 0},
         3500000000ull},
        {"leaf 16h's reserved high half ignored",
         0x16,
         {0, 0, 0, 0},
         {0xabcd0000u | 3500, 0, 0, 0},
         3500000000ull},
        {"no ratio, leaf 16h above the maximum leaf", 0x15, {0, 0, 0, 0}, {3500, 0, 0, 0}, 0},
        {"neither leaf says anything", 0x16, {0, 0, 0, 0}, {0, 0, 0, 0}, 0},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(claims); i++) {
        uint64_t got = tsc_claim_hz(claims[i].max, claims[i].l15, claims[i].l16);
        CHECK(got == claims[i].claim, "%s: %llu, not %llu", claims[i].what, (unsigned long long)got,
              (unsigned long long)claims[i].claim);
    }

    static const struct {
        uint64_t claim, measured;
        bool wrong;
    } rates[] = {
        {3500000000ull, 100000000ull, true},   /* Bochs's corei7_skylake_x at ips=100000000 */
        {2400000000ull, 2397000000ull, false}, /* a real CPU, measured against the PIT */
        {2400000000ull, 2000000000ull, false}, /* a noisy measurement: still the CPU's word */
        {2400000000ull, 1800000000ull, true},
        {100000000ull, 3500000000ull, true},
        {0, 100000000ull, false},  /* no claim */
        {3500000000ull, 0, false}, /* no measurement */
    };
    for (unsigned i = 0; i < ARRAY_SIZE(rates); i++)
        CHECK(tsc_claim_wrong(rates[i].claim, rates[i].measured) == rates[i].wrong,
              "claim %llu measured %llu", (unsigned long long)rates[i].claim,
              (unsigned long long)rates[i].measured);
    return check_report();
}
