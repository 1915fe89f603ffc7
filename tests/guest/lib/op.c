/* Running one operation (ops.h) in a mode, and its result as text. */
#include "tk.h"

void op_collect(struct opres *r)
{
    for (unsigned i = 0; i < 6; i++)
        r->out[i] = SH->out[i];
    r->nev = SH->p_nev < P_MAX_EV ? SH->p_nev : P_MAX_EV;
    for (unsigned i = 0; i < r->nev; i++) {
        r->ev[i].vec = SH->ev[i].vec;
        r->ev[i].err = SH->ev[i].err;
        r->ev[i].rel = SH->ev[i].rel;
        r->ev[i].dr6 = SH->ev[i].dr6;
    }
    r->len = SH->p_next - SH->p_insn;
}

void op_run4(const struct mode *m, unsigned code, unsigned flags, const uint64_t in[4],
             struct opres *r)
{
    SH->op_code = code;
    SH->op_flags = flags;
    SH->tfor = (flags & F_TF) ? RFLAGS_TF : 0;
    for (unsigned i = 0; i < 4; i++)
        SH->in[i] = in[i];
    for (unsigned i = 0; i < 6; i++)
        SH->out[i] = 0;
    SH->p_armed = 0;
    SH->p_nev = 0;
    SH->p_insn = SH->p_next = 0;
    m->exec();
    if (SH->op_bad)
        fatal("operation %u has no snippet in %s mode", code, m->name);
    tk_memset(r, 0, sizeof(*r));
    op_collect(r);
}

void op_run(const struct mode *m, unsigned code, unsigned flags, uint64_t a, uint64_t b, uint64_t c,
            struct opres *r)
{
    const uint64_t in[4] = {a, b, c, 0};
    op_run4(m, code, flags, in, r);
}

static const char *const exc_name[32] = {
    "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "CSO", "TS",
    "NP", "SS", "GP",  "PF", "15", "MF", "AC", "MC", "XM", "VE",  "CP",
    "22", "23", "24",  "25", "26", "27", "HV", "VC", "SX", "31",
};

static bool has_error_code(unsigned vec)
{
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
}

/*
 * Each event as "#GP(0x0)@insn": the vector, its error code, and where it
 * was taken relative to the instruction under test: "insn" (a fault, APM
 * Vol.2 §8.2: the saved rIP points at the faulting instruction), "next"
 * (a trap, or an interrupt taken after it), or "insn+N". A #DF has no
 * position: its saved rIP is undefined (APM Vol.2 §8.2.9).
 */
void fmt_events(char *buf, size_t size, const struct opres *r)
{
    size_t n = 0;
    if (!r->nev) {
        tk_snprintf(buf, size, "ok");
        return;
    }
    for (unsigned i = 0; i < r->nev && n < size; i++) {
        const struct probe_event *e = &r->ev[i];
        const char *sep = i ? " " : "";
        if (e->vec < 32 && has_error_code(e->vec))
            n += (size_t)tk_snprintf(buf + n, size - n, "%s#%s(0x%x)", sep, exc_name[e->vec],
                                     e->err);
        else if (e->vec < 32)
            n += (size_t)tk_snprintf(buf + n, size - n, "%s#%s", sep, exc_name[e->vec]);
        else
            n += (size_t)tk_snprintf(buf + n, size - n, "%s%s0x%x", sep,
                                     e->vec == VEC_OWN ? "int" : "irq", e->vec);
        if (n >= size || e->vec == X86_DF)
            continue;
        if (e->rel == 0)
            n += (size_t)tk_snprintf(buf + n, size - n, "@insn");
        else if (e->rel == (int32_t)r->len)
            n += (size_t)tk_snprintf(buf + n, size - n, "@next");
        else
            n += (size_t)tk_snprintf(buf + n, size - n, "@insn%s%d", e->rel > 0 ? "+" : "", e->rel);
        if (n < size && e->vec == X86_DB)
            n += (size_t)tk_snprintf(buf + n, size - n, " dr6=0x%x", e->dr6);
    }
}
