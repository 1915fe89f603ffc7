/*
 * vmm_main: the resident VMM starts here, relocated, on the boot CPU's
 * stack and the page tables setup built. It builds the machine (struct
 * vm: the backend, the owned ports and MSRs, the devices, the control
 * channel), the boot CPU's vCPU in the state the BIOS hands over in (real
 * mode at the stub setup wrote, 0000:0600) -- or, started by the UEFI
 * application, in the firmware's own state at its launch point -- and runs
 * it.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "common/palloc.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "vmm/backends.h"
#include "vmm/control/control.h"
#include "vmm/core/apic.h"
#include "vmm/core/intercepts.h"
#include "vmm/core/smp.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"
#include "vmm/host.h"

void vmm_main(struct boot_info *info);

struct fault_frame {
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
int vmm_host_fault(struct fault_frame *f);
extern const char safe_msr_insn_rd[], safe_msr_insn_wr[], safe_msr_fixup[];

/* The backend running, for the NMI handler's look at its idle HLT. */
static const struct backend_ops *backend;

/* Returns (to the stub, which resumes) only for what it can recover: an
 * MSR access that faulted on purpose, and an NMI (it is the VM's, or a
 * wake-up: the exit that follows decides). Anything else is a fault inside
 * the VMM itself, the one case that halts. */
