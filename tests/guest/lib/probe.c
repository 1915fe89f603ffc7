/*
 * What every exception handler of the 32-bit and 64-bit parts does with an
 * event (the 16-bit part does the same in assembly, low16/low16.S):
 *  - an armed probe records it (vector, error code, position, DR6 for #DB);
 *  - a #DB returns where it was taken, with TF cleared (a single-step trap
 *    is taken after the instruction, APM Vol.2 §13.1.4);
 *  - any other exception resumes after the instruction under test, TF
 *    cleared: a fault leaves rIP at the faulting instruction;
 *  - INT VEC_OWN and the self-IPI return as they came.
 */
#include "tk.h"

static uintptr_t read_dr6(void)
{
    uintptr_t v;
    __asm__ volatile("mov %%dr6, %0" : "=r"(v));
    return v;
}

static void write_dr6(uintptr_t v) { __asm__ volatile("mov %0, %%dr6" ::"r"(v)); }

static void record(uint32_t vec, uint32_t err, uint64_t ip)
{
    uint32_t n = SH->p_nev;
    if (n >= P_MAX_EV)
        return;
    SH->ev[n].vec = vec;
    SH->ev[n].err = err;
    SH->ev[n].rel = (int32_t)((uint32_t)ip - SH->p_insn);
    SH->ev[n].dr6 = vec == X86_DB ? (uint32_t)read_dr6() : 0;
    SH->p_nev = n + 1;
}

bool probe_handle(uint32_t vec, uint32_t err, uint64_t *ip, uint64_t *flags)
{
    if (vec == 0xff) /* the local APIC's spurious vector: no EOI (Intel SDM Vol.3A §12.9) */
        return true;
    if (vec == VEC_IPI) {
        if (SH->p_armed)
            record(vec, 0, *ip);
        lapic_eoi();
        return true;
    }
    if (!SH->p_armed)
        return false;
    record(vec, err, *ip);
    if (vec == VEC_OWN)
        return true;
    *flags &= ~(uint64_t)RFLAGS_TF;
    if (vec == X86_DB) {
        write_dr6(0xffff0ff0); /* B0-B3 and BS are sticky: clear them (APM Vol.2 §13.1.1.3) */
        return true;
    }
    *ip = SH->p_next;
    return true;
}
