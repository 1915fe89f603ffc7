/*
 * The check families both parts run, each in the mode of its group. A
 * check runs one or a few operations (ops.h) and prints one RFXT line.
 *
 * Register writes print old= (the value before) and rd= (read back after):
 * a write that faults must leave the register as it was (APM Vol.2 §8.2,
 * a fault is reported before the instruction changes any state).
 *
 * tcg_quirks: the few writes QEMU's TCG does not survive (docs/conformance.md,
 * "QEMU TCG against the APM") are skipped with "skip tcg-quirk".
 */
#include "tk.h"

#define SMAP 0x534d4150u /* "SMAP", INT 15h E820 (ACPI 6.4 §15.1) */

static bool code64(const struct mode *m) { return m->flags & M_CODE64; }

static void name_bit(char *buf, size_t size, unsigned bit) { tk_snprintf(buf, size, "bit%u", bit); }

/* CR0 (APM Vol.2 §3.1.1): every bit alone, then the combinations MOV CR0
 * must refuse with #GP(0) (APM Vol.3 "MOV CRn", Intel SDM Vol.2B "MOV").
 * Bits 63:32 are reserved, must be zero. */
static void cr0_rule(const struct group *g, const char *check, uint64_t set, uint64_t clear,
                     bool tcg_unsafe)
{
    struct opres r;
    if (!check_begin(check))
        return;
    if (tcg_quirks && tcg_unsafe) {
        report_skip(check, "tcg-quirk");
        return;
    }
    op_run(g->mode, OP_wrcr0, 0, 0, set, clear, &r);
    report_op(check, &r, "old=0x%llx rd=0x%llx", r.out[1], r.out[0]);
}

void fam_cr0(const struct group *g)
{
    const struct mode *m = g->mode;
    unsigned nbits = code64(m) ? 64 : 32;
    struct opres r;
    char name[16];

    for (unsigned bit = 0; bit < nbits; bit++) {
        if (bit == 0 && (m->flags & M_REAL))
            continue; /* PE leaves real mode: lmsw.r.set_pe covers it */
        name_bit(name, sizeof(name), bit);
        if (!check_begin(name))
            continue;
        /* PG without PE: TCG enables paging in real mode and dies */
        if (tcg_quirks && bit == 31 && (m->flags & M_REAL)) {
            report_skip(name, "tcg-quirk");
            continue;
        }
        op_run(m, OP_wrcr0, 0, 0, 1ull << bit, 0, &r);
        report_op(name, &r, "old=0x%llx rd=0x%llx", r.out[1], r.out[0]);
    }
    if (!(m->flags & M_PROT))
        return;
    cr0_rule(g, "nw_no_cd", CR0_NW, CR0_CD, false);
    cr0_rule(g, "cd_nw", CR0_CD | CR0_NW, 0, false);
    /* APM Vol.2 §14.6.1: enabling paging with EFER.LME = 1 and CR4.PAE = 0 is #GP(0) */
    if (!(m->flags & (M_PAGING | M_CODE16)) && (cpu.e1_edx & CPUID_E1_EDX_LM) &&
        check_begin("pg_lme_no_pae")) {
        struct opres set;
        op_run(m, OP_wrmsr, F_KEEP, MSR_EFER, EFER_LME, 0, &set);
        op_run(m, OP_wrcr0, 0, 0, CR0_PG, 0, &r);
        op_run(m, OP_wrmsr, F_KEEP, MSR_EFER, 0, EFER_LME, &set);
        report_op("pg_lme_no_pae", &r, "old=0x%llx rd=0x%llx", r.out[1], r.out[0]);
    }
    /* PG without PE: TCG takes it and dies */
    cr0_rule(g, "pg_no_pe", CR0_PG, CR0_PE, true);
    /* Paging cannot be turned off in 64-bit mode (APM Vol.2 §14.7; Intel SDM Vol.2B MOV,
     * 64-bit mode exceptions): TCG leaves long mode under 64-bit code and dies. */
    if (code64(m))
        cr0_rule(g, "clear_pg", 0, CR0_PG, true);
}

/* CR3 (APM Vol.2 §3.1.2). Bits that would move the page-table root while
 * paging are not set (the next fetch would walk other tables): with PAE
 * only bits 4:0 are written, in long mode bits 11:0 and those from
 * MAXPHYADDR up, which are reserved (#GP(0)). */
