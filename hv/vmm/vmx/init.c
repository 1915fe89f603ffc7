/*
 * Bringing VMX up (SDM Vol.3C §23.7 "Enabling and Entering VMX
 * Operation", §25.11.5 "VMXON Region", ch.26 "VM Entries"): the machine's
 * bitmaps, EPT pointer and control settings, then on each core VMXON, the
 * vCPU's VMCS made current, its controls, host state and the VM's INIT
 * state.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "common/palloc.h"
#include "common/selectors.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "vmm/vmx/vmx.h"

static uint64_t alloc(struct vm *vm, uint64_t pages)
{
    return palloc_pages(&vm->info->palloc, pages);
}

void vmx_vmwrite_failed(uint64_t field, uint64_t val)
{
    log_printf("vmm: VMWRITE of field 0x%llx = 0x%llx failed (VM_INSTRUCTION_ERROR %llu)\n",
               (unsigned long long)field, (unsigned long long)val,
               (unsigned long long)vmread(VM_INSTRUCTION_ERROR));
}

/* SDM Vol.3D Appendix A.3-A.5: bits clear in the low half must be 1,
 * bits set in the high half may be 1. */
static struct vmx_ctl ctl(uint32_t msr)
{
    uint64_t m = rdmsr(msr);
    return (struct vmx_ctl){(uint32_t)m, (uint32_t)(m >> 32)};
}

static uint32_t adjust(const struct vmx_ctl *c, uint32_t want)
{
    return (want | c->must1) & c->may1;
}

