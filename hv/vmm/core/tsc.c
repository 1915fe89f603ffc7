/*
 * The TSC's rate, measured once against PIT channel 2 (a 10 ms one-shot in
 * mode 0) before the VM owns the PIT: Intel 8254 data sheet; the gate and
 * OUT2 are bits 0 and 5 of port 61h.
 */
#include "common/cpu.h"
#include "vmm/core/vcpu.h"

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
}
