/* What the CPU says it has (CPUID; AMD APM Vol.3 Appendix E, Intel SDM Vol.2A CPUID). */
#include "tk.h"

struct cpu_features cpu;

void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

void cpu_probe(void)
{
    uint32_t r[4];
    tk_memset(&cpu, 0, sizeof(cpu));
    cpuid_count(0, 0, r);
    cpu.max_leaf = r[0];
    tk_memcpy(cpu.vendor, &r[1], 4);
    tk_memcpy(cpu.vendor + 4, &r[3], 4);
    tk_memcpy(cpu.vendor + 8, &r[2], 4);
    cpuid_count(1, 0, r);
    cpu.l1_eax = r[0];
    cpu.l1_ecx = r[2];
    cpu.l1_edx = r[3];
    if (cpu.max_leaf >= 7) {
        cpuid_count(7, 0, r);
        cpu.l7_ebx = r[1];
        cpu.l7_ecx = r[2];
        cpu.l7_edx = r[3];
        if (r[0] >= 1) {
            cpuid_count(7, 1, r);
            cpu.l71_eax = r[0];
        }
    }
    cpuid_count(0x80000000, 0, r);
    cpu.max_ext = r[0];
    if (cpu.max_ext >= 0x80000001) {
        cpuid_count(0x80000001, 0, r);
        cpu.e1_ecx = r[2];
        cpu.e1_edx = r[3];
    }
    cpu.maxphys = 36;
    cpu.maxvirt = 32;
    if (cpu.max_ext >= 0x80000008) {
        cpuid_count(0x80000008, 0, r);
        cpu.maxphys = r[0] & 0xff;
        cpu.maxvirt = (r[0] >> 8) & 0xff;
        cpu.e8_ebx = r[1];
    }
    if (cpu.max_ext >= 0x80000021) {
        cpuid_count(0x80000021, 0, r);
        cpu.e21_eax = r[0];
    }
}

#define BIT(word, n) (((word) >> (n)) & 1)

/*
 * Whether the CPU has the feature that CR4 bit `bit` enables. A CR4 bit
 * whose feature CPUID does not report is reserved, and setting it raises
 * #GP(0) (AMD APM Vol.2 §3.1.3; Intel SDM Vol.3A §2.5 and §2.6). The
 * CPUID bit for each is in the APM's CR4 field descriptions and the SDM's
 * Table 2-x "CPUID feature flags" of the same sections.
 */
bool cr4_bit_known(unsigned bit)
{
    switch (bit) {
    case 0: /* VME */
    case 1: /* PVI */
        return BIT(cpu.l1_edx, 1);
    case 2: /* TSD */
        return BIT(cpu.l1_edx, 4);
    case 3: /* DE */
        return BIT(cpu.l1_edx, 2);
    case 4: /* PSE */
        return BIT(cpu.l1_edx, 3);
    case 5: /* PAE */
        return BIT(cpu.l1_edx, 6);
    case 6: /* MCE */
        return BIT(cpu.l1_edx, 7);
    case 7: /* PGE */
        return BIT(cpu.l1_edx, 13);
    case 8: /* PCE */
        return true;
    case 9: /* OSFXSR */
        return BIT(cpu.l1_edx, 24);
    case 10: /* OSXMMEXCPT */
        return BIT(cpu.l1_edx, 25);
    case 11: /* UMIP */
        return BIT(cpu.l7_ecx, 2);
    case 12: /* LA57 */
        return BIT(cpu.l7_ecx, 16);
    case 13: /* VMXE */
        return BIT(cpu.l1_ecx, 5);
    case 14: /* SMXE */
        return BIT(cpu.l1_ecx, 6);
    case 16: /* FSGSBASE */
        return BIT(cpu.l7_ebx, 0);
    case 17: /* PCIDE */
        return BIT(cpu.l1_ecx, 17);
    case 18: /* OSXSAVE */
        return BIT(cpu.l1_ecx, 26);
    case 19: /* KL */
        return BIT(cpu.l7_ecx, 23);
    case 20: /* SMEP */
        return BIT(cpu.l7_ebx, 7);
    case 21: /* SMAP */
        return BIT(cpu.l7_ebx, 20);
    case 22: /* PKE */
        return BIT(cpu.l7_ecx, 3);
    case 23: /* CET */
        return BIT(cpu.l7_ecx, 7);
    case 24: /* PKS */
        return BIT(cpu.l7_ecx, 31);
    case 25: /* UINTR */
        return BIT(cpu.l7_edx, 5);
    case 27: /* LASS */
        return BIT(cpu.l71_eax, 6);
    case 28: /* LAM_SUP */
        return BIT(cpu.l71_eax, 26);
    case 32: /* FRED */
        return BIT(cpu.l71_eax, 17);
    default:
        return false;
    }
}

/*
 * Whether the CPU has the feature EFER bit `bit` enables (APM Vol.2 §3.1.7
 * and the CPUID bits of APM Vol.3 Appendix E). Other bits are reserved,
 * must be zero: writing one is #GP(0).
 */
bool efer_bit_known(unsigned bit)
{
    bool amd = !tk_strcmp(cpu.vendor, "AuthenticAMD");
    switch (bit) {
    case 0: /* SCE */
        return BIT(cpu.e1_edx, 11);
    case 8:  /* LME */
    case 10: /* LMA */
        return BIT(cpu.e1_edx, 29);
    case 11: /* NXE */
        return BIT(cpu.e1_edx, 20);
    case 12: /* SVME */
        return BIT(cpu.e1_ecx, 2);
    case 13: /* LMSLE: AMD, unless 8000_0008 EBX[20] EferLmsleUnsupported */
        return amd && BIT(cpu.e1_edx, 29) && !BIT(cpu.e8_ebx, 20);
    case 14: /* FFXSR */
        return BIT(cpu.e1_edx, 25);
    case 15: /* TCE */
        return BIT(cpu.e1_ecx, 17);
    case 17: /* MCOMMIT */
        return BIT(cpu.e8_ebx, 8);
    case 18: /* INTWB */
        return BIT(cpu.e8_ebx, 9);
    case 20: /* UAIE */
        return BIT(cpu.e21_eax, 7);
    case 21: /* AIBRSE */
        return BIT(cpu.e21_eax, 21);
    default:
        return false;
    }
}
