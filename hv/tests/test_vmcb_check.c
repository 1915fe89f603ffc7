/* Unit tests for lib/vmcb_check.c: VMRUN's consistency checks, one row per
 * rule of AMD APM Vol.2 §15.5.1, each on an otherwise valid VMCB. */
#include "check.h"
#include "lib/vmcb_check.h"
#include <stdlib.h>
#include <string.h>

static const struct vmcb_caps caps = {
    .cr4_allowed = 0x3006ff, /* VME..OSXMMEXCPT, PCIDE, OSXSAVE, SMEP, SMAP: no PKE, no LA57 */
    .efer_allowed = 0xd901,  /* SCE LME NXE SVME FFXSR TCE */
    .maxphyaddr = 40,
    .long_mode = true,
};

/* A valid long-mode guest. */
static void valid(struct vmcb *v)
{
    memset(v, 0, sizeof(*v));
    v->save.efer = 0x1d01; /* SCE LME LMA NXE SVME */
    v->save.cr0 = 0x80050033;
    v->save.cr4 = 0x6f0;
    v->save.cr3 = 0x1000;
    v->save.cs.attrib = 0xa9b; /* L, P, code */
    v->save.dr6 = 0xffff0ff0;
    v->save.dr7 = 0x400;
    v->control.intercept_misc2 = 1;
    v->control.guest_asid = 1;
    v->control.iopm_base_pa = 0x100000;
    v->control.msrpm_base_pa = 0x104000;
}

static void f_svme(struct vmcb *v) { v->save.efer &= ~0x1000ull; }
static void f_nw(struct vmcb *v) { v->save.cr0 = (v->save.cr0 & ~(1ull << 30)) | (1ull << 29); }
static void f_cr0_hi(struct vmcb *v) { v->save.cr0 |= 1ull << 40; }
static void f_cr3_hi(struct vmcb *v) { v->save.cr3 |= 1ull << 45; }
static void f_cr3_63(struct vmcb *v) { v->save.cr3 |= 1ull << 63; }
static void f_pke(struct vmcb *v) { v->save.cr4 |= 1ull << 22; }
static void f_la57(struct vmcb *v) { v->save.cr4 |= 1ull << 12; }
static void f_dr6(struct vmcb *v) { v->save.dr6 |= 1ull << 32; }
static void f_dr7(struct vmcb *v) { v->save.dr7 |= 1ull << 40; }
static void f_efer_rsvd(struct vmcb *v) { v->save.efer |= 1ull << 20; }
static void f_no_pae(struct vmcb *v) { v->save.cr4 &= ~0x20ull; }
static void f_no_pe(struct vmcb *v) { v->save.cr0 &= ~1ull; }
static void f_l_and_d(struct vmcb *v) { v->save.cs.attrib |= 1u << 10; }
static void f_vmrun(struct vmcb *v) { v->control.intercept_misc2 = 0; }
static void f_asid(struct vmcb *v) { v->control.guest_asid = 0; }
static void f_iopm(struct vmcb *v) { v->control.iopm_base_pa = (1ull << 40) - 4096; }
static void f_evt(struct vmcb *v) { v->control.event_inj = (1ull << 31) | (3 << 8) | 2; }
static void f_evt_type(struct vmcb *v) { v->control.event_inj = (1ull << 31) | (6 << 8) | 32; }
static void ok_cr3_legacy(struct vmcb *v)
{
    /* Outside long mode CR3's high bits are not checked. */
    v->save.efer = 0x1000;
    v->save.cr0 = 0x11;
    v->save.cr4 = 0;
    v->save.cs.attrib = 0x9b;
    v->save.cr3 = 1ull << 45;
}
static void ok_nw_with_cd(struct vmcb *v) { v->save.cr0 |= (1ull << 29) | (1ull << 30); }

static const struct {
    const char *name;
    void (*mutate)(struct vmcb *);
    const char *want; /* a word of the message, or 0 for valid */
} rows[] = {
    {"valid", 0, 0},
    {"SVME clear", f_svme, "SVME"},
    {"NW without CD", f_nw, "NW"},
    {"CR0 upper half", f_cr0_hi, "CR0[63:32]"},
    {"CR3 above MAXPHYADDR", f_cr3_hi, "CR3"},
    {"CR3 bit 63 in long mode", f_cr3_63, "CR3"},
    {"CR4.PKE without PKU", f_pke, "CR4"},
    {"CR4.LA57 without LA57", f_la57, "CR4"},
    {"DR6 upper half", f_dr6, "DR6"},
    {"DR7 upper half", f_dr7, "DR7"},
    {"EFER reserved bit", f_efer_rsvd, "EFER has"},
    {"LME+PG without PAE", f_no_pae, "PAE"},
    {"LME+PG without PE", f_no_pe, "PE"},
    {"CS.L and CS.D", f_l_and_d, "CS.L"},
    {"no VMRUN intercept", f_vmrun, "VMRUN"},
    {"ASID 0", f_asid, "ASID"},
    {"IOPM past MAXPHYADDR", f_iopm, "permission map"},
    {"NMI as an exception", f_evt, "event"},
    {"reserved event type", f_evt_type, "event"},
    {"legacy CR3 high bits are fine", ok_cr3_legacy, 0},
    {"NW with CD is fine", ok_nw_with_cd, 0},
};

int main(void)
{
    struct vmcb *v = aligned_alloc(4096, sizeof(*v));

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        valid(v);
        if (rows[r].mutate)
            rows[r].mutate(v);
        const char *why = vmcb_check(v, &caps, false);
        if (!rows[r].want) {
            CHECK(why == 0, "%s: valid, got \"%s\"", rows[r].name, why ? why : "");
            continue;
        }
        CHECK(why && strstr(why, rows[r].want), "%s: want \"%s\", got \"%s\"", rows[r].name,
              rows[r].want, why ? why : "(valid)");
        /* Repair makes it valid, possibly one rule at a time, and never
         * takes more steps than there are rules. */
        int steps = 0;
        while (vmcb_check(v, &caps, true) && steps < 32)
            steps++;
        bool fixed = vmcb_check(v, &caps, false) == 0;
        /* A map past MAXPHYADDR is the VMM's own bug: it is reported, not moved. */
        if (rows[r].mutate != f_iopm)
            CHECK(fixed && steps >= 1, "%s: repair left it invalid after %d steps", rows[r].name,
                  steps);
    }
    free(v);
    return check_report();
}
