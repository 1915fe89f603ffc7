/*
 * Enabling SVM and the VM loop. TSC rebasing (paper §6): the time spent in
 * the VMM between a #VMEXIT and the next VMRUN is taken off the VM's TSC
 * through tsc_offset (APM Vol.2 §15.30.5), so the VM does not see it.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "hw/x86.h"
#include "vmm/control/control.h"
#include "vmm/svm/svm.h"

void svm_run(struct svm_vcpu *s)
{
    struct vmcb *vmcb = s->vmcb;
    uint64_t vmcb_pa = (uint64_t)vmcb;

    /* APM Vol.2 §15.4: EFER.SVME on, and a host save area for VMRUN. */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, s->vcpu.info->hsave);
    log_printf("vmm: starting the VM\n");
    s->exit_tsc = rdtsc(); /* guest_tsc() before the first exit (ctrl_wait) */
    control_first_entry(&s->vcpu);

    for (;;) {
        vmcb->save.rax = s->vcpu.gpr[GPR_RAX];
        vmcb->save.rsp = s->vcpu.gpr[GPR_RSP];
        svm_vmrun(vmcb_pa, s->vcpu.gpr);
        uint64_t t_exit = rdtsc();
        s->exit_tsc = t_exit;
        s->vcpu.gpr[GPR_RAX] = vmcb->save.rax;
        s->vcpu.gpr[GPR_RSP] = vmcb->save.rsp;
        svm_handle_exit(s);
        vmcb->control.tsc_offset -= rdtsc() - t_exit;
    }
}
