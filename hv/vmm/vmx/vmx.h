/*
 * The Intel VT-x backend (SDM Vol.3C ch.23-33): a VMXON region and a VMCS
 * per vCPU, the I/O and MSR bitmaps and the EPT tables for the machine,
 * the world switch, and the exit table that turns basic exit reasons into
 * the neutral handlers of core/exits.h. It needs EPT and unrestricted
 * guest (setup/cpu.c refuses a CPU without them), so the VM runs every
 * mode, real mode included, on the hardware, as on AMD.
 */
#ifndef VMM_VMX_VMX_H
#define VMM_VMX_VMX_H

#include "common/spinlock.h"
#include "hw/vmcs.h"
#include "vmm/core/vm.h"

/* The guest's real-mode IVT limit while INT n is trapped: vectors from
 * 15h up raise #GP (SDM Vol.2 "INT n": real-address mode checks the
 * vector against the IDT limit), which exits (docs/vmx.md). */
#define VMX_IVT_TRAP_VECTOR 0x15
#define VMX_IVT_TRAP_LIMIT  (VMX_IVT_TRAP_VECTOR * 4 - 1)

/* The VM's MSRs that neither the VMCS nor an entry/exit control switches:
 * the SYSCALL ones and KERNEL_GS_BASE stay in the core's hardware while
 * the VMM runs (it never runs SYSCALL or SWAPGS). ops.c, vmcs.c. */
#define VMX_HW_MSRS 5
extern const uint32_t vmx_hw_msrs[VMX_HW_MSRS];

/* Where a vCPU's VMCS is (vmcs.c; SDM Vol.3C §25.1, §25.11.1). */
enum vmcs_home {
    VMCS_NONE,   /* not set up yet: its core has not run vmx_cpu_enable() */
    VMCS_LOADED, /* active and current on its own core */
    VMCS_CLEAR,  /* VMCLEARed to memory: any core may VMPTRLD it */
};

struct vmx_vcpu {
    struct vcpu vcpu;   /* first: a struct vcpu * is a struct vmx_vcpu * */
    uint64_t vmxon;     /* its VMXON region (SDM Vol.3C §25.11.5) */
    uint64_t vmcs;      /* its VMCS region (§25.2) */
    bool launched;      /* VMLAUNCH done: VMRESUME from now on (§25.1) */
    bool entry_failed;  /* the last VMLAUNCH/VMRESUME failed: VM_INSTRUCTION_ERROR says why */
    bool flush;         /* INVEPT before the next entry */
    bool injected_soft; /* the last entry injected a software interrupt or exception */
    bool ivt_trap;      /* the IVT limit is shrunk (INT n trapped in real mode) */
    uint16_t idt_limit; /* the VM's own IDTR limit while ivt_trap */
    uint32_t exit_reason;
    uint32_t soft_len; /* the length of the INT n / INT3 the last exit stopped at */
    /* vmcs.c: its VMCS from other cores, while it waits in the VMM */
    struct spinlock vmcs_lock;
    volatile enum vmcs_home home;
    struct vcpu *visiting; /* the vCPU whose VMCS this core borrows now */
    bool unreachable_logged;
    uint64_t cr2, dr[4], dr6;  /* the VM's, from its core's hardware, while CLEAR */
    uint64_t msr[VMX_HW_MSRS]; /* the same for vmx_hw_msrs[] */
    uint64_t tsc_offset;       /* TSC_OFFSET as last written, readable from any core */
};

struct vmx_ctl {
    uint32_t must1, may1; /* a capability MSR's allowed-0 and allowed-1 settings */
};

struct vmx_vm {
    uint8_t *io_bitmap;  /* A then B: 8 KiB, one bit per port (§24.6.4) */
    uint8_t *msr_bitmap; /* 4 KiB (§24.6.9) */
    uint64_t ept_root;
    uint64_t eptp;
    struct vmx_ctl pin, proc, proc2, exit, entry;
    uint32_t pin_base, proc_base, proc2_base, exit_base, entry_base;
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint64_t misc, ept_cap;
    uint32_t revision;
    bool vpid, timer, xsaves;
    unsigned timer_shift;
    uint32_t timer_value; /* the preemption timer's period, 0 until the TSC is measured */
};

static inline struct vmx_vcpu *to_vmx(struct vcpu *v) { return (struct vmx_vcpu *)v; }
static inline struct vmx_vm *vmx_vm_of(struct vm *vm) { return (struct vmx_vm *)vm->backend; }

void vmx_vmwrite_failed(uint64_t field, uint64_t val);

/* VMREAD / VMWRITE on the core's current VMCS (SDM Vol.3C §31.3): every
 * vCPU's VMCS is current on its own core, so only that core reads it. */
static inline uint64_t vmread(uint64_t field)
{
    uint64_t val;
    __asm__ volatile("vmread %1, %0" : "=r"(val) : "r"(field) : "cc");
    return val;
}

