/*
 * Intel VT-x: the VMCS field encodings, the basic exit reasons, the VMX
 * capability MSRs and the bits of the controls, event and EPT formats the
 * vmx backend uses. Definitions only, no logic. Names follow the SDM and
 * Linux arch/x86/include/asm/vmx.h, so grep works across KVM and us.
 *
 * A field encoding (SDM Vol.3C §24.11.2 "VMREAD, VMWRITE, and Encodings of
 * VMCS Fields", Table 24-21):
 *
 *   14:13 width   0 16-bit, 1 64-bit, 2 32-bit, 3 natural width
 *   11:10 type    0 control, 1 VM-exit information (read-only),
 *                 2 guest state, 3 host state
 *    9:1  index
 *    0    access  1: the high 32 bits of a 64-bit field
 *
 * The encodings are those of SDM Vol.3C Appendix B; the compiler checks
 * the width and type of each one against its name at the end of the file.
 */
#ifndef HW_VMCS_H
#define HW_VMCS_H

#include <stdint.h>

#define VMCS_WIDTH(f)      (((f) >> 13) & 3)
#define VMCS_TYPE(f)       (((f) >> 10) & 3)
#define VMCS_WIDTH_16      0
#define VMCS_WIDTH_64      1
#define VMCS_WIDTH_32      2
#define VMCS_WIDTH_NATURAL 3
#define VMCS_TYPE_CONTROL  0
#define VMCS_TYPE_EXIT     1
#define VMCS_TYPE_GUEST    2
#define VMCS_TYPE_HOST     3

/* --- Appendix B.1: 16-bit fields --- */
#define VIRTUAL_PROCESSOR_ID 0x0000
#define GUEST_ES_SELECTOR    0x0800
#define GUEST_CS_SELECTOR    0x0802
#define GUEST_SS_SELECTOR    0x0804
#define GUEST_DS_SELECTOR    0x0806
#define GUEST_FS_SELECTOR    0x0808
#define GUEST_GS_SELECTOR    0x080a
#define GUEST_LDTR_SELECTOR  0x080c
#define GUEST_TR_SELECTOR    0x080e
#define HOST_ES_SELECTOR     0x0c00
#define HOST_CS_SELECTOR     0x0c02
#define HOST_SS_SELECTOR     0x0c04
#define HOST_DS_SELECTOR     0x0c06
#define HOST_FS_SELECTOR     0x0c08
#define HOST_GS_SELECTOR     0x0c0a
#define HOST_TR_SELECTOR     0x0c0c

/* --- Appendix B.2: 64-bit fields --- */
#define IO_BITMAP_A            0x2000
#define IO_BITMAP_B            0x2002
#define MSR_BITMAP             0x2004
#define VM_EXIT_MSR_STORE_ADDR 0x2006
#define VM_EXIT_MSR_LOAD_ADDR  0x2008
#define VM_ENTRY_MSR_LOAD_ADDR 0x200a
#define TSC_OFFSET             0x2010
#define EPT_POINTER            0x201a
#define XSS_EXIT_BITMAP        0x202c
#define GUEST_PHYSICAL_ADDRESS 0x2400
#define VMCS_LINK_POINTER      0x2800
#define GUEST_IA32_DEBUGCTL    0x2802
#define GUEST_IA32_PAT         0x2804
#define GUEST_IA32_EFER        0x2806
#define GUEST_PDPTR0           0x280a
#define GUEST_PDPTR1           0x280c
#define GUEST_PDPTR2           0x280e
#define GUEST_PDPTR3           0x2810
#define HOST_IA32_PAT          0x2c00
#define HOST_IA32_EFER         0x2c02