void fam_cr3(const struct group *g)
{
    const struct mode *m = g->mode;
    struct opres r;
    char name[16];
    for (unsigned bit = 0; bit < 64; bit++) {
        bool high = false, want;
        if (m->flags & M_LONG) {
            high = code64(m) && bit >= cpu.maxphys;
            want = bit < 12 || high;
        } else if (m->flags & M_PAGING) {
            want = bit < 5;
        } else {
            want = bit < 32;
        }
        if (!want)
            continue;
        name_bit(name, sizeof(name), bit);
        if (!check_begin(name))
            continue;
        /* above MAXPHYADDR, TCG takes a #VMEXIT(ERR) outside any guest and hangs */
        if (tcg_quirks && high) {
            report_skip(name, "tcg-quirk");
            continue;
        }
        op_run(m, OP_wrcr3, 0, 0, 1ull << bit, 0, &r);
        report_op(name, &r, "old=0x%llx rd=0x%llx", r.out[1], r.out[0]);
    }
}

static void cr4_write(const struct group *g, const char *check, uint64_t set, uint64_t clear,
                      bool known, bool tcg_unsafe)
{
    struct opres r;
    if (!check_begin(check))
        return;
    if (tcg_quirks && tcg_unsafe) {
        report_skip(check, "tcg-quirk");
        return;
    }
    op_run(g->mode, OP_wrcr4, 0, 0, set, clear, &r);
    report_op(check, &r, "old=0x%llx rd=0x%llx cpu=%s", r.out[1], r.out[0],
              known ? "has" : "lacks");
}

/* CR4 (APM Vol.2 §3.1.3): every bit alone (a bit whose CPUID feature is
 * absent is reserved: #GP(0)), then the rules of MOV CR4 in long mode. */
void fam_cr4(const struct group *g)
{
    const struct mode *m = g->mode;
    unsigned nbits = code64(m) ? 64 : 32;
    bool compat = (m->flags & M_LONG) && !code64(m);
    char name[16];

    for (unsigned bit = 0; bit < nbits; bit++) {
        bool known = cr4_bit_known(bit);
        /* An absent feature's bit: TCG takes a #VMEXIT(ERR) outside any guest and hangs.
         * LA57 in compatibility mode: TCG checks only 64-bit mode and switches the
         * paging depth under running code. */
        bool unsafe = !known || (compat && bit == 12);
        name_bit(name, sizeof(name), bit);
        cr4_write(g, name, 1ull << bit, 0, known, unsafe);
    }
    if (m->flags & M_LONG)
        /* APM Vol.2 §14.6.1: CR4.PAE cannot be cleared while long mode is active */
        cr4_write(g, "clear_pae", 0, CR4_PAE, true, true);
    if (m->flags & M_LA57)
        /* Intel SDM Vol.2B MOV: LA57 cannot change while EFER.LMA = 1 */
        cr4_write(g, "clear_la57", 0, CR4_LA57, true, false);
    if (code64(m) && check_begin("pcide_pcid")) {
        /* PCIDE 0 -> 1 with CR3[11:0] != 0 is #GP(0) (Intel SDM Vol.3A §4.10.1) */
        bool known = cr4_bit_known(17);
        struct opres r, c;
        if (tcg_quirks && !known) {
            report_skip("pcide_pcid", "tcg-quirk");
        } else {
            op_run(m, OP_wrcr3, F_KEEP, 0, 1, 0, &c);
            op_run(m, OP_wrcr4, 0, 0, CR4_PCIDE, 0, &r);
            op_run(m, OP_wrcr3, F_KEEP, 0, 0, 1, &c);
            report_op("pcide_pcid", &r, "old=0x%llx rd=0x%llx cpu=%s", r.out[1], r.out[0],
                      known ? "has" : "lacks");
        }
    }
}

/* EFER by WRMSR (APM Vol.2 §3.1.7): every bit alone; then LME, which
 * cannot change while paging is on (APM Vol.2 §14.6.1). */
void fam_efer(const struct group *g)
{
    const struct mode *m = g->mode;
    struct opres r;
    char name[16];
    for (unsigned bit = 0; bit < 64; bit++) {
        name_bit(name, sizeof(name), bit);
        if (!check_begin(name))
            continue;
        op_run(m, OP_wrmsr, 0, MSR_EFER, 1ull << bit, 0, &r);
        report_op(name, &r, "old=0x%llx rd=0x%llx cpu=%s", r.out[1], r.out[0],
                  efer_bit_known(bit) ? "has" : "lacks");
    }
    if ((m->flags & M_LONG) && check_begin("lme_clear")) {
        op_run(m, OP_wrmsr, 0, MSR_EFER, 0, EFER_LME, &r);
        report_op("lme_clear", &r, "old=0x%llx rd=0x%llx", r.out[1], r.out[0]);
    }
}

