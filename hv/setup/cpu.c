/* CPU checks: an AMD CPU with SVM enabled and nested paging. */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "setup/setup.h"

uint32_t setup_check_cpu(void)
{
    uint32_t r[4], features = 0;

    cpuid_count(0, 0, r);
    /* "AuthenticAMD" in EBX, EDX, ECX */
    if (r[1] != 0x68747541 || r[3] != 0x69746e65 || r[2] != 0x444d4163)
        setup_fail("not an AMD CPU: this hypervisor needs AMD-V (SVM)");
    cpuid_count(0x80000000, 0, r);
    if (r[0] < 0x8000000a)
        setup_fail("CPU has no SVM feature leaf (CPUID 8000_000A)");
    cpuid_count(0x80000001, 0, r);
    if (!(r[2] & CPUID_80000001_ECX_SVM))
        setup_fail("CPU has no SVM (CPUID 8000_0001 ECX.SVM); under QEMU use -cpu ...,+svm");
    if (r[3] & CPUID_80000001_EDX_PAGE1GB)
        features |= BOOT_CPU_PAGE1GB;
    /* APM Vol.2 §15.4 "Enabling SVM": VM_CR.SVMDIS set means SVM is locked off */
    if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS)
        setup_fail("SVM is disabled by the firmware (VM_CR.SVMDIS); enable it in the BIOS setup");
    cpuid_count(0x8000000a, 0, r);
    if (!(r[3] & CPUID_8000000A_EDX_NP))
        setup_fail("CPU has no nested paging (CPUID 8000_000A EDX.NP); under QEMU add +npt");
    if (r[3] & CPUID_8000000A_EDX_NRIPS)
        features |= BOOT_CPU_NRIPS;
    log_printf("setup: AMD CPU, SVM revision %u, %u ASIDs, NPT%s%s\n", r[0] & 0xff, r[1],
               (features & BOOT_CPU_NRIPS) ? ", NRIPS" : "",
               (features & BOOT_CPU_PAGE1GB) ? ", 1 GiB pages" : "");
    return features;
}