/* --- Appendix B.3: 32-bit fields --- */
#define PIN_BASED_VM_EXEC_CONTROL     0x4000
#define CPU_BASED_VM_EXEC_CONTROL     0x4002
#define EXCEPTION_BITMAP              0x4004
#define PAGE_FAULT_ERROR_CODE_MASK    0x4006
#define PAGE_FAULT_ERROR_CODE_MATCH   0x4008
#define CR3_TARGET_COUNT              0x400a
#define VM_EXIT_CONTROLS              0x400c
#define VM_EXIT_MSR_STORE_COUNT       0x400e
#define VM_EXIT_MSR_LOAD_COUNT        0x4010
#define VM_ENTRY_CONTROLS             0x4012
#define VM_ENTRY_MSR_LOAD_COUNT       0x4014
#define VM_ENTRY_INTR_INFO_FIELD      0x4016
#define VM_ENTRY_EXCEPTION_ERROR_CODE 0x4018
#define VM_ENTRY_INSTRUCTION_LEN      0x401a
#define TPR_THRESHOLD                 0x401c
#define SECONDARY_VM_EXEC_CONTROL     0x401e
#define VM_INSTRUCTION_ERROR          0x4400
#define VM_EXIT_REASON                0x4402
#define VM_EXIT_INTR_INFO             0x4404
#define VM_EXIT_INTR_ERROR_CODE       0x4406
#define IDT_VECTORING_INFO_FIELD      0x4408
#define IDT_VECTORING_ERROR_CODE      0x440a
#define VM_EXIT_INSTRUCTION_LEN       0x440c
#define VMX_INSTRUCTION_INFO          0x440e
#define GUEST_ES_LIMIT                0x4800
#define GUEST_CS_LIMIT                0x4802
#define GUEST_SS_LIMIT                0x4804
#define GUEST_DS_LIMIT                0x4806
#define GUEST_FS_LIMIT                0x4808
#define GUEST_GS_LIMIT                0x480a
#define GUEST_LDTR_LIMIT              0x480c
#define GUEST_TR_LIMIT                0x480e
#define GUEST_GDTR_LIMIT              0x4810
#define GUEST_IDTR_LIMIT              0x4812
#define GUEST_ES_AR_BYTES             0x4814
#define GUEST_CS_AR_BYTES             0x4816
#define GUEST_SS_AR_BYTES             0x4818
#define GUEST_DS_AR_BYTES             0x481a
#define GUEST_FS_AR_BYTES             0x481c
#define GUEST_GS_AR_BYTES             0x481e
#define GUEST_LDTR_AR_BYTES           0x4820
#define GUEST_TR_AR_BYTES             0x4822
#define GUEST_INTERRUPTIBILITY_INFO   0x4824
#define GUEST_ACTIVITY_STATE          0x4826
#define GUEST_SYSENTER_CS             0x482a
#define VMX_PREEMPTION_TIMER_VALUE    0x482e
#define HOST_IA32_SYSENTER_CS         0x4c00

/* --- Appendix B.4: natural-width fields --- */
#define CR0_GUEST_HOST_MASK          0x6000
#define CR4_GUEST_HOST_MASK          0x6002
#define CR0_READ_SHADOW              0x6004
#define CR4_READ_SHADOW              0x6006
#define EXIT_QUALIFICATION           0x6400
#define GUEST_LINEAR_ADDRESS         0x640a
#define GUEST_CR0                    0x6800
#define GUEST_CR3                    0x6802
#define GUEST_CR4                    0x6804
#define GUEST_ES_BASE                0x6806
#define GUEST_CS_BASE                0x6808
#define GUEST_SS_BASE                0x680a
#define GUEST_DS_BASE                0x680c
#define GUEST_FS_BASE                0x680e
#define GUEST_GS_BASE                0x6810
#define GUEST_LDTR_BASE              0x6812
#define GUEST_TR_BASE                0x6814
#define GUEST_GDTR_BASE              0x6816
#define GUEST_IDTR_BASE              0x6818
#define GUEST_DR7                    0x681a
#define GUEST_RSP                    0x681c
#define GUEST_RIP                    0x681e
#define GUEST_RFLAGS                 0x6820
#define GUEST_PENDING_DBG_EXCEPTIONS 0x6822
#define GUEST_SYSENTER_ESP           0x6824
#define GUEST_SYSENTER_EIP           0x6826
#define HOST_CR0                     0x6c00
#define HOST_CR3                     0x6c02
#define HOST_CR4                     0x6c04
#define HOST_FS_BASE                 0x6c06
#define HOST_GS_BASE                 0x6c08
#define HOST_TR_BASE                 0x6c0a
#define HOST_GDTR_BASE               0x6c0c
#define HOST_IDTR_BASE               0x6c0e
#define HOST_IA32_SYSENTER_ESP       0x6c10
#define HOST_IA32_SYSENTER_EIP       0x6c12
#define HOST_RSP                     0x6c14
#define HOST_RIP                     0x6c16