static const char *const gpr64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const gpr32[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};

/* MOV CRn, reg and MOV reg, CRn with every general register (the ModRM
 * r/m field, REX.B for r8-r15): the intercepted write must take the value
 * from the register the instruction names. */
void fam_movcr(const struct group *g)
{
    static const unsigned crs[3] = {0, 3, 4};
    const struct mode *m = g->mode;
    unsigned nregs = code64(m) ? 16 : 8;
    struct opres r;
    char name[24];
    for (unsigned c = 0; c < 3; c++) {
        for (unsigned reg = 0; reg < nregs; reg++) {
            tk_snprintf(name, sizeof(name), "cr%u.%s", crs[c], code64(m) ? gpr64[reg] : gpr32[reg]);
            if (!check_begin(name))
                continue;
            op_run(m, OP_movcr, 0, c, reg, 0, &r);
            report_op(name, &r, "wr=0x%llx rd=0x%llx%s", r.out[1], r.out[0],
                      r.out[0] == r.out[1] ? "" : " differ");
        }
    }
}

static void msw(const struct group *g, const char *check, unsigned code, uint64_t set,
                uint64_t clear)
{
    struct opres r;
    if (!check_begin(check))
        return;
    op_run(g->mode, code, 0, 0, set, clear, &r);
    report_op(check, &r, "cr0=0x%llx old=0x%llx", r.out[0], r.out[1]);
}

static void smsw(const struct group *g, const char *check, unsigned code)
{
    struct opres r;
    uint64_t preset = code64(g->mode) ? 0xa5a5a5a5a5a5a5a5ull : 0xa5a5a5a5ull;
    if (!check_begin(check))
        return;
    op_run(g->mode, code, 0, 0, preset, 0, &r);
    report_op(check, &r, "val=0x%llx", r.out[0]);
}

/* SMSW, CLTS and LMSW (APM Vol.3 "LMSW": loads CR0[3:0], cannot clear PE;
 * "SMSW": CR0[15:0], a 32-bit register gets more on some CPUs; "CLTS").
 * The register forms come first: a VMM that cannot take a memory form
 * must not hide them. */
void fam_lmsw(const struct group *g)
{
    const struct mode *m = g->mode;
    smsw(g, "smsw.r16", OP_smsw_r16);
    smsw(g, "smsw.r32", OP_smsw_r32);
    if (code64(m))
        smsw(g, "smsw.r64", OP_smsw_r64);
    smsw(g, "smsw.m", OP_smsw_m);
    smsw(g, "smsw.mb", OP_smsw_mb);
    if (check_begin("clts")) {
        struct opres r;
        op_run(m, OP_clts, 0, 0, 0, 0, &r);
        report_op("clts", &r, "cr0=0x%llx old=0x%llx", r.out[0], r.out[1]);
    }
    msw(g, "lmsw.r.ts", OP_lmsw_r, CR0_TS, 0);
    msw(g, "lmsw.r.mp_em", OP_lmsw_r, CR0_MP | CR0_EM, 0);
    msw(g, "lmsw.r.high", OP_lmsw_r, 0xfff0, 0);
    if (m->flags & M_PROT)
        msw(g, "lmsw.r.clear_pe", OP_lmsw_r, 0, CR0_PE);
    else
        msw(g, "lmsw.r.set_pe", OP_lmsw_r, CR0_PE, 0);
    msw(g, "lmsw.m.ts", OP_lmsw_m, CR0_TS, 0);
    if (m->flags & M_PROT)
        msw(g, "lmsw.m.clear_pe", OP_lmsw_m, 0, CR0_PE);
    msw(g, "lmsw.mb.ts", OP_lmsw_mb, CR0_TS, 0);
    if (code64(m)) {
        msw(g, "lmsw.mr8.ts", OP_lmsw_mr8, CR0_TS, 0);
        msw(g, "lmsw.mrip.ts", OP_lmsw_mrip, CR0_TS, 0);
    }
}

