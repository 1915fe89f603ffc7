/*
 * The TSC's rate, measured once against PIT channel 2 (a 10 ms one-shot in
 * mode 0) before the VM owns the PIT: Intel 8254 data sheet; the gate and
 * OUT2 are bits 0 and 5 of port 61h.
 *
 * Then the rate CPUID claims is checked against it (lib/tscfreq.h). An OS
 * that finds a rate in CPUID leaf 15h or 16h believes it and measures
 * nothing, neither the TSC nor its local APIC timer. Bochs's
 * corei7_skylake_x claims 3.5 GHz (leaf 16h) while its TSC counts at its
 * `ips` rate (100 MHz in the lab): Linux's clock then ran 35 times slow
 * under the VMM (issue 11: a `sleep 2` did not end within a minute).
 * Bochs gives that CPUID to any OS, with or without the VMM; without it
 * the same slow clock cost little wall time (Bochs skips an idle core's
 * time), while under the VMM the machine's time ran at about half of wall
 * time with the guest idle (docs/vmx.md). Where the claim is that far
 * off, the VM reads both leaves as zeros (core/cpuid.c), as a CPU that
 * enumerates neither, and the OS measures the rates itself against the
 * PIT, the HPET or the ACPI timer, as it does on every CPU before these
 * leaves. A claim within a quarter of the measurement is the CPU's word,
 * and passes as it is.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "lib/tscfreq.h"
#include "vmm/core/vcpu.h"

static void check_tsc_claim(struct vm *vm, uint64_t measured)
{
    uint32_t max[4], l15[4] = {0}, l16[4] = {0};
    cpuid_count(0, 0, max);
    if (max[0] >= 0x15)
        cpuid_count(0x15, 0, l15);
    if (max[0] >= 0x16)
        cpuid_count(0x16, 0, l16);
    uint64_t claim = tsc_claim_hz(max[0], l15, l16);
    if (!tsc_claim_wrong(claim, measured))
        return;
    vm->caps.tsc_leaves_hidden = true;
    log_printf("vmm: CPUID 15h/16h say the TSC runs at %llu MHz, it runs at %llu MHz: the VM "
               "reads both leaves as zeros and measures the rate itself\n",
               (unsigned long long)(claim / 1000000), (unsigned long long)(measured / 1000000));
}

void vm_calibrate_tsc(struct vm *vm)
{
    uint8_t p61 = inb(0x61);
    outb(0x61, (uint8_t)((p61 & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, 11932 & 0xff); /* 1193182 Hz / 100 */
    outb(0x42, 11932 >> 8);
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < 100000000u && !(inb(0x61) & 0x20); i++)
        ;
    uint64_t t1 = rdtsc();
    outb(0x61, p61);
    uint64_t hz = (t1 - t0) * 100;
    vm->tsc_hz = hz ? hz : 1000000000ull;
    check_tsc_claim(vm, hz);
}
