/*
 * The machine and its cores as the VMM sees them, vendor-neutral.
 *
 *   struct vm     one per machine: the backend, the devices the VMM stands
 *                 in front of, the control session, the vCPUs.
 *   struct vcpu   one per core: the VM's registers the world switch keeps
 *                 (gpr[]), the event to inject, the exit counters, and the
 *                 backend's state (struct svm_vcpu / vmx_vcpu extend it).
 *
 * core/ reads and changes a vCPU only through its backend_ops table; the
 * backend (svm/ or vmx/) fills it in and turns its exit codes into calls of the
 * neutral handlers of core/exits.h. The code running on a core finds its
 * vCPU with this_vcpu().
 */
#ifndef VMM_CORE_VM_H
#define VMM_CORE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/boot_info.h"
#include "common/spinlock.h"
#include "vmm/core/caps.h"

#define VM_MAX_VCPUS 64

/* gpr[] is indexed by the x86 register number, as ModRM encodes it. */
enum gpr {
    GPR_RAX,
    GPR_RCX,
    GPR_RDX,
    GPR_RBX,
    GPR_RSP,
    GPR_RBP,
    GPR_RSI,
    GPR_RDI,
    GPR_R8,
    GPR_R9,
    GPR_R10,
    GPR_R11,
    GPR_R12,
    GPR_R13,
    GPR_R14,
    GPR_R15,
    GPR_COUNT
};

enum seg { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_GDTR, SEG_IDTR };

struct seg_state {
    uint16_t selector;
    uint16_t attrib; /* type|S|DPL|P in 7:0, AVL|L|DB|G in 11:8 (the VMCB's packing) */
    uint32_t limit;
    uint64_t base;
};

/* An event delivered to the VM at the next entry (APM Vol.2 §15.20,
 * SDM Vol.3C §27.6 "Event Injection"). */
enum event_type {
    EVENT_NONE,
    EVENT_INTR, /* external interrupt, vector from the APIC */
    EVENT_NMI,
    EVENT_EXCEPTION,  /* a fault or trap the CPU raises */
    EVENT_SOFT_INT,   /* INT n: rip already past the instruction */
    EVENT_SOFT_EXCPT, /* INT3 / INTO: rip already past the instruction */
};

struct x86_event {
    uint8_t type; /* enum event_type */
    uint8_t vector;
    bool has_err;
    uint32_t err;
};

/*
 * The intercepts one vCPU needs, computed from the policy and the client's
 * wishes by vcpu_recalc_intercepts() (core/intercepts.c). Ports and MSRs
 * are machine-wide: backend_ops.set_io_intercept / set_msr_intercept.
 */
struct intercepts {
    uint32_t exceptions; /* bit per vector */
    uint16_t cr_read;    /* bit per CR */
    uint16_t cr_write;
    bool dr;   /* MOV to/from DRn */
    bool intn; /* INT n */
    bool hlt;
    bool intr;  /* physical interrupts: the periodic poll */
    bool iret;  /* the end of the VM's interrupt handler */
    bool vintr; /* the VM's interrupt window (an event waits to be injected) */
};

/* The reason an exit gives the control channel to look at its line. */
enum poll_reason {
    POLL_EXIT, /* any exit: one in ctrl_poll looks */
    POLL_HLT,  /* the VM halts */
    POLL_TICK, /* a physical interrupt: the periodic source */
};

enum vcpu_state {
    VCPU_RUNNING,
    VCPU_WAIT_SIPI, /* after INIT: waits for a start-up IPI (APM Vol.2 §15.29) */
    VCPU_SHUTDOWN,  /* triple fault: nothing runs it again but a reset */
};

struct vcpu;
struct vm;
struct insn;

/* What core/ needs from a virtualization backend (svm/ or vmx/: setup
 * chooses by the CPU's vendor, BOOT_CPU_VMX). */