int vmm_host_fault(struct fault_frame *f)
{
    uint64_t cr2;
    if (f->vector == X86_EXC_NMI) {
        if (rdmsr(MSR_GS_BASE)) /* this core's vCPU is set up (host.c) */
            __atomic_add_fetch(&this_vcpu()->nmis_in, 1, __ATOMIC_SEQ_CST);
        if (backend && f->rip == (uint64_t)backend->idle_hlt)
            f->rip += 1; /* the kick came before the HLT: do not sleep on it */
        return 1;
    }
    if (f->vector == X86_EXC_GP &&
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

static void __attribute__((noreturn)) fail(const char *why)
{
    log_printf("vmm: FATAL: %s\nvmm: halted\n", why);
    cpu_halt_forever();
    __builtin_unreachable();
}

/* The VM as the BIOS hands over to a boot sector: real mode, CS:IP at the
 * stub, SS:SP 0000:7C00, caching on. */
static void boot_state(struct vcpu *v)
{
    struct seg_state cs = {0, 0x9b, 0xffff, 0};
    v->ops->set_seg(v, SEG_CS, &cs);
    v->ops->set_rip(v, v->vm->info->vm_start_ip);
    v->ops->set_cr(v, 0, CR0_ET);
    v->gpr[GPR_RSP] = 0x7c00;
    v->gpr[GPR_RDX] = 0;
    struct seg_state idt = {0, 0, 0x3ff, 0}; /* the real-mode IVT */
    v->ops->set_seg(v, SEG_IDTR, &idt);
}

/* The VM as the firmware was at the UEFI application's launch point
 * (uefi/launch.S): long mode on the firmware's own GDT, IDT and page
 * tables; its next instruction returns EFI_SUCCESS to the boot manager. */
static void resume_state(struct vcpu *v)
{
    const struct boot_resume *r = &v->vm->info->resume;
    static const enum seg segs[BR_NSEGS] = {
        [BR_ES] = SEG_ES, [BR_CS] = SEG_CS, [BR_SS] = SEG_SS,     [BR_DS] = SEG_DS,
        [BR_FS] = SEG_FS, [BR_GS] = SEG_GS, [BR_LDTR] = SEG_LDTR, [BR_TR] = SEG_TR,
    };
    for (unsigned i = 0; i < BR_NSEGS; i++) {
        struct seg_state s = {r->seg[i].selector, r->seg[i].attrib, r->seg[i].limit,
                              r->seg[i].base};
        v->ops->set_seg(v, segs[i], &s);
    }
    struct seg_state gdt = {0, 0, r->gdt_limit, r->gdt_base},
                     idt = {0, 0, r->idt_limit, r->idt_base};
    v->ops->set_seg(v, SEG_GDTR, &gdt);
    v->ops->set_seg(v, SEG_IDTR, &idt);
    v->ops->set_efer(v, r->efer);
    v->ops->set_cr(v, 3, r->cr3);
    v->ops->set_cr(v, 4, r->cr4);
    v->ops->set_cr(v, 0, r->cr0);
    v->ops->set_msr(v, MSR_PAT, r->pat);
    v->ops->set_msr(v, MSR_KERNEL_GS_BASE, r->kernel_gs_base);
    v->ops->set_rflags(v, r->rflags);
    v->ops->set_rip(v, r->rip);
    lib_memcpy(v->gpr, r->gpr, sizeof(v->gpr));
    vcpu_intercepts_changed(v);
    log_printf("vmm: VM resumes the firmware in long mode at 0x%llx, cr3 0x%llx\n",
               (unsigned long long)r->rip, (unsigned long long)r->cr3);
}

#define STACK_PAGES 16

/* A vCPU with the VMM's side of its core (its host page, and a stack for
 * any core but the boot CPU, which is on setup's). */
static struct vcpu *create_vcpu(struct vm *vm, unsigned id, uint32_t apic_id)
{
    struct palloc *pool = &vm->info->palloc;
    struct vcpu *v = vm->ops->vcpu_create(vm, id);
    uint64_t stack = id ? palloc_pages(pool, STACK_PAGES) : 0;
    if (!v || !(v->host = (void *)palloc_pages(pool, 1)) || (id && !stack)) {
        log_printf("vmm: the VMM range is too small for vCPU %u\n", id);
        return 0;
    }
    v->stack_top = id ? stack + STACK_PAGES * 4096 : vm->info->stack_top;
    v->apic_id = apic_id;
    vm->vcpus[vm->nvcpus++] = v;
    return v;
}

void vmm_main(struct boot_info *info)
{
    log_init(&info->log);
    if (info->magic != BOOT_INFO_MAGIC)
        fail("bad boot info from setup");
    host_idt_init(info);
    /* FXSAVE/FXRSTOR of the VM's x87/SSE state (control/target.c) need
     * CR4.OSFXSR, and no #NM: CR0.TS and CR0.EM clear (APM Vol.2 §11.1). */
    uint64_t cr;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr | CR4_OSFXSR));
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr0" ::"r"(cr & ~(CR0_TS | CR0_EM)));
    log_printf("vmm: running at 0x%llx\nvmm: range 0x%016llx-0x%016llx (%llu KiB)\n",
               (unsigned long long)info->vmm_base, (unsigned long long)info->vmm_base,
               (unsigned long long)(info->vmm_base + info->vmm_size),
               (unsigned long long)(info->vmm_size >> 10));

    struct vm *vm = (struct vm *)palloc_pages(&info->palloc, (sizeof(struct vm) + 4095) / 4096);
    if (!vm)
        fail("the VMM range is too small for the machine's state");
    vm->info = info;
    vm->ops = (info->cpu_features & BOOT_CPU_VMX) ? &vmx_ops : &svm_ops;
    backend = vm->ops;
    log_printf("vmm: backend %s\n", vm->ops->name);
    if (vm->ops->vm_init(vm))
        fail("the backend's machine-wide state (see above; the VMM range may be too small)");
    vm_probe_caps(vm);
    vm_calibrate_tsc(vm);
    vm_init_intercepts(vm);
    a20_init(vm);

    struct vcpu *bsp = create_vcpu(vm, 0, 0);
    if (!bsp)
        fail("the VMM range is too small for the boot CPU's vCPU");
    host_cpu_init(bsp);
    bsp->ops->cpu_enable(bsp);
    if (info->vm_resume)
        resume_state(bsp);
    else
        boot_state(bsp);
    smp_start_aps(vm, create_vcpu);
    vm_init_apic(vm);
    control_init(vm);
    vcpu_run(bsp);
}