/* --- Appendix C: basic exit reasons (VM_EXIT_REASON bits 15:0) --- */
#define EXIT_REASON_EXCEPTION_NMI       0
#define EXIT_REASON_EXTERNAL_INTERRUPT  1
#define EXIT_REASON_TRIPLE_FAULT        2
#define EXIT_REASON_INIT_SIGNAL         3
#define EXIT_REASON_SIPI_SIGNAL         4
#define EXIT_REASON_IO_SMI              5
#define EXIT_REASON_OTHER_SMI           6
#define EXIT_REASON_INTERRUPT_WINDOW    7
#define EXIT_REASON_NMI_WINDOW          8
#define EXIT_REASON_TASK_SWITCH         9
#define EXIT_REASON_CPUID               10
#define EXIT_REASON_GETSEC              11
#define EXIT_REASON_HLT                 12
#define EXIT_REASON_INVD                13
#define EXIT_REASON_INVLPG              14
#define EXIT_REASON_RDPMC               15
#define EXIT_REASON_RDTSC               16
#define EXIT_REASON_RSM                 17
#define EXIT_REASON_VMCALL              18
#define EXIT_REASON_VMCLEAR             19
#define EXIT_REASON_VMLAUNCH            20
#define EXIT_REASON_VMPTRLD             21
#define EXIT_REASON_VMPTRST             22
#define EXIT_REASON_VMREAD              23
#define EXIT_REASON_VMRESUME            24
#define EXIT_REASON_VMWRITE             25
#define EXIT_REASON_VMOFF               26
#define EXIT_REASON_VMON                27
#define EXIT_REASON_CR_ACCESS           28
#define EXIT_REASON_DR_ACCESS           29
#define EXIT_REASON_IO_INSTRUCTION      30
#define EXIT_REASON_MSR_READ            31
#define EXIT_REASON_MSR_WRITE           32
#define EXIT_REASON_INVALID_STATE       33
#define EXIT_REASON_MSR_LOAD_FAIL       34
#define EXIT_REASON_MWAIT_INSTRUCTION   36
#define EXIT_REASON_MONITOR_TRAP_FLAG   37
#define EXIT_REASON_MONITOR_INSTRUCTION 39
#define EXIT_REASON_PAUSE_INSTRUCTION   40
#define EXIT_REASON_MCE_DURING_VMENTRY  41
#define EXIT_REASON_TPR_BELOW_THRESHOLD 43
#define EXIT_REASON_APIC_ACCESS         44
#define EXIT_REASON_EOI_INDUCED         45
#define EXIT_REASON_GDTR_IDTR           46
#define EXIT_REASON_LDTR_TR             47
#define EXIT_REASON_EPT_VIOLATION       48
#define EXIT_REASON_EPT_MISCONFIG       49
#define EXIT_REASON_INVEPT              50
#define EXIT_REASON_RDTSCP              51
#define EXIT_REASON_PREEMPTION_TIMER    52
#define EXIT_REASON_INVVPID             53
#define EXIT_REASON_WBINVD              54
#define EXIT_REASON_XSETBV              55
#define EXIT_REASON_APIC_WRITE          56
#define EXIT_REASON_RDRAND              57
#define EXIT_REASON_INVPCID             58
#define EXIT_REASON_VMFUNC              59
#define EXIT_REASON_ENCLS               60
#define EXIT_REASON_RDSEED              61
#define EXIT_REASON_PML_FULL            62
#define EXIT_REASON_XSAVES              63
#define EXIT_REASON_XRSTORS             64
#define EXIT_REASON_UMWAIT              67
#define EXIT_REASON_TPAUSE              68
#define EXIT_REASON_BUS_LOCK            74
#define EXIT_REASON_NOTIFY              75
#define EXIT_REASON_MAX                 76 /* table size: every reason above is below it */

/* VM_EXIT_REASON bit 31: the exit is a VM-entry failure (SDM Vol.3C §26.8) */
#define VMX_EXIT_REASONS_FAILED_VMENTRY (1u << 31)
#define VMX_EXIT_REASON_BASIC(r)        ((r)&0xffffu)