static void tf(const struct group *g, const char *check, unsigned code, const uint64_t in[4])
{
    struct opres r;
    if (!check_begin(check))
        return;
    op_run4(g->mode, code, F_TF, in, &r);
    report_op(check, &r, "%s", "");
}

/*
 * RFLAGS.TF across the instructions a VMM intercepts: the single-step #DB
 * is a trap taken after the instruction, at the next one, with DR6.BS set
 * (APM Vol.2 §13.1.4; Intel SDM Vol.3B §18.3.1.4). Writes write the value
 * the register has. INT n clears TF for its handler; the handler's IRET
 * sets it again, and a TF set by IRET traps after the instruction that
 * follows (Intel SDM Vol.3A §2.3, EFLAGS.TF): after the one after the INT.
 */
void fam_tf(const struct group *g)
{
    const struct mode *m = g->mode;
    static const uint64_t none[4] = {0, 0, 0, 0};
    const uint64_t efer[4] = {MSR_EFER, 0, 0, 0};
    const uint64_t p92[4] = {0x92, 0, 0, 0};
    const uint64_t p64[4] = {0x64, 0, 0, 0};
    tf(g, "nop", OP_nop, none);
    tf(g, "smsw", OP_smsw_r16, none);
    tf(g, "cpuid", OP_cpuid, none);
    tf(g, "wrcr0", OP_wrcr0, none);
    tf(g, "wrcr3", OP_wrcr3, none);
    tf(g, "wrcr4", OP_wrcr4, none);
    tf(g, "lmsw", OP_lmsw_r, none);
    tf(g, "clts", OP_clts, none);
    tf(g, "rdmsr", OP_rdmsr, efer);
    tf(g, "wrmsr", OP_wrmsr, efer);
    tf(g, "in92", OP_in8, p92);
    tf(g, "in64", OP_in8, p64);
    if (check_begin("out92")) {
        struct opres r;
        op_run(m, OP_in8, 0, 0x92, 0, 0, &r);
        /* bit 0 is the fast reset: write the port's value without it */
        const uint64_t out[4] = {0x92, r.out[0] & 0xfe, 0, 0};
        op_run4(m, OP_out8, F_TF, out, &r);
        report_op("out92", &r, "%s", "");
    }
    tf(g, "int_own", OP_int_own, none);
    if (m->flags & M_REAL) {
        const uint64_t e820[4] = {0xe820, 0, 24, SMAP};
        tf(g, "int15_e820", OP_int15, e820);
    }
}

/* VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA (0F 01 D8-DF) with
 * EFER.SVME = 0: #UD (APM Vol.3, each instruction's exceptions). CLGI
 * comes before STGI, so a CPU that runs them (SKINIT present) ends with
 * GIF set. */
void fam_svm(const struct group *g)
{
    static const char *const names[8] = {"vmrun", "vmmcall", "vmload", "vmsave",
                                         "stgi",  "clgi",    "skinit", "invlpga"};
    static const unsigned order[8] = {0, 1, 2, 3, 5, 4, 6, 7};
    const struct mode *m = g->mode;
    struct opres r;
    for (unsigned i = 0; i < 8; i++) {
        unsigned k = order[i];
        if (!check_begin(names[k]))
            continue;
        op_run(m, OP_svm, 0, k, 0, 0, &r);
        report_op(names[k], &r, "%s", "");
    }
    if (check_begin("vm_cr")) {
        op_run(m, OP_rdmsr, 0, MSR_VM_CR, 0, 0, &r);
        report_op("vm_cr", &r, "val=0x%llx", r.out[0]);
    }
    if (check_begin("hsave_pa")) {
        op_run(m, OP_rdmsr, 0, MSR_VM_HSAVE_PA, 0, 0, &r);
        report_op("hsave_pa", &r, "val=0x%llx", r.out[0]);
    }
    if (check_begin("cpuid_e1")) {
        op_run(m, OP_cpuid, 0, 0x80000001, 0, 0, &r);
        report_op("cpuid_e1", &r, "svm=%u ecx=0x%08llx", (unsigned)(r.out[2] >> 2) & 1, r.out[2]);
    }
    if (check_begin("cpuid_ea")) {
        op_run(m, OP_cpuid, 0, 0x8000000a, 0, 0, &r);
        report_op("cpuid_ea", &r, "eax=0x%llx ebx=0x%llx ecx=0x%llx edx=0x%llx", r.out[0], r.out[1],
                  r.out[2], r.out[3]);
    }
}

