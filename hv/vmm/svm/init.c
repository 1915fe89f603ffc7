/*
 * Bringing SVM up: the machine's permission maps and nested tables, a
 * VMCB per vCPU in the architectural INIT state, and SVM enabled on each
 * core (APM Vol.2 §15.4 "Enabling SVM").
 */
#include "common/cpu.h"
#include "common/log.h"
#include "common/palloc.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "vmm/svm/svm.h"

static uint64_t alloc(struct vm *vm, uint64_t pages)
{
    return palloc_pages(&vm->info->palloc, pages);
}

int svm_vm_init(struct vm *vm)
{
    struct svm_vm *b = (struct svm_vm *)alloc(vm, 1);
    uint32_t r[4];
    if (!b)
        return -1;
    b->iopm = (uint8_t *)alloc(vm, 3);
    b->msrpm = (uint8_t *)alloc(vm, 2);
    if (!b->iopm || !b->msrpm)
        return -1;
    b->npt_root = vm->info->nested_root;
    cpuid_count(0x8000000a, 0, r);
    b->nrips = r[3] & CPUID_8000000A_EDX_NRIPS;
    vm->backend = b;
    return 0;
}

struct vcpu *svm_vcpu_create(struct vm *vm, unsigned id)
{
    uint64_t counts_pages = (svm_ops.exit_codes * sizeof(uint64_t) + 4095) / 4096;
    struct svm_vcpu *s = (struct svm_vcpu *)alloc(vm, (sizeof(*s) + 4095) / 4096);
    if (!s)
        return 0;
    s->vmcb = (struct vmcb *)alloc(vm, 1);
    s->host_vmcb = (struct vmcb *)alloc(vm, 1);
    s->hsave = alloc(vm, 1);
    s->vcpu.exit_counts = (uint64_t *)alloc(vm, counts_pages);
    if (!s->vmcb || !s->host_vmcb || !s->hsave || !s->vcpu.exit_counts)
        return 0;
    s->vcpu.ops = &svm_ops;
    s->vcpu.vm = vm;
    s->vcpu.id = id;

    struct vmcb_control *c = &s->vmcb->control;
    struct svm_vm *b = svm_vm_of(vm);
    c->iopm_base_pa = (uint64_t)b->iopm;
    c->msrpm_base_pa = (uint64_t)b->msrpm;
    c->guest_asid = 1; /* one address space: every vCPU runs the same VM */
    c->tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
    c->np_enable = SVM_NP_ENABLE;
    c->nested_cr3 = b->npt_root;
    c->intercept_misc2 = SVM_INTERCEPT2_ALL_SVM_INSN;
    svm_init_state(&s->vcpu);
    return &s->vcpu;
}

static void seg(struct vmcb_seg *s, uint16_t sel, uint64_t base, uint16_t attrib)
{
    s->selector = sel;
    s->base = base;
    s->limit = 0xffff;
    s->attrib = attrib;
}

/*
 * The state after INIT (APM Vol.2 §14.1.3, Table 14-1 "Initial Processor
 * State"; SDM Vol.3A §9.1.2, Table 9-1): real mode at F000:FFF0 with
 * caching disabled, every other register cleared. A start-up IPI then
 * moves CS:IP (core/smp.c), and the boot CPU gets the BIOS's hand-over
 * instead (vmm/main.c).
 */
void svm_init_state(struct vcpu *v)
{
    struct vmcb_save *s = &vmcb_of(v)->save;
    uint32_t sig[4];

    lib_memset(s, 0, sizeof(*s));
    lib_memset(v->gpr, 0, sizeof(v->gpr));
    seg(&s->cs, 0xf000, 0xffff0000, 0x9b); /* present, code, readable, accessed */
    seg(&s->ds, 0, 0, 0x93);               /* present, data, writable, accessed */
    seg(&s->es, 0, 0, 0x93);
    seg(&s->ss, 0, 0, 0x93);
    seg(&s->fs, 0, 0, 0x93);
    seg(&s->gs, 0, 0, 0x93);
    seg(&s->ldtr, 0, 0, 0x82);
    seg(&s->tr, 0, 0, 0x83);
    s->gdtr.limit = 0xffff;
    s->idtr.limit = 0xffff;
    s->cr0 = CR0_CD | CR0_NW | CR0_ET;
    s->efer = EFER_SVME; /* the VM's EFER.SVME stays set for VMRUN (§15.5.1), hidden */
    s->rflags = RFLAGS_FIXED;
    s->rip = 0xfff0;
    s->dr6 = DR6_FIXED;
    s->dr7 = DR7_FIXED;
    s->g_pat = 0x0007040600070406ull; /* the power-on PAT */
    cpuid_count(1, 0, sig);
    v->gpr[GPR_RDX] = sig[0]; /* EDX holds the processor signature after INIT */
    to_svm(v)->lme = false;
    v->pending.type = EVENT_NONE;
    v->deferred.type = EVENT_NONE;
    vmcb_of(v)->control.event_inj = 0;
    vmcb_of(v)->control.interrupt_shadow = 0;
    vmcb_of(v)->control.tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
}