/* --- capability MSRs (SDM Vol.3D Appendix A) --- */
#define MSR_IA32_VMX_BASIC               0x480
#define MSR_IA32_VMX_PINBASED_CTLS       0x481
#define MSR_IA32_VMX_PROCBASED_CTLS      0x482
#define MSR_IA32_VMX_EXIT_CTLS           0x483
#define MSR_IA32_VMX_ENTRY_CTLS          0x484
#define MSR_IA32_VMX_MISC                0x485
#define MSR_IA32_VMX_CR0_FIXED0          0x486
#define MSR_IA32_VMX_CR0_FIXED1          0x487
#define MSR_IA32_VMX_CR4_FIXED0          0x488
#define MSR_IA32_VMX_CR4_FIXED1          0x489
#define MSR_IA32_VMX_VMCS_ENUM           0x48a
#define MSR_IA32_VMX_PROCBASED_CTLS2     0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP        0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS      0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS     0x490
#define MSR_IA32_VMX_VMFUNC              0x491
#define MSR_IA32_VMX_FIRST               MSR_IA32_VMX_BASIC
#define MSR_IA32_VMX_LAST                MSR_IA32_VMX_VMFUNC

/* IA32_VMX_BASIC (Appendix A.1) */
#define VMX_BASIC_REVISION_MASK             0x7fffffffull
#define VMX_BASIC_TRUE_CTLS                 (1ull << 55) /* the TRUE_* MSRs exist */
/* IA32_VMX_MISC (Appendix A.6) */
#define VMX_MISC_PREEMPTION_TIMER_RATE_MASK 0x1full /* the timer counts TSC >> this */
#define VMX_MISC_ACTIVITY_HLT               (1ull << 6)
#define VMX_MISC_ZERO_LEN_INS               (1ull << 30) /* injection with instruction length 0 */
/* IA32_VMX_EPT_VPID_CAP (Appendix A.10) */
#define VMX_EPT_EXECUTE_ONLY_BIT            (1ull << 0)
#define VMX_EPT_PAGE_WALK_4_BIT             (1ull << 6)
#define VMX_EPTP_UC_BIT                     (1ull << 8)
#define VMX_EPTP_WB_BIT                     (1ull << 14)
#define VMX_EPT_2MB_PAGE_BIT                (1ull << 16)
#define VMX_EPT_1GB_PAGE_BIT                (1ull << 17)
#define VMX_EPT_INVEPT_BIT                  (1ull << 20)
#define VMX_EPT_EXTENT_CONTEXT_BIT          (1ull << 25)
#define VMX_EPT_EXTENT_GLOBAL_BIT           (1ull << 26)
#define VMX_VPID_INVVPID_BIT                (1ull << 32)
#define VMX_VPID_EXTENT_SINGLE_BIT          (1ull << 41)
#define VMX_VPID_EXTENT_GLOBAL_BIT          (1ull << 42)

/* IA32_FEATURE_CONTROL (SDM Vol.3C §23.7 "Enabling and Entering VMX Operation") */
#define FEAT_CTL_LOCKED          (1ull << 0)
#define FEAT_CTL_VMX_INSIDE_SMX  (1ull << 1)
#define FEAT_CTL_VMX_OUTSIDE_SMX (1ull << 2)

