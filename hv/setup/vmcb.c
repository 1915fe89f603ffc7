/*
 * The VM: its VMCB (intercepts and first state), the I/O and MSR permission
 * maps, and the real-mode stub it starts in.
 */
#include "hw/vmcb.h"
#include "common/log.h"
#include "common/svm_maps.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "setup/setup.h"

extern const uint8_t stub_start[], stub_end[], stub_drive[];

static uint64_t alloc(struct boot_info *info, uint64_t pages)
{
    uint64_t p = palloc_pages(&info->palloc, pages);
    if (!p)
        setup_fail("the VMM range is too small for the VMCB and maps");
    return p;
}

static void hide_port(uint8_t *iopm, const struct log_target *t)
{
    if (t->kind == LOG_UART)
        iopm_set(iopm, t->port, 8, true);
    else if (t->kind == LOG_DEBUGCON)
        iopm_set(iopm, t->port, 1, true);
}

static void build_maps(struct boot_info *info)
{
    uint8_t *iopm = (uint8_t *)alloc(info, 3);
    uint8_t *msrpm = (uint8_t *)alloc(info, 2);

    iopm_set(iopm, 0x60, 1, true);  /* keyboard controller data */
    iopm_set(iopm, 0x64, 1, true);  /* keyboard controller command */
    iopm_set(iopm, 0x92, 1, true);  /* system control port A: A20, fast reset */
    iopm_set(iopm, 0xcf9, 1, true); /* reset control register */
    hide_port(iopm, &info->ctrl);
    hide_port(iopm, &info->log);

    msrpm_set(msrpm, MSR_EFER, true, true);
    msrpm_set(msrpm, MSR_VM_CR, true, true);
    msrpm_set(msrpm, MSR_VM_HSAVE_PA, true, true);
    info->iopm = (uint64_t)iopm;
    info->msrpm = (uint64_t)msrpm;
}

static void real_seg(struct vmcb_seg *s, uint16_t attrib)
{
    s->selector = 0;
    s->base = 0;
    s->limit = 0xffff;
    s->attrib = attrib;
}

/*
 * The VM starts in real mode at the stub, as if the BIOS had just handed
 * over (AMD APM Vol.2 §14.1.3 "Processor initialization state" for the
 * values a real-mode start expects).
 */
static void guest_initial_state(struct vmcb_save *s)
{
    real_seg(&s->cs, 0x9b); /* present, code, readable, accessed */
    real_seg(&s->ds, 0x93); /* present, data, writable, accessed */
    real_seg(&s->es, 0x93);
    real_seg(&s->ss, 0x93);
    real_seg(&s->fs, 0x93);
    real_seg(&s->gs, 0x93);
    real_seg(&s->ldtr, 0x82);
    real_seg(&s->tr, 0x83);
    s->gdtr.limit = 0xffff;
    s->idtr.limit = 0x3ff; /* the real-mode IVT at 0 */
    s->cr0 = CR0_ET;
    s->efer = EFER_SVME; /* required in the guest EFER by VMRUN (§15.5.1) */
    s->rflags = RFLAGS_FIXED;
    s->rip = STUB_BASE;
    s->rsp = 0x7c00;
    s->dr6 = 0xffff0ff0;
    s->dr7 = 0x400;
    s->g_pat = 0x0007040600070406ull; /* power-on PAT */
}

void setup_build_vm(struct boot_info *info)
{
    struct vmcb *vmcb = (struct vmcb *)alloc(info, 1);
    struct vmcb_control *c = &vmcb->control;

    info->vmcb = (uint64_t)vmcb;
    info->hsave = alloc(info, 1);
    build_maps(info);

    c->intercept_cr_write = (1u << 0) | (1u << 3) | (1u << 4);
    c->intercept_misc1 = SVM_INTERCEPT1_CPUID | SVM_INTERCEPT1_HLT | SVM_INTERCEPT1_IOIO_PROT |
                         SVM_INTERCEPT1_MSR_PROT | SVM_INTERCEPT1_SHUTDOWN |
                         SVM_INTERCEPT1_INVLPGA | SVM_INTERCEPT1_INTN | /* INTn: real mode */
                         SVM_INTERCEPT1_INTR; /* the control channel's periodic poll */
    c->intercept_misc2 = SVM_INTERCEPT2_ALL_SVM_INSN;
    c->iopm_base_pa = info->iopm;
    c->msrpm_base_pa = info->msrpm;
    c->guest_asid = 1;
    c->tlb_control = SVM_TLB_CONTROL_FLUSH_ALL;
    c->np_enable = SVM_NP_ENABLE;
    c->nested_cr3 = info->npt_root;
    guest_initial_state(&vmcb->save);

    /* The stub goes to conventional memory, with the drive it boots patched in. */
    uint64_t len = (uint64_t)(stub_end - stub_start);
    lib_memcpy((void *)STUB_BASE, stub_start, len);
    *(uint8_t *)(STUB_BASE + (stub_drive - stub_start)) = (uint8_t)info->boot_disk;
    log_printf("setup: VM starts in real mode at 0:%x, boots BIOS drive 0x%x\n", STUB_BASE,
               info->boot_disk);
}
