/*
 * Architectural x86 definitions: control registers, EFER, RFLAGS, debug
 * registers, MSR numbers, CPUID bits, exception vectors, descriptor
 * attributes. No logic.
 * AMD APM Vol.2 ch.3 (system resources), ch.8 (exceptions), ch.13 (debug);
 * Vol.3 Appendix E (CPUID). Intel SDM Vol.3A ch.2 where Intel differs.
 */
#ifndef HW_X86_H
#define HW_X86_H

/* CR0 (APM Vol.2 §3.1.1). Bits 63:32 are reserved, must be zero (#GP);
 * the reserved bits of 31:0 are ignored on a write. */
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
#define CR0_DEFINED                                                                                \
    (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD |     \
     CR0_PG)

/* CR3 (APM Vol.2 §3.1.2): with CR4.PCIDE, bit 63 of a MOV asks the CPU not
 * to flush the PCID's translations; it is never stored. */
#define CR3_PCID_NOFLUSH (1ull << 63)

/* CR4 (APM Vol.2 §3.1.3; Intel SDM Vol.3A §2.5) */
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
#define CR4_UMIP       (1ull << 11)
#define CR4_LA57       (1ull << 12)
#define CR4_VMXE       (1ull << 13)
#define CR4_SMXE       (1ull << 14)
#define CR4_FSGSBASE   (1ull << 16)
#define CR4_PCIDE      (1ull << 17)
#define CR4_OSXSAVE    (1ull << 18)
#define CR4_KL         (1ull << 19)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)
#define CR4_PKE        (1ull << 22)
#define CR4_CET        (1ull << 23)
#define CR4_PKS        (1ull << 24)
#define CR4_LAM_SUP    (1ull << 28)

/* EFER (APM Vol.2 §3.1.7) */
#define EFER_SCE   (1ull << 0)
#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)
#define EFER_NXE   (1ull << 11)
#define EFER_SVME  (1ull << 12)
#define EFER_LMSLE (1ull << 13)
#define EFER_FFXSR (1ull << 14)
#define EFER_TCE   (1ull << 15)

/* RFLAGS (APM Vol.2 §3.1.6) */
#define RFLAGS_CF    (1ull << 0)
#define RFLAGS_FIXED (1ull << 1)
#define RFLAGS_ZF    (1ull << 6)
#define RFLAGS_TF    (1ull << 8)
#define RFLAGS_IF    (1ull << 9)
#define RFLAGS_DF    (1ull << 10)
#define RFLAGS_OF    (1ull << 11)
#define RFLAGS_IOPL  (3ull << 12)
#define RFLAGS_RF    (1ull << 16)
#define RFLAGS_VM    (1ull << 17)
#define RFLAGS_AC    (1ull << 18)

/* DR6 / DR7 (APM Vol.2 §13.1.1.4-13.1.1.5) */
#define DR6_B0_B3 0xfull
#define DR6_BD    (1ull << 13)
#define DR6_BS    (1ull << 14)
#define DR6_BT    (1ull << 15)
#define DR6_FIXED 0xffff0ff0ull /* reads as ones */
#define DR7_FIXED 0x400ull
#define DR7_GD    (1ull << 13)

/* MSRs */
#define MSR_IA32_TSC       0x00000010
#define MSR_IA32_APICBASE  0x0000001b
#define MSR_IA32_FEAT_CTL  0x0000003a
#define MSR_SYSENTER_CS    0x00000174
#define MSR_SYSENTER_ESP   0x00000175
#define MSR_SYSENTER_EIP   0x00000176
#define MSR_DEBUGCTL       0x000001d9
#define MSR_PAT            0x00000277
#define MSR_TSC_DEADLINE   0x000006e0
#define MSR_X2APIC_ICR     0x00000830
#define MSR_EFER           0xc0000080
#define MSR_STAR           0xc0000081
#define MSR_LSTAR          0xc0000082
#define MSR_CSTAR          0xc0000083
#define MSR_SFMASK         0xc0000084
#define MSR_FS_BASE        0xc0000100
#define MSR_GS_BASE        0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_VM_CR          0xc0010114 /* APM Vol.2 §15.30.1 */
#define MSR_VM_HSAVE_PA    0xc0010117 /* APM Vol.2 §15.30.4 */
#define VM_CR_R_INIT       (1ull << 1)
#define VM_CR_SVMDIS       (1ull << 4)
#define APICBASE_BSP       (1ull << 8)
#define APICBASE_EXTD      (1ull << 10) /* x2APIC mode */
#define APICBASE_EN        (1ull << 11)
#define APICBASE_ADDR_MASK 0x000ffffffffff000ull

