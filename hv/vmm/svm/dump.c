/* A readable dump of the VMCB and the GPRs, for every exit we do not expect
 * and for the client's `monitor vmcb`. */
#include <stdarg.h>

#include "lib/fmt.h"
#include "vmm/svm/svm.h"

#define X(v) ((unsigned long long)(v))

struct out {
    char *buf;
    unsigned long size, n;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    unsigned long room = o->n < o->size ? o->size - o->n : 0;
    o->n += (unsigned long)fmt_vsnprintf(o->buf + (o->n < o->size ? o->n : o->size), room, fmt, ap);
    va_end(ap);
}

static void seg(struct out *o, const char *name, const struct vmcb_seg *s)
{
    put(o, "  %-4s sel %04x attr %03x limit %08x base %016llx\n", name, s->selector, s->attrib,
        s->limit, X(s->base));
}

unsigned long svm_vmcb_dump(const struct vmcb *vmcb, const uint64_t *g, char *buf,
                            unsigned long size)
{
    const struct vmcb_control *c = &vmcb->control;
    const struct vmcb_save *s = &vmcb->save;
    struct out o = {buf, size, 0};

    put(&o, "--- VMCB at %p ---\n", (const void *)vmcb);
    put(&o, "  exit_code %llx exit_info_1 %llx exit_info_2 %llx exit_int_info %llx\n",
        X(c->exit_code), X(c->exit_info_1), X(c->exit_info_2), X(c->exit_int_info));
    put(&o, "  intercepts cr_r %04x cr_w %04x dr_r %04x dr_w %04x exc %08x misc1 %08x misc2 %08x\n",
        c->intercept_cr_read, c->intercept_cr_write, c->intercept_dr_read, c->intercept_dr_write,
        c->intercept_exceptions, c->intercept_misc1, c->intercept_misc2);
    put(&o, "  asid %u tlb_control %u v_intr %llx shadow %llx event_inj %llx np %llx ncr3 %llx\n",
        c->guest_asid, c->tlb_control, X(c->v_intr), X(c->interrupt_shadow), X(c->event_inj),
        X(c->np_enable), X(c->nested_cr3));
    put(&o, "  tsc_offset %llx virt_ext %llx\n", X(c->tsc_offset), X(c->virt_ext));
    put(&o, "  rip %016llx rsp %016llx rflags %016llx cpl %u\n", X(s->rip), X(s->rsp), X(s->rflags),
        s->cpl);
    put(&o, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n", X(s->cr0),
        X(s->cr2), X(s->cr3), X(s->cr4), X(s->efer));
    put(&o, "  dr6 %016llx dr7 %016llx pat %016llx dbgctl %llx\n", X(s->dr6), X(s->dr7),
        X(s->g_pat), X(s->dbgctl));
    seg(&o, "cs", &s->cs);
    seg(&o, "ds", &s->ds);
    seg(&o, "es", &s->es);
    seg(&o, "ss", &s->ss);
    seg(&o, "fs", &s->fs);
    seg(&o, "gs", &s->gs);
    seg(&o, "gdtr", &s->gdtr);
    seg(&o, "idtr", &s->idtr);
    seg(&o, "ldtr", &s->ldtr);
    seg(&o, "tr", &s->tr);
    put(&o, "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", X(s->rax), X(g[3]), X(g[1]),
        X(g[2]));
    put(&o, "  rsi %016llx rdi %016llx rbp %016llx\n", X(g[6]), X(g[7]), X(g[5]));
    put(&o, "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n", X(g[8]), X(g[9]), X(g[10]),
        X(g[11]));
    put(&o, "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n", X(g[12]), X(g[13]), X(g[14]),
        X(g[15]));
    put(&o, "--- end of VMCB ---\n");
    return o.n < size ? o.n : size;
}
