/* IA32_TSC_DEADLINE between the VM's TSC and the core's (lib/tsc_deadline.c). */
#include "check.h"
#include "lib/tsc_deadline.h"

#define S(x) ((uint64_t)(x)) /* a signed offset as the VMCB/VMCS holds it */

int main(void)
{
    static const struct {
        const char *what;
        uint64_t val, off, host;
    } rows[] = {
        {"disarmed stays disarmed", 0, S(-300000000), 0},
        {"a 3 s stop taken off at 100 MHz: 3 s later", 1000000000, S(-300000000), 1300000000},
        {"no offset", 1234, 0, 1234},
        {"an offset above zero", 1000, 400, 600},
        {"carried above the top: the farthest deadline", ~0ull - 5, S(-10), ~0ull},
        {"carried below zero: at once", 100, 400, 1},
        {"carried onto 0, which would disarm: at once", 400, 400, 1},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(rows); i++) {
        uint64_t h = tsc_deadline_to_host(rows[i].val, rows[i].off);
        CHECK(h == rows[i].host, "%s: 0x%llx, not 0x%llx", rows[i].what, (unsigned long long)h,
              (unsigned long long)rows[i].host);
        if (rows[i].host > 1 && rows[i].host != ~0ull)
            CHECK(tsc_deadline_to_guest(h, rows[i].off) == rows[i].val, "%s: back to the VM's",
                  rows[i].what);
    }
    CHECK(tsc_deadline_to_guest(0, S(-5)) == 0, "a fired deadline reads 0");
    CHECK(tsc_deadline_to_guest(3, S(-5)) == 1, "below the VM's zero: passed");
    CHECK(tsc_deadline_to_guest(~0ull - 1, 5) == ~0ull, "above the VM's top: the farthest");
    return check_report();
}