static inline void vmwrite(uint64_t field, uint64_t val)
{
    uint8_t bad;
    __asm__ volatile("vmwrite %2, %1; setna %0" : "=q"(bad) : "r"(field), "r"(val) : "cc");
    if (bad)
        vmx_vmwrite_failed(field, val);
}

/* VMXON, VMCLEAR, VMPTRLD of the region at pa: nonzero if the instruction
 * failed (CF or ZF set, §31.2 "Conventions"). */
#define VMX_INSN(insn, pa)                                                                         \
    ({                                                                                             \
        uint8_t bad_;                                                                              \
        uint64_t op_ = (pa);                                                                       \
        __asm__ volatile(insn " %1; setna %0" : "=q"(bad_) : "m"(op_) : "cc", "memory");           \
        bad_;                                                                                      \
    })

/* An NMI that exits leaves NMIs blocked in the VMM until an IRET, as its
 * delivery would (SDM Vol.3C ch.28 "VM Exits"; KVM unblocks them the same
 * way in vmx_do_nmi_irqoff): one to the next instruction does, so the
 * VMM's idle loop can be woken again. The idle loop runs it too: an NMI
 * held pending while blocked (Bochs keeps one blocked across the exit of
 * a VM whose interruptibility state blocks NMIs) is taken then, not
 * slept on (init.c). */
static inline void vmx_unblock_nmi(void)
{
    __asm__ volatile("mov %%ss, %%eax\n"
                     "push %%rax\n"
                     "push %%rsp\n"
                     "addq $8, (%%rsp)\n"
                     "pushfq\n"
                     "mov %%cs, %%eax\n"
                     "push %%rax\n"
                     "lea 1f(%%rip), %%rax\n"
                     "push %%rax\n"
                     "iretq\n"
                     "1:" ::
                         : "rax", "memory", "cc");
}

extern const struct backend_ops vmx_ops;

/* vmcs.c. vmx_vmcs_enter() makes v's VMCS current on this core for one
 * operation (borrowed if v is another core's vCPU, waiting a little for it
 * to be put back); false if it cannot be reached, and then the operation
 * does nothing. vmx_vmcs_leave() gives a borrowed VMCS back. On v's own
 * core: vmx_vmcs_put() VMCLEARs it (with the VM's CR2, DR0-3 and DR6) so
 * that others may borrow it; vmx_vmcs_load() makes it current again.
 * vmx_regs_here(): v's CR2, debug registers and vmx_hw_msrs[] are this
 * core's hardware (else in struct vmx_vcpu). */
struct vmcs_visit {
    bool remote;
};
bool vmx_vmcs_enter(struct vcpu *v, struct vmcs_visit *t);
void vmx_vmcs_leave(struct vcpu *v, const struct vmcs_visit *t);
void vmx_vmcs_put(struct vcpu *v);
void vmx_vmcs_load(struct vcpu *v);
bool vmx_regs_here(struct vcpu *v);

/* init.c: the machine-wide block, a vCPU, VMX on a core. */
int vmx_vm_init(struct vm *vm);
struct vcpu *vmx_vcpu_create(struct vm *vm, unsigned id);
void vmx_cpu_enable(struct vcpu *v);
void vmx_idle(struct vcpu *v);
extern const char vmx_idle_hlt[];
void vmx_init_state(struct vcpu *v);
uint64_t vmx_switch_cost(struct vcpu *v, bool *steady);
/* The CR0/CR4 the hardware runs with for the VM's val: the fixed bits of
 * VMX operation set (PE and PG excepted: unrestricted guest). */
uint64_t vmx_hw_cr0(const struct vmx_vm *b, uint64_t val);
uint64_t vmx_hw_cr4(const struct vmx_vm *b, uint64_t val);

/* enter.S: VMLAUNCH (launched 0) or VMRESUME with the guest GPRs of gprs
 * but RSP (GUEST_RSP); returns 0 at the exit, gprs saved, or 1 if the
 * instruction failed (VMfailInvalid / VMfailValid). */
int vmx_world_switch(uint64_t *gprs, int launched);
extern const char vmx_exit_point[];

/* exit.c */
int vmx_handle_exit(struct vcpu *v);
const char *vmx_exit_name(uint32_t code);

/* ept.c */
int vmx_g2h(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift);
uint64_t vmx_nested_root(struct vcpu *v);
int vmx_npt_map(struct vm *vm, uint64_t gpa);
int vmx_npt_protect(struct vm *vm, uint64_t gpa, bool writable);
int vmx_npt_hide(struct vm *vm, uint64_t gpa, uint64_t size);
void vmx_invept(struct vmx_vm *b);

/* dump.c */
unsigned long vmx_vmcs_dump(struct vcpu *v, char *buf, unsigned long size);

#endif