int vmx_vm_init(struct vm *vm)
{
    struct vmx_vm *b = (struct vmx_vm *)alloc(vm, 1);
    if (!b)
        return -1;
    b->io_bitmap = (uint8_t *)alloc(vm, 2);
    b->msr_bitmap = (uint8_t *)alloc(vm, 1);
    if (!b->io_bitmap || !b->msr_bitmap)
        return -1;
    uint64_t basic = rdmsr(MSR_IA32_VMX_BASIC);
    bool true_ctls = basic & VMX_BASIC_TRUE_CTLS; /* Appendix A.2: the default1 bits may be 0 */
    b->revision = (uint32_t)(basic & VMX_BASIC_REVISION_MASK);
    b->pin = ctl(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS);
    b->proc = ctl(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS);
    b->proc2 = ctl(MSR_IA32_VMX_PROCBASED_CTLS2);
    b->exit = ctl(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS);
    b->entry = ctl(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS);
    b->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
    b->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
    b->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
    b->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
    b->misc = rdmsr(MSR_IA32_VMX_MISC);
    b->ept_cap = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
    b->timer = b->pin.may1 & PIN_BASED_VMX_PREEMPTION_TIMER;
    b->timer_shift = (unsigned)(b->misc & VMX_MISC_PREEMPTION_TIMER_RATE_MASK);
    b->vpid = (b->proc2.may1 & SECONDARY_EXEC_ENABLE_VPID) && (b->ept_cap & VMX_VPID_INVVPID_BIT);

    /* NMI exiting: the VMM's kicks (core/apic.c). The preemption timer is
     * the periodic exit source (§26.5.1). */
    b->pin_base =
        adjust(&b->pin, PIN_BASED_NMI_EXITING | (b->timer ? PIN_BASED_VMX_PREEMPTION_TIMER : 0));
    b->proc_base =
        adjust(&b->proc, CPU_BASED_USE_TSC_OFFSETTING | CPU_BASED_USE_IO_BITMAPS |
                             CPU_BASED_USE_MSR_BITMAPS | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
    /* RDTSCP, INVPCID and XSAVES raise #UD in the VM unless enabled
     * (§25.6.2, Table 25-7): the VM's CPUID offers them. */
    b->proc2_base = adjust(
        &b->proc2, SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_UNRESTRICTED_GUEST |
                       (b->vpid ? SECONDARY_EXEC_ENABLE_VPID : 0) | SECONDARY_EXEC_ENABLE_RDTSCP |
                       SECONDARY_EXEC_ENABLE_INVPCID | SECONDARY_EXEC_XSAVES);
    b->xsaves = b->proc2_base & SECONDARY_EXEC_XSAVES;
    b->exit_base = adjust(&b->exit, VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_SAVE_IA32_EFER |
                                        VM_EXIT_LOAD_IA32_EFER | VM_EXIT_SAVE_IA32_PAT |
                                        VM_EXIT_LOAD_IA32_PAT | VM_EXIT_SAVE_DEBUG_CONTROLS);
    b->entry_base = adjust(&b->entry, VM_ENTRY_LOAD_IA32_EFER | VM_ENTRY_LOAD_IA32_PAT |
                                          VM_ENTRY_LOAD_DEBUG_CONTROLS);
    if (!(b->exit_base & VM_EXIT_LOAD_IA32_EFER) || !(b->entry_base & VM_ENTRY_LOAD_IA32_EFER) ||
        !(b->exit_base & VM_EXIT_SAVE_IA32_EFER) || !(b->proc_base & CPU_BASED_USE_MSR_BITMAPS) ||
        !(b->proc_base & CPU_BASED_USE_IO_BITMAPS)) {
        log_printf("vmm: this CPU's VMX cannot switch EFER or use I/O and MSR bitmaps\n");
        return -1;
    }
    b->ept_root = vm->info->nested_root;
    b->eptp = b->ept_root | VMX_EPTP_MT_WB | VMX_EPTP_PWL_4;
    vm->backend = b;
    log_printf("vmm: vmx: pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x%s%s\n", b->pin_base,
               b->proc_base, b->proc2_base, b->exit_base, b->entry_base, b->vpid ? ", VPID" : "",
               b->timer ? ", preemption timer" : ", no preemption timer");
    return 0;
}

struct vcpu *vmx_vcpu_create(struct vm *vm, unsigned id)
{
    uint64_t counts_pages = (vmx_ops.exit_codes * sizeof(uint64_t) + 4095) / 4096;
    struct vmx_vcpu *s = (struct vmx_vcpu *)alloc(vm, (sizeof(*s) + 4095) / 4096);
    if (!s)
        return 0;
    s->vmxon = alloc(vm, 1);
    s->vmcs = alloc(vm, 1);
    s->vcpu.exit_counts = (uint64_t *)alloc(vm, counts_pages);
    if (!s->vmxon || !s->vmcs || !s->vcpu.exit_counts)
        return 0;
    s->vcpu.ops = &vmx_ops;
    s->vcpu.vm = vm;
    s->vcpu.id = id;
    /* The VMCS is made current and filled on the vCPU's own core
     * (vmx_cpu_enable): VMWRITE reaches only that core's current VMCS. */
    return &s->vcpu;
}

uint64_t vmx_hw_cr0(const struct vmx_vm *b, uint64_t val)
{
    /* §24.8 / Appendix A.7: unrestricted guest lets PE and PG be 0. */
    return (val | (b->cr0_fixed0 & ~(CR0_PE | CR0_PG))) & b->cr0_fixed1;
}

uint64_t vmx_hw_cr4(const struct vmx_vm *b, uint64_t val)
{
    return (val | b->cr4_fixed0) & b->cr4_fixed1; /* Appendix A.8: VMXE */
}

static void seg(enum seg s, uint16_t sel, uint64_t base, uint32_t ar)
{
    vmwrite(GUEST_ES_SELECTOR + 2 * s, sel);
    vmwrite(GUEST_ES_BASE + 2 * s, base);
    vmwrite(GUEST_ES_LIMIT + 2 * s, 0xffff);
    vmwrite(GUEST_ES_AR_BYTES + 2 * s, ar);
}

/*
 * The state after INIT (SDM Vol.3A §9.1.2, Table 9-1): real mode at
 * F000:FFF0 with caching disabled, every other register cleared, as the
 * svm backend sets it. A start-up IPI then moves CS:IP (core/smp.c), and
 * the boot CPU gets the BIOS's hand-over instead (vmm/main.c).
 */
void vmx_init_state(struct vcpu *v)
{
    struct vmx_vcpu *s = to_vmx(v);
    struct vmx_vm *b = vmx_vm_of(v->vm);
    uint32_t sig[4];

    lib_memset(v->gpr, 0, sizeof(v->gpr));
    seg(SEG_CS, 0xf000, 0xffff0000, 0x9b); /* present, code, readable, accessed */
    seg(SEG_DS, 0, 0, 0x93);               /* present, data, writable, accessed */
    seg(SEG_ES, 0, 0, 0x93);
    seg(SEG_SS, 0, 0, 0x93);
    seg(SEG_FS, 0, 0, 0x93);
    seg(SEG_GS, 0, 0, 0x93);
    seg(SEG_LDTR, 0, 0, 0x82);
    seg(SEG_TR, 0, 0, 0x83); /* §26.3.1.2: TR must be a busy TSS */
    vmwrite(GUEST_GDTR_BASE, 0);
    vmwrite(GUEST_GDTR_LIMIT, 0xffff);
    vmwrite(GUEST_IDTR_BASE, 0);
    vmwrite(GUEST_IDTR_LIMIT, 0xffff);
    s->ivt_trap = false;
    uint64_t cr0 = CR0_CD | CR0_NW | CR0_ET;
    vmwrite(CR0_READ_SHADOW, cr0);
    vmwrite(GUEST_CR0, vmx_hw_cr0(b, cr0));
    vmwrite(CR4_READ_SHADOW, 0);
    vmwrite(GUEST_CR4, vmx_hw_cr4(b, 0));
    vmwrite(GUEST_CR3, 0);
    __asm__ volatile("mov %0, %%cr2" ::"r"(0ull));
    vmwrite(GUEST_IA32_EFER, 0);
    vmwrite(VM_ENTRY_CONTROLS, b->entry_base & ~VM_ENTRY_IA32E_MODE);
    vmwrite(GUEST_RFLAGS, RFLAGS_FIXED);
    vmwrite(GUEST_RIP, 0xfff0);
    vmwrite(GUEST_RSP, 0);
    vmwrite(GUEST_DR7, DR7_FIXED);
    vmwrite(GUEST_IA32_DEBUGCTL, 0);
    vmwrite(GUEST_IA32_PAT, 0x0007040600070406ull); /* the power-on PAT */
    vmwrite(GUEST_SYSENTER_CS, 0);
    vmwrite(GUEST_SYSENTER_ESP, 0);
    vmwrite(GUEST_SYSENTER_EIP, 0);
    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
    vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
    vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    vmwrite(VM_ENTRY_INTR_INFO_FIELD, 0);
    cpuid_count(1, 0, sig);
    v->gpr[GPR_RDX] = sig[0]; /* EDX holds the processor signature after INIT */
    v->pending.type = EVENT_NONE;
    v->deferred.type = EVENT_NONE;
    s->injected_soft = false;
    s->flush = true;
    v->intercepts_dirty = true;
}

/* Waits for a kick: RFLAGS.IF is clear in the VMM after an exit, so only
 * an NMI ends the HLT (the NMI handler in vmm/main.c steps over it when
 * it interrupted the core right at it, so the caller looks again). The
 * VMCS is in memory meanwhile, for the control stub on another core to
 * reach (vmcs.c). */
void vmx_idle(struct vcpu *v)
{
    vmx_vmcs_put(v);
    vmx_unblock_nmi();
    /* A kick that came while the VMCS was put away (its NMI taken before
     * the HLT) is not slept on. apic_kick() counts it before it sends the
     * NMI, so only an NMI in the two instructions between this load and
     * the HLT is missed, as one between the caller's own check and the
     * HLT always could be. */
    if (!__atomic_load_n(&v->kicks, __ATOMIC_SEQ_CST))
        __asm__ volatile(".globl vmx_idle_hlt\n"
                         "vmx_idle_hlt: hlt" ::
                             : "memory");
    vmx_vmcs_load(v);
}

static uint64_t read_cr(int n)
{
    uint64_t val = 0;
    if (n == 0)
        __asm__ volatile("mov %%cr0, %0" : "=r"(val));
    else if (n == 3)
        __asm__ volatile("mov %%cr3, %0" : "=r"(val));
    else
        __asm__ volatile("mov %%cr4, %0" : "=r"(val));
    return val;
}

/* The host state each exit loads (§25.5, §28.5): the VMM's own CRs,
 * selectors, GDT, IDT, TSS and GS base (this_vcpu()), as this core has
 * them now (vmm/host.c set them up). */
static void host_state(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr, idtr;
    uint16_t tr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    __asm__ volatile("sidt %0" : "=m"(idtr));
    __asm__ volatile("str %0" : "=r"(tr));
    const uint64_t *gdt = (const uint64_t *)gdtr.base;
    uint64_t lo = gdt[tr / 8], hi = gdt[tr / 8 + 1];
    uint64_t tr_base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);

    vmwrite(HOST_CR0, read_cr(0));
    vmwrite(HOST_CR3, read_cr(3));
    vmwrite(HOST_CR4, read_cr(4));
    vmwrite(HOST_CS_SELECTOR, VMM_CS);
    vmwrite(HOST_SS_SELECTOR, VMM_DS);
    vmwrite(HOST_DS_SELECTOR, VMM_DS);
    vmwrite(HOST_ES_SELECTOR, VMM_DS);
    vmwrite(HOST_FS_SELECTOR, 0);
    vmwrite(HOST_GS_SELECTOR, 0);
    vmwrite(HOST_TR_SELECTOR, tr);
    vmwrite(HOST_FS_BASE, rdmsr(MSR_FS_BASE));
    vmwrite(HOST_GS_BASE, rdmsr(MSR_GS_BASE));
    vmwrite(HOST_TR_BASE, tr_base);
    vmwrite(HOST_GDTR_BASE, gdtr.base);
    vmwrite(HOST_IDTR_BASE, idtr.base);
    vmwrite(HOST_IA32_SYSENTER_CS, 0);
    vmwrite(HOST_IA32_SYSENTER_ESP, 0);
    vmwrite(HOST_IA32_SYSENTER_EIP, 0);
    vmwrite(HOST_IA32_EFER, rdmsr(MSR_EFER));
    vmwrite(HOST_IA32_PAT, rdmsr(MSR_PAT));
    vmwrite(HOST_RIP, (uint64_t)vmx_exit_point);
}

