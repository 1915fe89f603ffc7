/*
 * The VMM's own side of each core: its GDT, TSS and exception stacks, the
 * per-core pointer this_vcpu() reads, and the MSR accesses that survive a
 * #GP (vmm/host.c, vmm/entry.S).
 */
#ifndef VMM_HOST_H
#define VMM_HOST_H

#include <stdint.h>

#include "vmm/core/vm.h"

/* Gives the core its GDT and TSS (with stacks for NMI, #DF and #MC), the
 * shared IDT, and a GS base that makes this_vcpu() return v. */
void host_cpu_init(struct vcpu *v);
/* Builds the IDT every core shares. */
void host_idt_init(struct boot_info *info);

/* entry.S: MSR accesses that survive a #GP. Return 0, or -1 if it faulted. */
int safe_rdmsr(uint32_t msr, uint64_t *val);
int safe_wrmsr(uint32_t msr, uint64_t val);

#endif
