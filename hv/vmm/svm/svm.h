/* The AMD SVM backend: world switch, exit dispatch, vm_ops. */
#ifndef VMM_SVM_SVM_H
#define VMM_SVM_SVM_H

#include "hw/svm_exit.h"
#include "hw/vmcb.h"
#include "vmm/core/vcpu.h"

struct svm_vcpu {
    struct vcpu vcpu; /* first: a struct vcpu * is a struct svm_vcpu * */
    struct vmcb *vmcb;
    uint64_t exit_counts[SVM_EXIT_MAX];
    uint64_t exit_other; /* exit codes past the table */
    bool hlt_parked;     /* HLT let through natively; INTR intercept armed */
    uint64_t exit_tsc;   /* host TSC at the last #VMEXIT */
};

static inline struct svm_vcpu *to_svm(struct vcpu *v) { return (struct svm_vcpu *)v; }

extern const struct vm_ops svm_vm_ops;

/* vmrun.S: VMLOAD, VMRUN, VMSAVE on vmcb_pa; guest GPRs (but RAX/RSP, which
 * live in the VMCB) are loaded from and saved to gprs. */
void svm_vmrun(uint64_t vmcb_pa, uint64_t *gprs);

/* exit.c */
void svm_handle_exit(struct svm_vcpu *s);
const char *svm_exit_name(uint32_t code);

/* dump.c */
unsigned long svm_vmcb_dump(const struct vmcb *vmcb, const uint64_t *gprs, char *buf,
                            unsigned long size);

/* run.c: enables SVM and runs the VM forever. */
void svm_run(struct svm_vcpu *s) __attribute__((noreturn));

#endif