/* The VMX instructions: #UD outside VMX operation (SDM Vol.3C ch.31), as
 * in a VM that must not see VMX; IA32_FEATURE_CONTROL and
 * IA32_VMX_BASIC as the CPU shows them; CPUID.1:ECX.VMX[bit 5]. */
void fam_vmx(const struct group *g)
{
    static const char *const names[6] = {"vmcall",   "vmlaunch", "vmresume",
                                         "vmxoff",   "vmread",   "vmwrite"};
    const struct mode *m = g->mode;
    struct opres r;
    for (unsigned k = 0; k < 6; k++) {
        if (!check_begin(names[k]))
            continue;
        op_run(m, OP_vmx, 0, k, 0, 0, &r);
        report_op(names[k], &r, "%s", "");
    }
    if (check_begin("feature_control")) {
        op_run(m, OP_rdmsr, 0, MSR_FEAT_CTL, 0, 0, &r);
        report_op("feature_control", &r, "val=0x%llx", r.out[0]);
    }
    if (check_begin("vmx_basic")) {
        op_run(m, OP_rdmsr, 0, MSR_VMX_BASIC, 0, 0, &r);
        report_op("vmx_basic", &r, "val=0x%llx", r.out[0]);
    }
    if (check_begin("cpuid_1")) {
        op_run(m, OP_cpuid, 0, 1, 0, 0, &r);
        report_op("cpuid_1", &r, "vmx=%u", (unsigned)(r.out[2] >> 5) & 1);
    }
}

static void mirror(const struct group *g, const char *check, uint32_t cr4_bit, uint32_t leaf,
                   unsigned reg, uint32_t bit, bool on)
{
    struct opres r, w;
    if (!check_begin(check))
        return;
    op_run(g->mode, OP_wrcr4, F_KEEP, 0, on ? cr4_bit : 0, on ? 0 : cr4_bit, &w);
    op_run(g->mode, OP_cpuid, 0, leaf, 0, 0, &r);
    uint64_t word = r.out[reg];
    op_run(g->mode, OP_wrcr4, F_KEEP, 0, 0, cr4_bit, &w);
    report_op(check, &r, "cr4=0x%llx bit=%u", w.out[1], (unsigned)(word & bit ? 1 : 0));
}

/* CPUID bits that mirror CR4 (APM Vol.3 Appendix E; Intel SDM Vol.2A CPUID):
 * leaf 1 ECX[27] OSXSAVE = CR4.OSXSAVE, leaf 7 ECX[4] OSPKE = CR4.PKE. */
void fam_cpuid(const struct group *g)
{
    if (cpu.l1_ecx & CPUID_1_ECX_XSAVE) {
        mirror(g, "osxsave.off", CR4_OSXSAVE, 1, 2, CPUID_1_ECX_OSXSAVE, false);
        mirror(g, "osxsave.on", CR4_OSXSAVE, 1, 2, CPUID_1_ECX_OSXSAVE, true);
        if (check_begin("xsave_size")) {
            struct opres r, w;
            op_run(g->mode, OP_wrcr4, F_KEEP, 0, CR4_OSXSAVE, 0, &w);
            op_run(g->mode, OP_cpuid, 0, 0xd, 0, 0, &r);
            op_run(g->mode, OP_wrcr4, F_KEEP, 0, 0, CR4_OSXSAVE, &w);
            report_op("xsave_size", &r, "ebx=0x%llx ecx=0x%llx", r.out[1], r.out[2]);
        }
    } else {
        report_skip("osxsave.off", "no-xsave");
        report_skip("osxsave.on", "no-xsave");
        report_skip("xsave_size", "no-xsave");
    }
    if (cpu.l7_ecx & CPUID_7_ECX_PKU) {
        mirror(g, "ospke.off", CR4_PKE, 7, 2, CPUID_7_ECX_OSPKE, false);
        mirror(g, "ospke.on", CR4_PKE, 7, 2, CPUID_7_ECX_OSPKE, true);
    } else {
        report_skip("ospke.off", "no-pku");
        report_skip("ospke.on", "no-pku");
    }
}

static void df_check(const struct group *g, const char *check, unsigned code, unsigned flags,
                     uint64_t a, uint64_t b)
{
    struct opres r;
    op_run(g->mode, code, flags, a, b, 0, &r);
    if (code == OP_pfread || code == OP_pfstack)
        report_op(check, &r, "cr2=0x%lx", (unsigned long)read_cr2());
    else
        report_op(check, &r, "%s", "");
}