struct backend_ops {
    const char *name; /* "svm", "vmx" */
    /* --- the machine --- */
    /* The machine-wide block (vm->backend). Returns 0, or -1 (out of
     * memory, or the CPU lacks what the backend needs: logged). */
    int (*vm_init)(struct vm *vm);
    /* A vCPU in the INIT state, or 0 if out of memory. */
    struct vcpu *(*vcpu_create)(struct vm *vm, unsigned id);
    /* The HLT of idle(): an NMI taken right there steps over it. */
    const char *idle_hlt;
    /* Every physical interrupt exits while the intercepts ask (want.intr):
     * a VM halted on the hardware then runs nothing before an exit
     * (core/run.c: vcpu.halted_in_vm). */
    bool intr_exits;
    /* --- the VM's registers --- */
    uint64_t (*get_cr)(struct vcpu *v, unsigned n); /* 0, 2, 3, 4 */
    void (*set_cr)(struct vcpu *v, unsigned n, uint64_t val);
    uint64_t (*get_efer)(struct vcpu *v); /* the VM's view: the backend's own bits hidden */
    void (*set_efer)(struct vcpu *v, uint64_t val);
    uint64_t (*get_rip)(struct vcpu *v);
    void (*set_rip)(struct vcpu *v, uint64_t rip);
    uint64_t (*get_rflags)(struct vcpu *v);
    void (*set_rflags)(struct vcpu *v, uint64_t rflags);
    void (*get_seg)(struct vcpu *v, enum seg s, struct seg_state *out);
    void (*set_seg)(struct vcpu *v, enum seg s, const struct seg_state *in);
    uint64_t (*get_dr)(struct vcpu *v, unsigned n); /* 0-3, 6, 7 */
    void (*set_dr)(struct vcpu *v, unsigned n, uint64_t val);
    unsigned (*get_cpl)(struct vcpu *v);
    /* MSRs the backend keeps for the VM (in the VMCB on AMD). Return 0, or
     * -1 if the backend does not hold that MSR (it is then the hardware's). */
    int (*get_msr)(struct vcpu *v, uint32_t msr, uint64_t *val);
    int (*set_msr)(struct vcpu *v, uint32_t msr, uint64_t val);
    bool (*interrupt_shadow)(struct vcpu *v); /* after MOV SS / STI */
    void (*set_interrupt_shadow)(struct vcpu *v, bool on);
    /* The next entry takes no maskable interrupt before the VM's next
     * instruction: the stub's one-instruction step, which TF alone does
     * not give (an interrupt taken first clears TF and runs its handler
     * untraced, with the other vCPUs stopped). NULL where the backend
     * cannot (VT-x refuses an STI shadow with TF unless the step's #DB is
     * already pending, SDM Vol.3C §26.3.1.5). */
    void (*hold_interrupts)(struct vcpu *v);
    /* Flushes the VM's TLB on the next entry. */
    void (*flush_tlb)(struct vcpu *v);
    /* --- running it --- */
    /* On the vCPU's own core: enables the backend there. */
    void (*cpu_enable)(struct vcpu *v);
    /* The architectural state after INIT (APM Vol.2 §14.1.3). */
    void (*init_state)(struct vcpu *v);
    /* Waits on this core, in the VMM, until an NMI arrives. */
    void (*idle)(struct vcpu *v);
    /* Enters the VM and returns at its next exit, with v->entry_tsc and
     * v->exit_tsc read just before and after the world switch. */
    void (*enter)(struct vcpu *v);
    /* Dispatches the exit through the backend's table to core/exits.h.
     * Returns 0, or -1 for an exit nobody handles. */
    int (*handle_exit)(struct vcpu *v);
    /* The exit's code, and a name for it (counters, logs). */
    uint32_t (*exit_code)(struct vcpu *v);
    const char *(*exit_name)(uint32_t code);
    uint32_t exit_codes; /* counters are kept for codes below this */
    /* Length of the instruction that exited, 0 if the hardware does not
     * say (then core decodes it). */
    unsigned (*insn_len)(struct vcpu *v);
    /* Queues ev for the next entry (one at a time). */
    void (*inject)(struct vcpu *v, const struct x86_event *ev);
    /* Makes the hardware intercept what want lists on this vCPU. */
    void (*apply_intercepts)(struct vcpu *v, const struct intercepts *want);
    /* 0 if the hardware can intercept all of want, else what it cannot, in
     * words for the client (a backend whose CPU has no INT n intercept,
     * say): a filter that asks for it is refused, not silently dead. */
    const char *(*intercept_unsupported)(const struct vm *vm, const struct intercepts *want);
    /* Machine-wide I/O and MSR intercepts (shared permission maps). */
    void (*set_io_intercept)(struct vm *vm, uint16_t port, bool on);
    void (*set_msr_intercept)(struct vm *vm, uint32_t msr, bool read, bool write);
    /* Checks the state the next entry loads against the CPU's rules (APM
     * Vol.2 §15.5.1). Returns 0, or -1 with *why set, after making the
     * state valid again. */
    int (*check_state)(struct vcpu *v, const char **why);
    /* --- the backend's own policy --- */
    /* MSRs the backend owns: always intercepted, given to msr_access. */
    const uint32_t *owned_msrs;
    unsigned nowned_msrs;
    /* Hides the backend's features from a CPUID answer. */
    void (*cpuid_filter)(struct vcpu *v, uint32_t leaf, uint32_t sub, uint32_t r[4]);
    /* An MSR the backend owns (EFER.SVME, VM_CR, VM_HSAVE_PA on AMD).
     * Returns 1 if handled (*val read or written), 0 if not the backend's,
     * -1 for a #GP. */
    int (*msr_access)(struct vcpu *v, uint32_t msr, bool write, uint64_t *val);
    /* --- time --- */
    uint64_t (*get_tsc_offset)(struct vcpu *v);
    void (*set_tsc_offset)(struct vcpu *v, uint64_t off);
    /* The host TSC ticks a world switch (entry and exit, with nothing run
     * in the VM) takes at least on this core: measured once per vCPU.
     * *steady: every warm round trip took the same (a TSC that counts
     * instructions, as Bochs's does). */
    uint64_t (*switch_cost)(struct vcpu *v, bool *steady);
    /* --- nested paging --- */
    /* Walks the nested tables for gpa. Returns 0 with the host-physical
     * address, the leaf entry and its page shift; -1 if gpa is not mapped
     * (then *leaf is the entry that stopped the walk). */
    int (*g2h)(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift);
    /* The nested-paging root (host-physical), 0 if nested paging is off. */
    uint64_t (*nested_root)(struct vcpu *v);
    /* Maps the region around gpa (outside the VMM range) on demand.
     * Returns 0, or -1 if out of memory. */
    int (*npt_map)(struct vm *vm, uint64_t gpa);
    /* Makes the page at gpa read-only (writable: back to read-write) in
     * the nested tables. Returns 0 / -1. */
    int (*npt_protect)(struct vm *vm, uint64_t gpa, bool writable);
    /* Takes [gpa, gpa + size) out of the nested tables for good (a device
     * the VMM owns: vm->hidden). Returns 0 / -1. */
    int (*npt_hide)(struct vm *vm, uint64_t gpa, uint64_t size);
    /* --- debugging --- */
    bool (*lbr_supported)(struct vcpu *v);
    void (*lbr_enable)(struct vcpu *v, bool on);
    void (*lbr_read)(struct vcpu *v, uint64_t out[4]);
    /* The hardware state as text (a VMCB dump on AMD). */
    unsigned long (*dump)(struct vcpu *v, char *buf, unsigned long size);
};