static void __attribute__((noreturn)) fail(struct vcpu *v, const char *what)
{
    log_printf("vmm: cpu%u: %s failed: VMX cannot run on this core\nvmm: halted\n", v->id, what);
    cpu_halt_forever();
    __builtin_unreachable();
}

/* On the vCPU's own core: VMX enabled (IA32_FEATURE_CONTROL locked with
 * VMX outside SMX if the firmware left it open; CR0 and CR4 with the
 * fixed bits of VMX operation, §23.8), VMXON, and the vCPU's VMCS current
 * and filled in. */
/* The execution controls, bitmaps and EPT of the current VMCS: the same
 * for the VM's VMCS and the throw-away one vmx_switch_cost() times, but for
 * the pin-based and entry controls and the VPID. Nothing queued, no MSR
 * lists, no shadow VMCS (§26.3.1.5), TSC offset 0. */
static void vmcs_controls(const struct vmx_vm *b, uint32_t pin, uint32_t entry, uint16_t vpid)
{
    vmwrite(PIN_BASED_VM_EXEC_CONTROL, pin);
    vmwrite(CPU_BASED_VM_EXEC_CONTROL, b->proc_base);
    vmwrite(SECONDARY_VM_EXEC_CONTROL, b->proc2_base);
    vmwrite(VM_EXIT_CONTROLS, b->exit_base);
    vmwrite(VM_ENTRY_CONTROLS, entry);
    vmwrite(EXCEPTION_BITMAP, 0);
    vmwrite(PAGE_FAULT_ERROR_CODE_MASK, 0);
    vmwrite(PAGE_FAULT_ERROR_CODE_MATCH, 0);
    vmwrite(CR3_TARGET_COUNT, 0);
    vmwrite(VM_EXIT_MSR_STORE_COUNT, 0);
    vmwrite(VM_EXIT_MSR_LOAD_COUNT, 0);
    vmwrite(VM_ENTRY_MSR_LOAD_COUNT, 0);
    vmwrite(VM_ENTRY_INTR_INFO_FIELD, 0);
    vmwrite(IO_BITMAP_A, (uint64_t)b->io_bitmap);
    vmwrite(IO_BITMAP_B, (uint64_t)b->io_bitmap + 4096);
    vmwrite(MSR_BITMAP, (uint64_t)b->msr_bitmap);
    vmwrite(EPT_POINTER, b->eptp);
    if (b->vpid)
        vmwrite(VIRTUAL_PROCESSOR_ID, vpid);
    if (b->xsaves)
        vmwrite(XSS_EXIT_BITMAP, 0);
    vmwrite(VMCS_LINK_POINTER, ~0ull);
    vmwrite(TSC_OFFSET, 0);
}