/* CPUID (APM Vol.3 Appendix E; Intel SDM Vol.2 "CPUID") */
#define CPUID_1_ECX_VMX                      (1u << 5)
#define CPUID_1_ECX_X2APIC                   (1u << 21)
#define CPUID_1_ECX_XSAVE                    (1u << 26)
#define CPUID_1_ECX_OSXSAVE                  (1u << 27)
#define CPUID_1_ECX_HYPERVISOR               (1u << 31)
#define CPUID_1_EDX_APIC                     (1u << 9)
#define CPUID_7_EBX_FSGSBASE                 (1u << 0)
#define CPUID_7_EBX_SMEP                     (1u << 7)
#define CPUID_7_EBX_SMAP                     (1u << 20)
#define CPUID_7_ECX_UMIP                     (1u << 2)
#define CPUID_7_ECX_PKU                      (1u << 3)
#define CPUID_7_ECX_OSPKE                    (1u << 4)
#define CPUID_7_ECX_CET_SS                   (1u << 7)
#define CPUID_7_ECX_LA57                     (1u << 16)
#define CPUID_7_ECX_PKS                      (1u << 31)
#define CPUID_7_EDX_CET_IBT                  (1u << 20)
#define CPUID_7_1_EAX_LAM                    (1u << 26)
#define CPUID_80000001_ECX_SVM               (1u << 2)
#define CPUID_80000001_ECX_TCE               (1u << 17)
#define CPUID_80000001_EDX_SYSCALL           (1u << 11)
#define CPUID_80000001_EDX_NX                (1u << 20)
#define CPUID_80000001_EDX_FFXSR             (1u << 25)
#define CPUID_80000001_EDX_PAGE1GB           (1u << 26)
#define CPUID_80000001_EDX_LM                (1u << 29)
#define CPUID_80000008_EBX_LMSLE_UNSUPPORTED (1u << 20)
#define CPUID_8000000A_EDX_NP                (1u << 0)
#define CPUID_8000000A_EDX_LBRV              (1u << 1)
#define CPUID_8000000A_EDX_NRIPS             (1u << 3)

/* Exception vectors (APM Vol.2 §8.2) */
#define X86_EXC_DE  0
#define X86_EXC_DB  1
#define X86_EXC_NMI 2
#define X86_EXC_BP  3
#define X86_EXC_OF  4
#define X86_EXC_BR  5
#define X86_EXC_UD  6
#define X86_EXC_NM  7
#define X86_EXC_DF  8
#define X86_EXC_TS  10
#define X86_EXC_NP  11
#define X86_EXC_SS  12
#define X86_EXC_GP  13
#define X86_EXC_PF  14
#define X86_EXC_MF  16
#define X86_EXC_AC  17
#define X86_EXC_MC  18
#define X86_EXC_XF  19
#define X86_EXC_CP  21

/* The exceptions that push an error code in protected mode (APM Vol.2
 * §8.2, Table 8-1): #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX. */
#define X86_EXC_HAS_ERROR_MASK                                                                     \
    ((1u << X86_EXC_DF) | (1u << X86_EXC_TS) | (1u << X86_EXC_NP) | (1u << X86_EXC_SS) |           \
     (1u << X86_EXC_GP) | (1u << X86_EXC_PF) | (1u << X86_EXC_AC) | (1u << X86_EXC_CP) |           \
     (1u << 29) | (1u << 30))

/* #PF error code (APM Vol.2 §8.4.2) */
#define PF_ERR_P    (1u << 0)
#define PF_ERR_W    (1u << 1)
#define PF_ERR_U    (1u << 2)
#define PF_ERR_RSVD (1u << 3)
#define PF_ERR_I    (1u << 4)

/* Segment descriptor attributes as the VMCB packs them (type|S|DPL|P, AVL|L|DB|G) */
#define SEG_ATTR_TYPE(a) ((a)&0xf)
#define SEG_ATTR_S       (1u << 4)
#define SEG_ATTR_DPL(a)  (((a) >> 5) & 3)
#define SEG_ATTR_P       (1u << 7)
#define SEG_ATTR_L       (1u << 9)
#define SEG_ATTR_DB      (1u << 10)
#define SEG_ATTR_G       (1u << 11)

#endif
