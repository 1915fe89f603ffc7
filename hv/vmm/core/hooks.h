/*
 * What core/ reports, and to whom: the control subsystem registers a table
 * of hooks at start-up (vm->hooks). core/ never calls control/ by name;
 * with no hooks registered, every event is simply not reported.
 */
#ifndef VMM_CORE_HOOKS_H
#define VMM_CORE_HOOKS_H

#include "vmm/core/vm.h"

/* Something the VM did that a client may filter on. */
enum vm_event_kind {
    VME_CR_WRITE,  /* cr, old, val */
    VME_CR_READ,   /* cr */
    VME_CPUID,     /* leaf, sub */
    VME_MSR,       /* msr, write, val */
    VME_IO,        /* port, size, in, val */
    VME_INTN,      /* vec, ax, at: at the INT, before it runs */
    VME_NPF,       /* gpa, write: the VM touched the VMM's range */
    VME_RESET,     /* how: a reset attempt the VMM blocked */
    VME_SHUTDOWN,  /* the VM triple-faulted */
    VME_VMM_FAULT, /* an exit the VMM could not handle: what */
};

struct vm_event {
    enum vm_event_kind kind;
    union {
        struct {
            unsigned cr;
            uint64_t old, val;
        } cr;
        struct {
            uint32_t leaf, sub;
        } cpuid;
        struct {
            uint32_t msr;
            bool write;
            uint64_t val;
        } msr;
        struct {
            uint16_t port;
            uint8_t size;
            bool in;
            uint32_t val;
        } io;
        struct {
            uint8_t vec;
            uint16_t ax;
            uint64_t at;
        } intn;
        struct {
            uint64_t gpa;
            bool write;
        } npf;
        const char *how;  /* VME_RESET */
        const char *what; /* VME_VMM_FAULT, VME_SHUTDOWN */
    };
};

struct vm_hooks {
    /* An event: the hook records a stop if a client filters it. */
    void (*event)(struct vcpu *v, const struct vm_event *e);
    /* After each exit: the control channel may take the VM. */
    void (*poll)(struct vcpu *v, enum poll_reason why);
    /* Before the boot CPU's first entry (ctrl_wait). */
    void (*first_entry)(struct vcpu *v);
    /* Adds what the client needs to the intercepts. */
    void (*intercepts)(struct vcpu *v, struct intercepts *want);
    /* An intercepted exception: returns true if the stub consumed it (its
     * own #DB or #BP), false to let the VM have it. */
    bool (*exception)(struct vcpu *v, unsigned vec, uint32_t err, uint64_t info2);
    /* An INT3 at rip that may be one of the stub's breakpoints (TCG reports
     * INT3 as an INT n exit): returns true if it was. */
    bool (*swbreak)(struct vcpu *v);
    /* A MOV to/from DRn while the stub owns the debug registers: returns
     * true if the stub emulated it. */
    bool (*dr_access)(struct vcpu *v, bool write, unsigned dr, unsigned gpr);
    /* The VMM completed an instruction with TF set: returns true if that
     * is the stub's step (it then reports it), false for the VM's own TF. */
    bool (*step_completed)(struct vcpu *v);
    /* Whether the stub owns the debug registers (the VM's are shadowed). */
    bool (*owns_dr)(struct vcpu *v);
};

/* Reports e to the hooks, if any. */
void vm_notify(struct vcpu *v, const struct vm_event *e);

#endif
