/* A readable dump of the VMCB and the GPRs, for every exit we do not expect. */
#include "common/log.h"
#include "vmm/svm/svm.h"

#define X(v) ((unsigned long long)(v))

static void seg(const char *name, const struct vmcb_seg *s)
{
    log_printf("  %-4s sel %04x attr %03x limit %08x base %016llx\n", name, s->selector, s->attrib,
               s->limit, X(s->base));
}

void svm_vmcb_dump(const struct vmcb *vmcb, const uint64_t *g)
{
    const struct vmcb_control *c = &vmcb->control;
    const struct vmcb_save *s = &vmcb->save;

    log_printf("--- VMCB at %p ---\n", (const void *)vmcb);
    log_printf("  exit_code %llx exit_info_1 %llx exit_info_2 %llx exit_int_info %llx\n",
               X(c->exit_code), X(c->exit_info_1), X(c->exit_info_2), X(c->exit_int_info));
    log_printf("  intercepts cr_r %04x cr_w %04x dr_r %04x dr_w %04x exc %08x misc1 %08x misc2 %08x\n",
               c->intercept_cr_read, c->intercept_cr_write, c->intercept_dr_read,
               c->intercept_dr_write, c->intercept_exceptions, c->intercept_misc1,
               c->intercept_misc2);
    log_printf("  asid %u tlb_control %u v_intr %llx shadow %llx event_inj %llx np %llx ncr3 %llx tsc_offset %llx\n",
               c->guest_asid, c->tlb_control, X(c->v_intr), X(c->interrupt_shadow), X(c->event_inj),
               X(c->np_enable), X(c->nested_cr3), X(c->tsc_offset));
    log_printf("  rip %016llx rsp %016llx rflags %016llx cpl %u\n", X(s->rip), X(s->rsp),
               X(s->rflags), s->cpl);
    log_printf("  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n", X(s->cr0),
               X(s->cr2), X(s->cr3), X(s->cr4), X(s->efer));
    log_printf("  dr6 %016llx dr7 %016llx pat %016llx dbgctl %llx\n", X(s->dr6), X(s->dr7),
               X(s->g_pat), X(s->dbgctl));
    seg("cs", &s->cs);
    seg("ds", &s->ds);
    seg("es", &s->es);
    seg("ss", &s->ss);
    seg("fs", &s->fs);
    seg("gs", &s->gs);
    seg("gdtr", &s->gdtr);
    seg("idtr", &s->idtr);
    seg("ldtr", &s->ldtr);
    seg("tr", &s->tr);
    log_printf("  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", X(s->rax), X(g[3]), X(g[1]),
               X(g[2]));
    log_printf("  rsi %016llx rdi %016llx rbp %016llx\n", X(g[6]), X(g[7]), X(g[5]));
    log_printf("  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n", X(g[8]), X(g[9]), X(g[10]),
               X(g[11]));
    log_printf("  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n", X(g[12]), X(g[13]),
               X(g[14]), X(g[15]));
    log_printf("--- end of VMCB ---\n");
}