/* The devices the VMM stands in front of (devices/). */
struct devices_state {
    bool a20;              /* last A20 state the VM asked for */
    bool kbd_wait_outport; /* i8042 got 0xD1: next 0x60 byte is the output port */
    uint64_t reset_attempts;
    /* the PCI function the VM must not see (devices/pci_hide.c) */
    bool pci_hidden;
    uint32_t pci_hidden_bdf;    /* bus << 8 | dev << 3 | fn */
    volatile uint32_t pci_addr; /* the last CONFIG_ADDRESS the VM wrote */
};

/* Guest-physical ranges besides the VMM's own that the nested tables
 * leave out: a load there gives all ones, a store vanishes (core/npf.c). */
struct hidden_range {
    uint64_t base, size;
    const char *what;
};
#define VM_HIDDEN_MAX 6

/* A port range the VMM owns, and what answers the VM's I/O there. */
typedef int owned_io_fn(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *val);
struct owned_port {
    uint16_t first, count;
    owned_io_fn *io;
};
#define OWNED_PORTS_MAX 16

struct vm_hooks;

struct vm {
    struct boot_info *info;
    const struct backend_ops *ops;
    void *backend; /* the backend's machine-wide block */
    const struct vm_hooks *hooks;
    void *ctrl; /* the control session (control/) */
    struct cpu_caps caps;
    uint64_t tsc_hz; /* measured against the PIT at start-up (core/tsc.c) */
    struct devices_state dev;
    uint64_t npf_hidden; /* VM accesses to the VMM range */
    struct owned_port owned[OWNED_PORTS_MAX];
    unsigned nowned;
    struct hidden_range hidden[VM_HIDDEN_MAX];
    unsigned nhidden;
    struct spinlock npt_lock; /* nested pages mapped on demand */
    uint64_t apic_base;       /* the local APICs' page (IA32_APIC_BASE) */
    unsigned nvcpus;
    struct vcpu *vcpus[VM_MAX_VCPUS];
};

