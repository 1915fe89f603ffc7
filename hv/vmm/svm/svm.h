/*
 * The AMD SVM backend (AMD APM Vol.2 ch.15): a VMCB per vCPU, the I/O and
 * MSR permission maps and the nested page tables for the machine, the
 * world switch, and the exit table that turns SVM exit codes into the
 * neutral handlers of core/exits.h.
 */
#ifndef VMM_SVM_SVM_H
#define VMM_SVM_SVM_H

#include "hw/svm_exit.h"
#include "hw/vmcb.h"
#include "vmm/core/vm.h"

struct svm_vcpu {
    struct vcpu vcpu; /* first: a struct vcpu * is a struct svm_vcpu * */
    struct vmcb *vmcb;
    struct vmcb *host_vmcb; /* the VMM's FS/GS/TR/LDTR and syscall MSRs (VMSAVE/VMLOAD) */
    uint64_t hsave;         /* VM_HSAVE_PA: where VMRUN keeps the host state */
    bool injected_soft;     /* the last entry injected a software interrupt */
    bool lme;               /* the VM's EFER.LME (ops.c: in the VMCB only with CR0.PG) */
};

struct svm_vm {
    uint8_t *iopm;  /* 12 KiB, APM Vol.2 §15.10.1 */
    uint8_t *msrpm; /* 8 KiB, §15.11 */
    uint64_t npt_root;
    bool nrips; /* CPUID 8000_000A EDX[3]: next_rip is saved */
};

static inline struct svm_vcpu *to_svm(struct vcpu *v) { return (struct svm_vcpu *)v; }
static inline struct vmcb *vmcb_of(struct vcpu *v) { return to_svm(v)->vmcb; }
static inline struct svm_vm *svm_vm_of(struct vm *vm) { return (struct svm_vm *)vm->backend; }

extern const struct backend_ops svm_ops;

/* init.c: the machine-wide block, a vCPU, enabling SVM on a core. */
int svm_vm_init(struct vm *vm);
struct vcpu *svm_vcpu_create(struct vm *vm, unsigned id);
void svm_cpu_enable(struct vcpu *v);
void svm_idle(struct vcpu *v);
extern const char svm_idle_hlt[]; /* its HLT: an NMI taken there skips it */
void svm_init_state(struct vcpu *v);
uint64_t svm_switch_cost(struct vcpu *v, bool *steady);

/* enter.S: VMLOAD, VMRUN, VMSAVE on the guest's VMCB, then VMLOAD of the
 * host's; guest GPRs (but RAX/RSP, which live in the VMCB) are loaded from
 * and saved to gprs. */
void svm_world_switch(uint64_t vmcb_pa, uint64_t *gprs, uint64_t host_vmcb_pa);

/* exit.c */
int svm_handle_exit(struct vcpu *v);
const char *svm_exit_name(uint32_t code);

/* npt.c */
int svm_g2h(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift);
uint64_t svm_nested_root(struct vcpu *v);
int svm_npt_map(struct vm *vm, uint64_t gpa);
int svm_npt_protect(struct vm *vm, uint64_t gpa, bool writable);
int svm_npt_hide(struct vm *vm, uint64_t gpa, uint64_t size);

/* dump.c */
unsigned long svm_vmcb_dump(const struct vmcb *vmcb, const uint64_t *gprs, char *buf,
                            unsigned long size);

#endif
