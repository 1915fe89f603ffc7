/*
 * CPU checks, and the backend they choose: an AMD CPU with SVM enabled and
 * nested paging (the svm backend), or an Intel CPU with VMX, EPT and
 * unrestricted guest (the vmx backend). Anything missing is refused with
 * the feature's name.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/vmcs.h"
#include "hw/x86.h"
#include "setup/setup.h"

/* CPUID 0's vendor string, in EBX, EDX, ECX */
static bool vendor_is(const uint32_t r[4], const char *v)
{
    const uint32_t *w = (const uint32_t *)v;
    return r[1] == w[0] && r[3] == w[1] && r[2] == w[2];
}

static uint32_t check_amd(void)
{
    uint32_t r[4], features = 0;

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

/* The allowed-1 settings of a VMX control: the high half of its
 * capability MSR (SDM Vol.3D Appendix A.3-A.5). */
static uint32_t allowed1(uint32_t msr) { return (uint32_t)(rdmsr(msr) >> 32); }

/*
 * SDM Vol.3C §23.6 "Discovering Support for VMX" (CPUID.1:ECX.VMX[bit 5]),
 * §23.7 (IA32_FEATURE_CONTROL: once locked, VMXON outside SMX needs bit
 * 2), §25.6.2 and Appendix A.3.3 (EPT and unrestricted guest are
 * secondary controls, which need primary control bit 31).
 */
static uint32_t check_intel(void)
{
    uint32_t r[4], features = BOOT_CPU_VMX;

    cpuid_count(1, 0, r);
    if (!(r[2] & CPUID_1_ECX_VMX))
        setup_fail("CPU has no VMX (CPUID.1:ECX.VMX[bit 5]): enable Intel VT-x in the BIOS setup");
    uint64_t fc = rdmsr(MSR_IA32_FEAT_CTL);
    if ((fc & FEAT_CTL_LOCKED) && !(fc & FEAT_CTL_VMX_OUTSIDE_SMX))
        setup_fail("VMX is disabled by the firmware (IA32_FEATURE_CONTROL locked without "
                   "VMX outside SMX); enable Intel VT-x in the BIOS setup");
    cpuid_count(0x80000001, 0, r);
    if (r[3] & CPUID_80000001_EDX_PAGE1GB)
        features |= BOOT_CPU_PAGE1GB;
    if (!(allowed1(MSR_IA32_VMX_PROCBASED_CTLS) & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS))
        setup_fail("CPU has no VMX secondary controls, so no EPT: this hypervisor needs EPT "
                   "and unrestricted guest (Westmere or later)");
    uint32_t ctls2 = allowed1(MSR_IA32_VMX_PROCBASED_CTLS2);
    if (!(ctls2 & SECONDARY_EXEC_ENABLE_EPT))
        setup_fail("CPU has no EPT (IA32_VMX_PROCBASED_CTLS2): this hypervisor needs EPT and "
                   "unrestricted guest (Westmere or later)");
    if (!(ctls2 & SECONDARY_EXEC_UNRESTRICTED_GUEST))
        setup_fail("CPU has no unrestricted guest (IA32_VMX_PROCBASED_CTLS2): this hypervisor "
                   "needs EPT and unrestricted guest (Westmere or later)");
    uint64_t ept = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
    if (!(ept & VMX_EPT_PAGE_WALK_4_BIT) || !(ept & VMX_EPTP_WB_BIT))
        setup_fail("CPU's EPT has no 4-level walk or no write-back EPT pointer "
                   "(IA32_VMX_EPT_VPID_CAP)");
    if (ept & VMX_EPT_2MB_PAGE_BIT)
        features |= BOOT_CPU_EPT_2M;
    if (ept & VMX_EPT_1GB_PAGE_BIT)
        features |= BOOT_CPU_EPT_1G;
    uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
    bool vpid = ctls2 & SECONDARY_EXEC_ENABLE_VPID;
    bool timer = allowed1(basic & VMX_BASIC_TRUE_CTLS ? MSR_IA32_VMX_TRUE_PINBASED_CTLS
                                                      : MSR_IA32_VMX_PINBASED_CTLS) &
                 PIN_BASED_VMX_PREEMPTION_TIMER;
    log_printf("setup: Intel CPU, VMX revision %u, EPT%s%s, unrestricted guest%s%s%s\n",
               (unsigned)(basic & VMX_BASIC_REVISION_MASK),
               (features & BOOT_CPU_EPT_2M) ? " 2M" : "", (features & BOOT_CPU_EPT_1G) ? " 1G" : "",
               vpid ? ", VPID" : "", timer ? ", preemption timer" : "",
               (features & BOOT_CPU_PAGE1GB) ? ", 1 GiB pages" : "");
    return features;
}

uint32_t setup_check_cpu(void)
{
    uint32_t r[4];

    cpuid_count(0, 0, r);
    if (vendor_is(r, "AuthenticAMD"))
        return check_amd();
    if (vendor_is(r, "GenuineIntel"))
        return check_intel();
    setup_fail("neither an AMD nor an Intel CPU: this hypervisor needs AMD-V (SVM) or Intel "
               "VT-x (VMX)");
}
