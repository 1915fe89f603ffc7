/*
 * What the VM's CPU offers, probed once from CPUID: the control-register
 * and EFER bits a write may set (every other bit is reserved and the CPU
 * raises #GP for it), and the physical address width. The VM's CPUID is
 * the host's minus what the backend hides, so these masks are computed
 * from that same view.
 */
#ifndef VMM_CORE_CAPS_H
#define VMM_CORE_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct cpu_caps {
    uint64_t cr4_allowed;  /* CR4 bits the CPU has */
    uint64_t efer_allowed; /* EFER bits a WRMSR may set (LMA is read-only) */
    uint64_t efer_ignored; /* bits of features the CPU claims that the VMM does not model:
                            * a write may set them, and they are dropped (as QEMU does) */
    unsigned maxphyaddr;   /* CPUID 8000_0008 EAX[7:0] */
    bool long_mode;
    bool page1gb;
    bool tsc_leaves_hidden; /* CPUID 15h and 16h read as zeros: their TSC rate is wrong (tsc.c) */
};

struct vm;
/* Fills vm->caps from CPUID as the VM sees it (after the backend's filter). */
void vm_probe_caps(struct vm *vm);

#endif