/* --- control bits (SDM Vol.3C §24.6) --- */
/* Pin-based (§24.6.1, Table 24-5) */
#define PIN_BASED_EXT_INTR_MASK                 (1u << 0)
#define PIN_BASED_NMI_EXITING                   (1u << 3)
#define PIN_BASED_VIRTUAL_NMIS                  (1u << 5)
#define PIN_BASED_VMX_PREEMPTION_TIMER          (1u << 6)
/* Primary processor-based (§24.6.2, Table 24-6) */
#define CPU_BASED_INTR_WINDOW_EXITING           (1u << 2)
#define CPU_BASED_USE_TSC_OFFSETTING            (1u << 3)
#define CPU_BASED_HLT_EXITING                   (1u << 7)
#define CPU_BASED_INVLPG_EXITING                (1u << 9)
#define CPU_BASED_MWAIT_EXITING                 (1u << 10)
#define CPU_BASED_RDPMC_EXITING                 (1u << 11)
#define CPU_BASED_RDTSC_EXITING                 (1u << 12)
#define CPU_BASED_CR3_LOAD_EXITING              (1u << 15)
#define CPU_BASED_CR3_STORE_EXITING             (1u << 16)
#define CPU_BASED_CR8_LOAD_EXITING              (1u << 19)
#define CPU_BASED_CR8_STORE_EXITING             (1u << 20)
#define CPU_BASED_TPR_SHADOW                    (1u << 21)
#define CPU_BASED_NMI_WINDOW_EXITING            (1u << 22)
#define CPU_BASED_MOV_DR_EXITING                (1u << 23)
#define CPU_BASED_UNCOND_IO_EXITING             (1u << 24)
#define CPU_BASED_USE_IO_BITMAPS                (1u << 25)
#define CPU_BASED_MONITOR_TRAP_FLAG             (1u << 27)
#define CPU_BASED_USE_MSR_BITMAPS               (1u << 28)
#define CPU_BASED_MONITOR_EXITING               (1u << 29)
#define CPU_BASED_PAUSE_EXITING                 (1u << 30)
#define CPU_BASED_ACTIVATE_SECONDARY_CONTROLS   (1u << 31)
/* Secondary processor-based (§24.6.2, Table 24-7) */
#define SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES (1u << 0)
#define SECONDARY_EXEC_ENABLE_EPT               (1u << 1)
#define SECONDARY_EXEC_DESC                     (1u << 2) /* descriptor-table exiting */
#define SECONDARY_EXEC_ENABLE_RDTSCP            (1u << 3)
#define SECONDARY_EXEC_ENABLE_VPID              (1u << 5)
#define SECONDARY_EXEC_WBINVD_EXITING           (1u << 6)
#define SECONDARY_EXEC_UNRESTRICTED_GUEST       (1u << 7)
#define SECONDARY_EXEC_ENABLE_INVPCID           (1u << 12)
#define SECONDARY_EXEC_XSAVES                   (1u << 20)
/* VM-exit controls (§24.7.1, Table 24-13) */
#define VM_EXIT_SAVE_DEBUG_CONTROLS             (1u << 2)
#define VM_EXIT_HOST_ADDR_SPACE_SIZE            (1u << 9)
#define VM_EXIT_ACK_INTR_ON_EXIT                (1u << 15)
#define VM_EXIT_SAVE_IA32_PAT                   (1u << 18)
#define VM_EXIT_LOAD_IA32_PAT                   (1u << 19)
#define VM_EXIT_SAVE_IA32_EFER                  (1u << 20)
#define VM_EXIT_LOAD_IA32_EFER                  (1u << 21)
#define VM_EXIT_SAVE_VMX_PREEMPTION_TIMER       (1u << 22)
/* VM-entry controls (§24.8.1, Table 24-15) */
#define VM_ENTRY_LOAD_DEBUG_CONTROLS            (1u << 2)
#define VM_ENTRY_IA32E_MODE                     (1u << 9)
#define VM_ENTRY_LOAD_IA32_PAT                  (1u << 14)
#define VM_ENTRY_LOAD_IA32_EFER                 (1u << 15)

/*
 * Event information: VM_ENTRY_INTR_INFO_FIELD (§24.8.3), VM_EXIT_INTR_INFO
 * (§24.9.2) and IDT_VECTORING_INFO_FIELD (§24.9.3) share one layout:
 *
 *   31     valid
 *   12     NMI unblocking due to IRET (exit information only)
 *   11     an error code is delivered
 *   10:8   type
 *    7:0   vector
 */
#define INTR_INFO_VECTOR_MASK       0xffu
#define INTR_INFO_INTR_TYPE_MASK    0x700u
#define INTR_INFO_INTR_TYPE_SHIFT   8
#define INTR_INFO_DELIVER_CODE_MASK (1u << 11)
#define INTR_INFO_UNBLOCK_NMI       (1u << 12)
#define INTR_INFO_VALID_MASK        (1u << 31)
#define INTR_TYPE_EXT_INTR          (0u << 8)
#define INTR_TYPE_NMI_INTR          (2u << 8)
#define INTR_TYPE_HARD_EXCEPTION    (3u << 8)
#define INTR_TYPE_SOFT_INTR         (4u << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION (5u << 8)
#define INTR_TYPE_SOFT_EXCEPTION    (6u << 8)

/* GUEST_INTERRUPTIBILITY_INFO (§24.4.2, Table 24-3) */
#define GUEST_INTR_STATE_STI     (1u << 0)
#define GUEST_INTR_STATE_MOV_SS  (1u << 1)
#define GUEST_INTR_STATE_SMI     (1u << 2)
#define GUEST_INTR_STATE_NMI     (1u << 3)
/* GUEST_ACTIVITY_STATE (§24.4.2) */
#define GUEST_ACTIVITY_ACTIVE    0
#define GUEST_ACTIVITY_HLT       1
#define GUEST_ACTIVITY_SHUTDOWN  2
#define GUEST_ACTIVITY_WAIT_SIPI 3