struct vcpu {
    uint64_t gpr[GPR_COUNT]; /* offset 0: the world switch saves here */
    struct vcpu *self;       /* the host's GS base points here: this_vcpu() */
    const struct backend_ops *ops;
    struct vm *vm;
    unsigned id;      /* 0 is the boot CPU; gdb's thread id is id + 1 */
    uint32_t apic_id; /* its local APIC's ID */
    enum vcpu_state state;
    void *ctrl; /* the control stub's per-vCPU state */

    /* events: one waits to be injected, one to be re-delivered */
    struct x86_event pending;  /* injected at the next entry */
    struct x86_event deferred; /* an interrupt that waits for a window */
    bool intercepts_dirty;
    bool in_irq_handler; /* took a physical interrupt, its IRET not seen yet */
    bool hlt_parked;     /* HLT runs on the hardware until the next exit */
    uint64_t hlt_rip;    /* ...the HLT it runs */
    uint8_t hlt_len;
    /* In the VM, where it runs nothing but that HLT before its next exit
     * (core/run.c): as stopped as a parked vCPU, for the control stub. */
    volatile bool halted_in_vm;
    bool out_of_halt;    /* this exit came while it was halted_in_vm */
    bool exit_halted;    /* ...and woke it out of that HLT */
    bool kick_woke_halt; /* ...and it was a kick: back into the HLT */
    bool hlt_rewound;    /* entered at the HLT again for that */
    enum poll_reason poll;

    /* the start-up protocol (core/smp.c), and the VMM's own NMIs */
    struct spinlock ipi_lock;
    volatile bool init_pending; /* an INIT the VM sent it, not taken yet */
    volatile bool sipi_pending; /* a start-up IPI after that INIT */
    volatile uint8_t sipi_vector;
    volatile uint32_t kicks;   /* kicks the VMM sent it, not taken yet (apic_kick) */
    volatile uint32_t nmis_in; /* NMIs that came to the core since the last look */
    uint32_t kick_nmis_owed;   /* kicks taken whose NMI has not come yet */
    uint64_t owed_tsc;         /* when the last of them was taken, */
    uint64_t owed_exits;       /* ...and at which of its exits */
    /* its xAPIC's registers the VMM follows (core/apic.c) */
    uint32_t icr_hi;
    uint32_t ldr, dfr;

    /* the VM's debug registers, while the stub uses the hardware's */
    bool dr_shadowed;
    uint64_t dr_guest[8];

    /* time (core/run.c) */
    uint64_t exit_tsc;    /* host TSC at the last exit */
    uint64_t switch_cost; /* the cheapest world switch seen (calibrated, then every exit) */
    uint64_t entry_tsc;   /* host TSC just before the last entry */
    uint64_t rebase_tsc;  /* host TSC when the last rebase read it */
    uint64_t tail_cost;   /* the cheapest rebase-to-entry path seen */
    bool switch_steady;   /* every calibration round trip took switch_cost */
    uint64_t tsc_debt;    /* VMM time hidden from the VM since it was last repaid */
    uint64_t stop_ticks;  /* of this exit's handling, the time the VM was stopped for a client */

    /* the VMM's own side of the core (vmm/host.c) */
    uint64_t stack_top;
    volatile bool started; /* it runs the VMM (core/smp.c) */
    void *host;

    /* counters */
    uint64_t exits;
    uint64_t exit_other;   /* codes at or past backend_ops.exit_codes */
    uint64_t *exit_counts; /* backend_ops.exit_codes entries */
    uint64_t vmm_faults;   /* exits the VMM could not handle */
    uint64_t npf_logged;   /* its accesses to the VMM range, for the log's limit */
};

_Static_assert(__builtin_offsetof(struct vcpu, gpr) == 0, "the world switch saves GPRs at 0");

/* The vCPU of the core this code runs on (the host's GS base points at its
 * `self` field: vmm/host.c). */
static inline struct vcpu *this_vcpu(void)
{
    struct vcpu *v;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(v));
    return v;
}

#endif
