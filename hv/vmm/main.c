/*
 * vmm_main: the resident VMM starts here, relocated, on its own stack,
 * page tables and GDT (setup built them). It installs its exception
 * handlers, sets up the devices and the control channel, and runs the VM.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "vmm/control/control.h"
#include "vmm/devices/devices.h"
#include "vmm/svm/svm.h"

void vmm_main(struct boot_info *info);

extern const char vmm_exc_stubs[];
static struct svm_vcpu the_vcpu;

struct fault_frame {
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
int vmm_host_fault(struct fault_frame *f);
extern const char safe_msr_insn_rd[], safe_msr_insn_wr[], safe_msr_fixup[];

/* Returns (to the stub, which resumes) only for a fault it can recover. */
int vmm_host_fault(struct fault_frame *f)
{
    uint64_t cr2;
    if (f->vector == 13 &&
        (f->rip == (uint64_t)safe_msr_insn_rd || f->rip == (uint64_t)safe_msr_insn_wr)) {
        f->rip = (uint64_t)safe_msr_fixup;
        return 1;
    }
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    log_printf("vmm: FATAL host exception %llu, error 0x%llx, rip 0x%llx, rsp 0x%llx, cr2 0x%llx\n",
               (unsigned long long)f->vector, (unsigned long long)f->error,
               (unsigned long long)f->rip, (unsigned long long)f->rsp, (unsigned long long)cr2);
    log_printf("vmm: halted\n");
    cpu_halt_forever();
    return 0;
}

/* AMD APM Vol.2 §4.8.4: 64-bit interrupt gates, type 0xE, present, DPL 0. */
static void install_idt(struct boot_info *info)
{
    uint64_t *idt = (uint64_t *)info->idt;
    for (unsigned vec = 0; vec < 32; vec++) {
        uint64_t h = (uint64_t)vmm_exc_stubs + vec * 16;
        idt[vec * 2] =
            (h & 0xffff) | ((uint64_t)VMM_CS << 16) | (0x8eull << 40) | ((h >> 16 & 0xffff) << 48);
        idt[vec * 2 + 1] = h >> 32;
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {32 * 16 - 1, info->idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

void vmm_main(struct boot_info *info)
{
    log_init(&info->log);
    if (info->magic != BOOT_INFO_MAGIC) {
        log_printf("vmm: bad boot info from setup\n");
        cpu_halt_forever();
    }
    install_idt(info);
    /* FXSAVE/FXRSTOR of the VM's x87/SSE state (control/gdb_regs.c) need
     * CR4.OSFXSR, and no #NM: CR0.TS and CR0.EM clear (APM Vol.2 §11.1). */
    uint64_t cr;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr | (1ull << 9)));
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr0" ::"r"(cr & ~0xcull));
    log_printf("vmm: running at 0x%llx, range 0x%016llx-0x%016llx (%llu KiB)\n",
               (unsigned long long)info->vmm_base, (unsigned long long)info->vmm_base,
               (unsigned long long)(info->vmm_base + info->vmm_size),
               (unsigned long long)(info->vmm_size >> 10));

    struct vcpu *v = &the_vcpu.vcpu;
    v->ops = &svm_vm_ops;
    v->info = info;
    the_vcpu.vmcb = (struct vmcb *)info->vmcb;
    a20_init(v);
    control_init(v);
    svm_run(&the_vcpu);
}