/*
 * Segment access rights, GUEST_*_AR_BYTES (§24.4.1, Table 24-2): the
 * descriptor's bits 47:40 in 7:0 and 55:52 in 15:12, and
 *   16  segment unusable
 */
#define VMX_AR_TYPE_MASK     0x0fu
#define VMX_AR_S_MASK        (1u << 4)
#define VMX_AR_DPL_SHIFT     5
#define VMX_AR_DPL_MASK      (3u << 5)
#define VMX_AR_P_MASK        (1u << 7)
#define VMX_AR_L_MASK        (1u << 13)
#define VMX_AR_DB_MASK       (1u << 14)
#define VMX_AR_G_MASK        (1u << 15)
#define VMX_AR_UNUSABLE_MASK (1u << 16)

/* EXIT_QUALIFICATION of a control-register access (§27.2.1, Table 27-3) */
#define CR_QUAL_CR(q)           ((unsigned)((q)&0xf))
#define CR_QUAL_TYPE(q)         ((unsigned)(((q) >> 4) & 3))
#define CR_QUAL_TYPE_MOV_TO     0
#define CR_QUAL_TYPE_MOV_FROM   1
#define CR_QUAL_TYPE_CLTS       2
#define CR_QUAL_TYPE_LMSW       3
#define CR_QUAL_REG(q)          ((unsigned)(((q) >> 8) & 0xf))
/* ... of a MOV DR (Table 27-4): bit 4 set for MOV from DR */
#define DR_QUAL_DIRECTION_OUT   (1u << 4)
/* ... of an I/O instruction (Table 27-5) */
#define IO_QUAL_SIZE_MASK       0x7u /* size - 1 */
#define IO_QUAL_IN              (1u << 3)
#define IO_QUAL_STRING          (1u << 4)
#define IO_QUAL_REP             (1u << 5)
#define IO_QUAL_PORT_SHIFT      16
/* ... of an EPT violation (Table 27-7) */
#define EPT_VIOLATION_ACC_READ  (1u << 0)
#define EPT_VIOLATION_ACC_WRITE (1u << 1)
#define EPT_VIOLATION_ACC_INSTR (1u << 2)
#define EPT_VIOLATION_RWX_MASK  (7u << 3) /* the entry's R/W/X: 0 = not present */
/* VMX_INSTRUCTION_INFO of LGDT/LIDT/SGDT/SIDT (§27.2.5, Table 27-10): bits 29:28 */
#define DESC_INFO_IDENTITY(i)   ((unsigned)(((i) >> 28) & 3))
#define DESC_INFO_SGDT          0
#define DESC_INFO_SIDT          1
#define DESC_INFO_LGDT          2
#define DESC_INFO_LIDT          3

/*
 * EPT paging-structure entries (SDM Vol.3C §29.3.2, Tables 29-1 to 29-6):
 *
 *   63     suppress #VE          11:8  ignored / accessed, dirty (bits 8, 9)
 *   51:12  physical address      7     large page (PDPTE: 1 GiB, PDE: 2 MiB)
 *    6     ignore PAT (leaf)     5:3   memory type (leaf)
 *    2:0   execute, write, read: an entry with none of them is not present
 */
#define EPT_READ           (1ull << 0)
#define EPT_WRITE          (1ull << 1)
#define EPT_EXEC           (1ull << 2)
#define EPT_RWX            (EPT_READ | EPT_WRITE | EPT_EXEC)
#define EPT_MT_SHIFT       3
#define EPT_MT_MASK        (7ull << EPT_MT_SHIFT)
#define EPT_MT_UC          (0ull << EPT_MT_SHIFT)
#define EPT_MT_WB          (6ull << EPT_MT_SHIFT)
#define EPT_IGNORE_PAT     (1ull << 6)
#define EPT_LARGE          (1ull << 7)
#define EPT_ACCESSED       (1ull << 8)
#define EPT_DIRTY          (1ull << 9)
/* EPT_POINTER (§24.6.11, Table 24-8): memory type in 2:0, walk length - 1 in 5:3 */
#define VMX_EPTP_MT_WB     6ull
#define VMX_EPTP_MT_UC     0ull
#define VMX_EPTP_PWL_4     (3ull << 3)
#define VMX_EPTP_AD_ENABLE (1ull << 6)