void vmx_cpu_enable(struct vcpu *v)
{
    struct vmx_vcpu *s = to_vmx(v);
    struct vmx_vm *b = vmx_vm_of(v->vm);
    uint32_t r[4];

    uint64_t fc = rdmsr(MSR_IA32_FEAT_CTL);
    if (!(fc & FEAT_CTL_LOCKED))
        wrmsr(MSR_IA32_FEAT_CTL, fc | FEAT_CTL_LOCKED | FEAT_CTL_VMX_OUTSIDE_SMX);
    else if (!(fc & FEAT_CTL_VMX_OUTSIDE_SMX))
        fail(v, "IA32_FEATURE_CONTROL (locked without VMX outside SMX on this core)");
    uint64_t cr0 = (read_cr(0) | b->cr0_fixed0) & b->cr0_fixed1;
    __asm__ volatile("mov %0, %%cr0" ::"r"(cr0));
    uint64_t cr4 = read_cr(4) | b->cr4_fixed0 | CR4_VMXE;
    /* XSETBV exits (§26.1.2): the VMM runs it for the VM, which needs
     * CR4.OSXSAVE here (exit.c). */
    cpuid_count(1, 0, r);
    if (r[2] & CPUID_1_ECX_XSAVE)
        cr4 |= CR4_OSXSAVE;
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr4 & b->cr4_fixed1));

    *(uint32_t *)s->vmxon = b->revision;
    *(uint32_t *)s->vmcs = b->revision;
    if (VMX_INSN("vmxon", s->vmxon))
        fail(v, "VMXON");
    if (VMX_INSN("vmclear", s->vmcs) || VMX_INSN("vmptrld", s->vmcs))
        fail(v, "VMCLEAR/VMPTRLD of its VMCS");
    s->home = VMCS_LOADED;
    s->tsc_offset = 0; /* vmcs_controls() */

    /* VPID 1: one address space, every vCPU runs the same VM. */
    vmcs_controls(b, b->pin_base, b->entry_base, 1);
    /* The VM owns no bit of CR0 or CR4: every write that changes one exits
     * (core emulates it), every read gets the shadow (§25.6.6), so the VM
     * sees neither VMXE nor the fixed bits. */
    vmwrite(CR0_GUEST_HOST_MASK, ~0ull);
    vmwrite(CR4_GUEST_HOST_MASK, ~0ull);
    host_state();
    s->launched = false;
    vmx_init_state(v);
}