/*
 * Exceptions during the delivery of an exception (APM Vol.2 §8.2.9,
 * Table 8-7; Intel SDM Vol.3A §7.15, Table 7-5): benign then contributory
 * is handled serially (the second is delivered); contributory then
 * contributory, and a page fault then a contributory exception or a page
 * fault, is a #DF (error code 0). Each check breaks one IDT gate (or the
 * IDT limit), runs an instruction that raises the first exception, and
 * mends the gate. The ones that deliver a #GP while delivering a #GP come
 * last: a VMM that loops on them never comes back.
 */
void fam_df(const struct group *g)
{
    const struct mode *m = g->mode;
    uint64_t hole = SH->hole;
    if (check_begin("ud_np_gate")) {
        idt_gate_present(X86_UD, false);
        df_check(g, "ud_np_gate", OP_ud2, 0, 0, 0);
        idt_gate_present(X86_UD, true);
    }
    if (check_begin("ud_bad_gate")) {
        idt_gate_type(X86_UD, 1);
        df_check(g, "ud_bad_gate", OP_ud2, 0, 0, 0);
        idt_gate_type(X86_UD, 0);
    }
    if (check_begin("db_np_gate")) {
        idt_gate_present(X86_DB, false);
        df_check(g, "db_np_gate", OP_nop, F_TF, 0, 0);
        idt_gate_present(X86_DB, true);
    }
    if (check_begin("gp"))
        df_check(g, "gp", OP_gpsel, 0, 0, 0);
    if (check_begin("gp_np_gate")) {
        idt_gate_present(X86_GP, false);
        df_check(g, "gp_np_gate", OP_gpsel, 0, 0, 0);
        idt_gate_present(X86_GP, true);
    }
    if (m->flags & M_PAGING) {
        if (check_begin("pf"))
            df_check(g, "pf", OP_pfread, 0, hole, 0);
        if (check_begin("pf_np_gate")) {
            idt_gate_present(X86_PF, false);
            df_check(g, "pf_np_gate", OP_pfread, 0, hole, 0);
            idt_gate_present(X86_PF, true);
        }
        if (check_begin("pf_bad_gate")) {
            idt_gate_type(X86_PF, 1);
            df_check(g, "pf_bad_gate", OP_pfread, 0, hole, 0);
            idt_gate_type(X86_PF, 0);
        }
    }
    if (code64(m)) {
        /* the stack pointer at the top of the hole: the frame push faults */
        if (check_begin("pf_stack"))
            df_check(g, "pf_stack", OP_pfstack, 0, hole, hole + 4096);
        if (check_begin("gp_stack"))
            df_check(g, "gp_stack", OP_gpstack, 0, 0, hole + 4096);
    }
    if (check_begin("gp_bad_gate")) {
        idt_gate_type(X86_GP, 1);
        df_check(g, "gp_bad_gate", OP_gpsel, 0, 0, 0);
        idt_gate_type(X86_GP, 0);
    }
    if (check_begin("gp_idt_limit")) {
        idt_limit(X86_GP); /* vectors 0-12 only */
        df_check(g, "gp_idt_limit", OP_gpsel, 0, 0, 0);
        idt_limit(0);
    }
}

/* HLT with an interrupt pending: a self-IPI raised with IF clear is taken
 * once STI's shadow ends, at the HLT, which it ends; the interrupt's frame
 * holds the address after HLT (APM Vol.3 "HLT", "STI"). */
void fam_hlt(const struct group *g)
{
    struct opres r;
    if (!check_begin("ipi"))
        return;
    lapic_self_ipi(VEC_IPI);
    op_run(g->mode, OP_hlt, 0, 0, 0, 0, &r);
    report_op("ipi", &r, "%s", "");
}

/* CPUID in ring 3, with and without TF (the VMM intercepts CPUID at every CPL). */
void fam_ring3(const struct group *g)
{
    struct opres r;
    (void)g;
    if (check_begin("cpuid")) {
        user_cpuid(0, false, &r);
        report_op("cpuid", &r, "eax=0x%llx ebx=0x%llx", r.out[0], r.out[1]);
    }
    if (check_begin("cpuid_tf")) {
        user_cpuid(0, true, &r);
        report_op("cpuid_tf", &r, "%s", "");
    }
}
