/* Architectural constants the test kernel uses (AMD APM Vol.2, Intel SDM Vol.3). */
#ifndef TK_X86_H
#define TK_X86_H

/* CR0 (APM Vol.2 §3.1.1) */
#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_NW (1u << 29)
#define CR0_CD (1u << 30)
#define CR0_PG (1u << 31)

/* CR3 (APM Vol.2 §3.1.2) */
#define CR3_PWT (1u << 3)
#define CR3_PCD (1u << 4)

/* CR4 (APM Vol.2 §3.1.3; Intel SDM Vol.3A §2.5) */
#define CR4_TSD     (1u << 2)
#define CR4_PSE     (1u << 4)
#define CR4_PAE     (1u << 5)
#define CR4_LA57    (1u << 12)
#define CR4_PCIDE   (1u << 17)
#define CR4_OSXSAVE (1u << 18)
#define CR4_PKE     (1u << 22)

/* EFER (APM Vol.2 §3.1.7) */
#define MSR_EFER        0xc0000080
#define EFER_SCE        (1u << 0)
#define EFER_LME        (1u << 8)
#define EFER_LMA        (1u << 10)
#define EFER_NXE        (1u << 11)
#define EFER_SVME       (1u << 12)
#define MSR_VM_CR       0xc0010114
#define MSR_FEAT_CTL    0x0000003a
#define MSR_VMX_BASIC   0x00000480
#define MSR_VM_HSAVE_PA 0xc0010117

#define RFLAGS_TF (1u << 8)
#define RFLAGS_IF (1u << 9)

/* CPUID bits */
#define CPUID_1_ECX_XSAVE    (1u << 26)
#define CPUID_1_ECX_OSXSAVE  (1u << 27)
#define CPUID_1_ECX_PCID     (1u << 17)
#define CPUID_7_ECX_PKU      (1u << 3)
#define CPUID_7_ECX_OSPKE    (1u << 4)
#define CPUID_7_ECX_LA57     (1u << 16)
#define CPUID_E1_ECX_SVM     (1u << 2)
#define CPUID_E1_ECX_SKINIT  (1u << 12)
#define CPUID_E1_EDX_LM      (1u << 29)
#define CPUID_E1_EDX_PDPE1GB (1u << 26)

/* Exception vectors */
#define X86_DE 0
#define X86_DB 1
#define X86_BP 3
#define X86_UD 6
#define X86_DF 8
#define X86_NP 11
#define X86_GP 13
#define X86_PF 14

/* Page-table entry bits (APM Vol.2 §5.3) */
#define PTE_P  0x001ull
#define PTE_RW 0x002ull
#define PTE_US 0x004ull
#define PTE_PS 0x080ull

#endif