/* GIF is clear in the VMM after an exit: set for a moment, an NMI can
 * wake the HLT (IF stays clear: no interrupt is taken here). */
/*
 * Waits for a kick (an NMI). STGI lets a pending NMI in at once (APM Vol.2
 * §15.17 "Global Interrupt Flag"), before the HLT: a kick sent between the
 * caller's last look and here would be taken and the HLT would then sleep
 * on. The NMI handler (vmm/main.c) steps over the HLT when it interrupted
 * the core right at it, so the caller looks again.
 */
void svm_idle(struct vcpu *v)
{
    __asm__ volatile("stgi\n"
                     ".globl svm_idle_hlt\n"
                     "svm_idle_hlt: hlt\n"
                     "clgi" ::
                         : "memory");
}

/* On the vCPU's own core: EFER.SVME, the host save area, and the VMM's
 * own VMLOAD state (saved once here, loaded after every exit). */
void svm_cpu_enable(struct vcpu *v)
{
    struct svm_vcpu *s = to_svm(v);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, s->hsave);
    __asm__ volatile("vmsave %0" ::"a"((uint64_t)s->host_vmcb) : "memory");
}

/*
 * What a world switch costs on this core: a throw-away VM whose first
 * instruction, CPUID, is intercepted -- it exits before running anything --
 * timed round trip by round trip; the cheapest of them is taken. That VM
 * runs 32-bit flat with paging off, on the machine's nested tables (as the
 * real one does: they cost the switch most of its time under TCG), with
 * its own ASID and its four bytes of code at CALIB_CODE, in conventional
 * memory the VM has not used yet.
 */
#define CALIB_CODE 0x7000

uint64_t svm_switch_cost(struct vcpu *v, bool *steady)
{
    static const uint8_t code[] = {0x0f, 0xa2, 0xeb, 0xfc}; /* cpuid; jmp $-2 */
    struct vm *vm = v->vm;
    struct vmcb *vmcb = (struct vmcb *)alloc(vm, 1);
    uint8_t *page = (uint8_t *)CALIB_CODE;
    uint64_t gprs[GPR_COUNT] = {0}, best = ~0ull, worst = 0;

    if (!vmcb)
        return 0;
    lib_memcpy(page, code, sizeof(code));
    struct vmcb_control *c = &vmcb->control;
    struct vmcb_save *s = &vmcb->save;
    c->intercept_misc1 = SVM_INTERCEPT1_CPUID;
    c->intercept_misc2 = SVM_INTERCEPT2_VMRUN;
    c->iopm_base_pa = (uint64_t)svm_vm_of(vm)->iopm;
    c->msrpm_base_pa = (uint64_t)svm_vm_of(vm)->msrpm;
    c->guest_asid = 2;
    c->tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
    c->np_enable = SVM_NP_ENABLE;
    c->nested_cr3 = svm_vm_of(vm)->npt_root;
    seg(&s->cs, 0x08, 0, 0xc9b);
    seg(&s->ss, 0x10, 0, 0xc93);
    seg(&s->ds, 0x10, 0, 0xc93);
    s->cs.limit = s->ss.limit = s->ds.limit = 0xffffffff;
    s->cr0 = CR0_PE | CR0_ET;
    s->efer = EFER_SVME;
    s->rflags = RFLAGS_FIXED;
    s->rip = (uint64_t)page;
    s->dr6 = DR6_FIXED;
    s->dr7 = DR7_FIXED;
    s->g_pat = 0x0007040600070406ull;
    for (int i = 0; i < 64; i++) {
        uint64_t t0 = rdtsc();
        svm_world_switch((uint64_t)vmcb, gprs, (uint64_t)to_svm(v)->host_vmcb);
        uint64_t t = rdtsc() - t0;
        if ((uint32_t)c->exit_code == SVM_EXIT_CPUID && t < best)
            best = t;
        if (i && t > worst) /* the first one flushed the TLB */
            worst = t;
        c->tlb_control = SVM_TLB_CONTROL_DO_NOTHING;
    }
    *steady = best == worst;
    return best == ~0ull ? 0 : best;
}
