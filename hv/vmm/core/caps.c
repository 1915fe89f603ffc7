/*
 * The VM's CPU capabilities (caps.h): each CR4 bit by the CPUID feature
 * that enumerates it (APM Vol.2 §3.1.3; SDM Vol.3A §2.5), each EFER bit by
 * its own (APM Vol.2 §3.1.7).
 */
#include "vmm/core/caps.h"
#include "common/cpu.h"
#include "hw/x86.h"
#include "vmm/core/vm.h"

static void cpuid_vm(struct vm *vm, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    cpuid_count(leaf, sub, r);
    vm->ops->cpuid_filter(0, leaf, sub, r);
}

void vm_probe_caps(struct vm *vm)
{
    struct cpu_caps *c = &vm->caps;
    uint32_t l1[4], l7[4] = {0}, l71[4] = {0}, e1[4] = {0}, e8[4] = {0}, max[4], emax[4];

    cpuid_vm(vm, 0, 0, max);
    cpuid_vm(vm, 1, 0, l1);
    if (max[0] >= 7) {
        cpuid_vm(vm, 7, 0, l7);
        if (l7[0] >= 1)
            cpuid_vm(vm, 7, 1, l71);
    }
    cpuid_vm(vm, 0x80000000, 0, emax);
    if (emax[0] >= 0x80000001)
        cpuid_vm(vm, 0x80000001, 0, e1);
    if (emax[0] >= 0x80000008)
        cpuid_vm(vm, 0x80000008, 0, e8);

    uint64_t cr4 = CR4_PCE | CR4_MCE; /* MCE: CPUID 1 EDX[7] on every x86-64 CPU */
    uint32_t edx = l1[3], ecx = l1[2];
    if (edx & (1u << 1))
        cr4 |= CR4_VME | CR4_PVI;
    if (edx & (1u << 2))
        cr4 |= CR4_DE;
    if (edx & (1u << 3))
        cr4 |= CR4_PSE;
    if (edx & (1u << 4))
        cr4 |= CR4_TSD;
    if (edx & (1u << 6))
        cr4 |= CR4_PAE;
    if (edx & (1u << 13))
        cr4 |= CR4_PGE;
    if (edx & (1u << 24))
        cr4 |= CR4_OSFXSR;
    if (edx & (1u << 25))
        cr4 |= CR4_OSXMMEXCPT;
    if (ecx & CPUID_1_ECX_VMX)
        cr4 |= CR4_VMXE;
    if (ecx & (1u << 6))
        cr4 |= CR4_SMXE;
    if (ecx & (1u << 17))
        cr4 |= CR4_PCIDE;
    if (ecx & CPUID_1_ECX_XSAVE)
        cr4 |= CR4_OSXSAVE;
    if (l7[1] & CPUID_7_EBX_FSGSBASE)
        cr4 |= CR4_FSGSBASE;
    if (l7[1] & CPUID_7_EBX_SMEP)
        cr4 |= CR4_SMEP;
    if (l7[1] & CPUID_7_EBX_SMAP)
        cr4 |= CR4_SMAP;
    if (l7[2] & CPUID_7_ECX_UMIP)
        cr4 |= CR4_UMIP;
    if (l7[2] & CPUID_7_ECX_PKU)
        cr4 |= CR4_PKE;
    if (l7[2] & CPUID_7_ECX_LA57)
        cr4 |= CR4_LA57;
    if (l7[2] & (1u << 23))
        cr4 |= CR4_KL;
    if ((l7[2] & CPUID_7_ECX_CET_SS) || (l7[3] & CPUID_7_EDX_CET_IBT))
        cr4 |= CR4_CET;
    if (l7[2] & CPUID_7_ECX_PKS)
        cr4 |= CR4_PKS;
    if (l71[0] & CPUID_7_1_EAX_LAM)
        cr4 |= CR4_LAM_SUP;
    c->cr4_allowed = cr4;

    uint64_t efer = 0;
    c->long_mode = e1[3] & CPUID_80000001_EDX_LM;
    c->page1gb = e1[3] & CPUID_80000001_EDX_PAGE1GB;
    if (e1[3] & CPUID_80000001_EDX_SYSCALL)
        efer |= EFER_SCE;
    if (c->long_mode)
        efer |= EFER_LME;
    if (e1[3] & CPUID_80000001_EDX_NX)
        efer |= EFER_NXE;
    if (e1[2] & CPUID_80000001_ECX_SVM)
        efer |= EFER_SVME;
    if (e1[3] & CPUID_80000001_EDX_FFXSR)
        efer |= EFER_FFXSR;
    if (e1[2] & CPUID_80000001_ECX_TCE)
        efer |= EFER_TCE;
    /* LMSLE is not offered: gone from current AMD CPUs (CPUID 8000_0008
     * EBX[20]) and from QEMU's, whose VMRUN refuses it. */
    c->efer_allowed = efer;
    /* MCOMMIT, INTWB (8000_0008 EBX[8], [9]); UAIE, AIBRSE (8000_0021 EAX[7], [21]). */
    uint32_t e21[4] = {0};
    if (emax[0] >= 0x80000021)
        cpuid_vm(vm, 0x80000021, 0, e21);
    c->efer_ignored = ((e8[1] >> 8) & 1 ? 1ull << 17 : 0) | ((e8[1] >> 9) & 1 ? 1ull << 18 : 0) |
                      ((e21[0] >> 7) & 1 ? 1ull << 20 : 0) | ((e21[0] >> 21) & 1 ? 1ull << 21 : 0);
    c->maxphyaddr = (emax[0] >= 0x80000008 && (e8[0] & 0xff)) ? e8[0] & 0xff : 36;
}