/* INVEPT / INVVPID types (SDM Vol.3C §30.3) */
#define VMX_EPT_EXTENT_CONTEXT         1
#define VMX_EPT_EXTENT_GLOBAL          2
#define VMX_VPID_EXTENT_SINGLE_CONTEXT 1
#define VMX_VPID_EXTENT_ALL_CONTEXT    2

/* --- the compiler checks each encoding against its name --- */
#define VMCS_CHECK(f, w, t)                                                                        \
    _Static_assert(VMCS_WIDTH(f) == VMCS_WIDTH_##w && VMCS_TYPE(f) == VMCS_TYPE_##t &&             \
                       ((f)&1) == 0,                                                               \
                   #f ": SDM Vol.3C Appendix B")
VMCS_CHECK(VIRTUAL_PROCESSOR_ID, 16, CONTROL);
VMCS_CHECK(GUEST_ES_SELECTOR, 16, GUEST);
VMCS_CHECK(GUEST_TR_SELECTOR, 16, GUEST);
VMCS_CHECK(HOST_ES_SELECTOR, 16, HOST);
VMCS_CHECK(HOST_TR_SELECTOR, 16, HOST);
VMCS_CHECK(IO_BITMAP_A, 64, CONTROL);
VMCS_CHECK(MSR_BITMAP, 64, CONTROL);
VMCS_CHECK(TSC_OFFSET, 64, CONTROL);
VMCS_CHECK(EPT_POINTER, 64, CONTROL);
VMCS_CHECK(GUEST_PHYSICAL_ADDRESS, 64, EXIT);
VMCS_CHECK(VMCS_LINK_POINTER, 64, GUEST);
VMCS_CHECK(GUEST_IA32_EFER, 64, GUEST);
VMCS_CHECK(GUEST_PDPTR3, 64, GUEST);
VMCS_CHECK(HOST_IA32_EFER, 64, HOST);
VMCS_CHECK(PIN_BASED_VM_EXEC_CONTROL, 32, CONTROL);
VMCS_CHECK(SECONDARY_VM_EXEC_CONTROL, 32, CONTROL);
VMCS_CHECK(VM_ENTRY_INSTRUCTION_LEN, 32, CONTROL);
VMCS_CHECK(VM_INSTRUCTION_ERROR, 32, EXIT);
VMCS_CHECK(VM_EXIT_REASON, 32, EXIT);
VMCS_CHECK(VMX_INSTRUCTION_INFO, 32, EXIT);
VMCS_CHECK(GUEST_ES_LIMIT, 32, GUEST);
VMCS_CHECK(GUEST_TR_AR_BYTES, 32, GUEST);
VMCS_CHECK(GUEST_ACTIVITY_STATE, 32, GUEST);
VMCS_CHECK(VMX_PREEMPTION_TIMER_VALUE, 32, GUEST);
VMCS_CHECK(HOST_IA32_SYSENTER_CS, 32, HOST);
VMCS_CHECK(CR0_GUEST_HOST_MASK, NATURAL, CONTROL);
VMCS_CHECK(CR4_READ_SHADOW, NATURAL, CONTROL);
VMCS_CHECK(EXIT_QUALIFICATION, NATURAL, EXIT);
VMCS_CHECK(GUEST_CR0, NATURAL, GUEST);
VMCS_CHECK(GUEST_RIP, NATURAL, GUEST);
VMCS_CHECK(GUEST_SYSENTER_EIP, NATURAL, GUEST);
VMCS_CHECK(HOST_CR0, NATURAL, HOST);
VMCS_CHECK(HOST_RIP, NATURAL, HOST);
/* The guest segment fields of one kind are in ES CS SS DS FS GS LDTR TR
 * order, two encodings apart: the backend indexes them by enum seg. */
_Static_assert(GUEST_TR_SELECTOR - GUEST_ES_SELECTOR == 14 &&
                   GUEST_TR_LIMIT - GUEST_ES_LIMIT == 14 &&
                   GUEST_TR_AR_BYTES - GUEST_ES_AR_BYTES == 14 &&
                   GUEST_TR_BASE - GUEST_ES_BASE == 14,
               "SDM Vol.3C Appendix B: guest segment fields");
_Static_assert(EXIT_REASON_NOTIFY < EXIT_REASON_MAX, "the exit table covers every reason");

#endif