/*
 * What a world switch costs on this core: a throw-away VMCS whose guest's
 * first instruction, CPUID, exits before it runs anything, timed round trip
 * by round trip; the cheapest is taken. Its guest runs 32-bit flat with
 * paging off on the machine's EPT tables (as the real one does), with its
 * own VPID and its four bytes of code at CALIB_CODE, in conventional memory
 * the VM has not used yet. The vCPU's own VMCS is current again after.
 */
#define CALIB_CODE 0x7000

static void calib_seg(enum seg s, uint16_t sel, uint32_t ar)
{
    vmwrite(GUEST_ES_SELECTOR + 2 * s, sel);
    vmwrite(GUEST_ES_BASE + 2 * s, 0);
    vmwrite(GUEST_ES_LIMIT + 2 * s, 0xffffffff);
    vmwrite(GUEST_ES_AR_BYTES + 2 * s, ar);
}

uint64_t vmx_switch_cost(struct vcpu *v, bool *steady)
{
    static const uint8_t code[] = {0x0f, 0xa2, 0xeb, 0xfc}; /* cpuid; jmp $-2 */
    struct vmx_vcpu *s = to_vmx(v);
    struct vmx_vm *b = vmx_vm_of(v->vm);
    uint64_t calib = alloc(v->vm, 1), gprs[GPR_COUNT] = {0}, best = ~0ull, worst = 0;

    if (!calib)
        return 0;
    *(uint32_t *)calib = b->revision;
    if (VMX_INSN("vmclear", calib) || VMX_INSN("vmptrld", calib)) {
        VMX_INSN("vmptrld", s->vmcs);
        return 0;
    }
    lib_memcpy((void *)CALIB_CODE, code, sizeof(code));
    vmcs_controls(b, b->pin_base & ~PIN_BASED_VMX_PREEMPTION_TIMER,
                  b->entry_base & ~VM_ENTRY_IA32E_MODE, 2);
    vmwrite(CR0_GUEST_HOST_MASK, 0);
    vmwrite(CR4_GUEST_HOST_MASK, 0);
    host_state();
    calib_seg(SEG_CS, 0x08, 0xc09b); /* 32-bit code, G */
    calib_seg(SEG_SS, 0x10, 0xc093);
    calib_seg(SEG_DS, 0x10, 0xc093);
    calib_seg(SEG_ES, 0x10, 0xc093);
    calib_seg(SEG_FS, 0x10, 0xc093);
    calib_seg(SEG_GS, 0x10, 0xc093);
    calib_seg(SEG_LDTR, 0, VMX_AR_UNUSABLE_MASK);
    vmwrite(GUEST_TR_SELECTOR, 0);
    vmwrite(GUEST_TR_BASE, 0);
    vmwrite(GUEST_TR_LIMIT, 0x67);
    vmwrite(GUEST_TR_AR_BYTES, 0x8b); /* §26.3.1.2: a busy 32-bit TSS */
    vmwrite(GUEST_GDTR_BASE, 0);
    vmwrite(GUEST_GDTR_LIMIT, 0);
    vmwrite(GUEST_IDTR_BASE, 0);
    vmwrite(GUEST_IDTR_LIMIT, 0);
    vmwrite(GUEST_CR0, vmx_hw_cr0(b, CR0_PE | CR0_ET));
    vmwrite(GUEST_CR3, 0);
    vmwrite(GUEST_CR4, vmx_hw_cr4(b, 0));
    vmwrite(GUEST_IA32_EFER, 0);
    vmwrite(GUEST_IA32_PAT, 0x0007040600070406ull);
    vmwrite(GUEST_IA32_DEBUGCTL, 0);
    vmwrite(GUEST_DR7, DR7_FIXED);
    vmwrite(GUEST_RFLAGS, RFLAGS_FIXED);
    vmwrite(GUEST_RIP, CALIB_CODE);
    vmwrite(GUEST_RSP, 0);
    vmwrite(GUEST_SYSENTER_CS, 0);
    vmwrite(GUEST_SYSENTER_ESP, 0);
    vmwrite(GUEST_SYSENTER_EIP, 0);
    vmwrite(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
    vmwrite(GUEST_INTERRUPTIBILITY_INFO, 0);
    vmwrite(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    int launched = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t t0 = rdtsc();
        int failed = vmx_world_switch(gprs, launched);
        uint64_t t = rdtsc() - t0;
        if (failed)
            break;
        launched = 1;
        if (VMX_EXIT_REASON_BASIC(vmread(VM_EXIT_REASON)) == EXIT_REASON_CPUID && t < best)
            best = t;
        if (i && t > worst) /* the first one was the VMLAUNCH */
            worst = t;
    }
    *steady = best == worst;
    if (best == ~0ull)
        log_printf("vmm: cpu%u: the calibration VM did not exit on CPUID (reason 0x%llx, "
                   "VM_INSTRUCTION_ERROR %llu)\n",
                   v->id, (unsigned long long)vmread(VM_EXIT_REASON),
                   (unsigned long long)vmread(VM_INSTRUCTION_ERROR));
    VMX_INSN("vmclear", calib);
    VMX_INSN("vmptrld", s->vmcs);
    return best == ~0ull ? 0 : best;
}
