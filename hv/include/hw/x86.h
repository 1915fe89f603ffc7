/*
 * Architectural x86 definitions: control registers, EFER, RFLAGS, MSR numbers,
 * CPUID bits, exception vectors, descriptor attributes.
 * AMD APM Vol.2 ch.3 (system resources), Vol.3 Appendix E (CPUID).
 */
#ifndef HW_X86_H
#define HW_X86_H

/* CR0 (APM Vol.2 §3.1.1) */
#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)

/* CR4 (APM Vol.2 §3.1.3) */
#define CR4_VME        (1ull << 0)
#define CR4_PVI        (1ull << 1)
#define CR4_TSD        (1ull << 2)
#define CR4_DE         (1ull << 3)
#define CR4_PSE        (1ull << 4)
#define CR4_PAE        (1ull << 5)
#define CR4_MCE        (1ull << 6)
#define CR4_PGE        (1ull << 7)
#define CR4_PCE        (1ull << 8)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_PCIDE      (1ull << 17)
#define CR4_OSXSAVE    (1ull << 18)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)

/* EFER (APM Vol.2 §3.1.7) */
#define EFER_SCE  (1ull << 0)
#define EFER_LME  (1ull << 8)
#define EFER_LMA  (1ull << 10)
#define EFER_NXE  (1ull << 11)
#define EFER_SVME (1ull << 12)

/* RFLAGS (APM Vol.2 §3.1.6) */
#define RFLAGS_CF    (1ull << 0)
#define RFLAGS_FIXED (1ull << 1)
#define RFLAGS_ZF    (1ull << 6)
#define RFLAGS_TF    (1ull << 8)
#define RFLAGS_IF    (1ull << 9)
#define RFLAGS_DF    (1ull << 10)
#define RFLAGS_OF    (1ull << 11)
#define RFLAGS_RF    (1ull << 16)
#define RFLAGS_VM    (1ull << 17)

/* MSRs */
#define MSR_IA32_TSC      0x00000010
#define MSR_IA32_APICBASE 0x0000001b
#define MSR_PAT           0x00000277
#define MSR_EFER          0xc0000080
#define MSR_VM_CR         0xc0010114 /* APM Vol.2 §15.30.1 */
#define MSR_VM_HSAVE_PA   0xc0010117 /* APM Vol.2 §15.30.4 */
#define VM_CR_SVMDIS      (1ull << 4)

/* CPUID (APM Vol.3 Appendix E) */
#define CPUID_1_ECX_HYPERVISOR     (1u << 31)
#define CPUID_80000001_ECX_SVM     (1u << 2)
#define CPUID_80000001_EDX_PAGE1GB (1u << 26)
#define CPUID_80000001_EDX_LM      (1u << 29)
#define CPUID_8000000A_EDX_NP      (1u << 0)
#define CPUID_8000000A_EDX_NRIPS   (1u << 3)

/* Exception vectors (APM Vol.2 §8.2) */
#define X86_EXC_DE  0
#define X86_EXC_DB  1
#define X86_EXC_NMI 2
#define X86_EXC_BP  3
#define X86_EXC_UD  6
#define X86_EXC_DF  8
#define X86_EXC_TS  10
#define X86_EXC_NP  11
#define X86_EXC_SS  12
#define X86_EXC_GP  13
#define X86_EXC_PF  14
#define X86_EXC_MC  18

/* Segment descriptor attributes as the VMCB packs them (type|S|DPL|P, AVL|L|DB|G) */
#define SEG_ATTR_P      (1u << 7)
#define SEG_ATTR_S      (1u << 4)
#define SEG_ATTR_L      (1u << 9)
#define SEG_ATTR_DB     (1u << 10)
#define SEG_ATTR_G      (1u << 11)
#define SEG_ATTR_DPL(a) (((a) >> 5) & 3)

#endif
