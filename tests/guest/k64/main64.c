/*
 * The 64-bit part's main: its IDT and TSS (the GDT is the 32-bit part's,
 * SH_GDT), its modes (long mode, compatibility mode, 5-level paging), and
 * the 64-bit groups of include/groups.def.
 */
#include "tk.h"

/* entry64.S */
extern const uint8_t isr64_stubs[];
void exec_compat(void);
void la57_switch(uint32_t cr3, uint32_t la57);
void enter_user64(uint64_t rip, uint64_t rsp, uint64_t rax, uint64_t rbp);
extern const uint8_t user64_code[], user64_insn[], user64_next[], user64_end[];
/* ops.S, 64-bit flavour */
void run_op64(void);
void main64(void);
struct frame64;
void trap64(struct frame64 *f);

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap;
};
_Static_assert(sizeof(struct tss64) == 104, "TSS64 is 104 bytes (APM Vol.2 §12.2.5)");

struct __attribute__((packed)) desc_ptr64 {
    uint16_t limit;
    uint64_t base;
};

static struct tss64 tss;
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));
static uint8_t ist1_stack[8192] __attribute__((aligned(16)));
static uint64_t idt64[512] __attribute__((aligned(16))); /* 256 16-byte gates */

/* A 64-bit interrupt gate (APM Vol.2 §4.8.4): attr 0x8e present, DPL 0. */
static void gate64(unsigned vec, uint8_t attr)
{
    uint64_t off = (uint64_t)(uintptr_t)isr64_stubs + 16 * vec;
    unsigned ist = vec == X86_DF ? 1 : 0; /* #DF on its own stack: the pf_stack check */
    idt64[2 * vec] = (off & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | ((uint64_t)ist << 32) |
                     ((uint64_t)attr << 40) | (((off >> 16) & 0xffff) << 48);
    idt64[2 * vec + 1] = off >> 32;
}

static uint8_t gate_attr(unsigned vec) { return vec == VEC_USER_RET ? 0xee : 0x8e; }

static void idt_load(unsigned entries)
{
    struct desc_ptr64 d = {(uint16_t)(entries ? entries * 16 - 1 : sizeof(idt64) - 1),
                           (uint64_t)(uintptr_t)idt64};
    __asm__ volatile("lidt %0" ::"m"(d));
}

void idt_gate_present(unsigned vec, bool present)
{
    if (present)
        idt64[2 * vec] |= 1ull << 47;
    else
        idt64[2 * vec] &= ~(1ull << 47);
}

void idt_gate_type(unsigned vec, unsigned type) { gate64(vec, type ? 0x80 : gate_attr(vec)); }
void idt_limit(unsigned entries) { idt_load(entries); }
const char *part_name(void) { return "64-bit"; }

/* The TSS descriptor is 16 bytes in long mode (APM Vol.2 §4.8.3); LTR of a
 * busy one faults, so it is rewritten as available (type 9) each time. */
static void tr_load64(void)
{
    uint64_t *gdt = (uint64_t *)(uintptr_t)SH->gdt;
    uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
    gdt[SEL_TSS64 >> 3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                          (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[(SEL_TSS64 >> 3) + 1] = base >> 32;
    __asm__ volatile("ltr %w0" ::"r"(SEL_TSS64));
}

struct frame64 {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vec, err, rip, cs, rflags, rsp, ss;
};

void trap64(struct frame64 *f)
{
    if (!probe_handle((uint32_t)f->vec, (uint32_t)f->err, &f->rip, &f->rflags))
        fatal("unexpected exception %llu (error 0x%llx) at %04llx:%016llx, rflags 0x%llx",
              (unsigned long long)f->vec, (unsigned long long)f->err, (unsigned long long)f->cs,
              (unsigned long long)f->rip, (unsigned long long)f->rflags);
}

void user_cpuid(uint32_t leaf, bool tf, struct opres *r)
{
    uint8_t *page = (uint8_t *)(uintptr_t)SH->user64;
    size_t len = (size_t)(user64_end - user64_code);
    tk_memcpy(page, user64_code, len);
    tk_memset(r, 0, sizeof(*r));
    for (unsigned i = 0; i < 6; i++)
        SH->out[i] = 0;
    tr_load64();
    SH->p_insn = SH->user64 + (uint32_t)(user64_insn - user64_code);
    SH->p_next = SH->user64 + (uint32_t)(user64_next - user64_code);
    SH->p_nev = 0;
    SH->p_armed = 1;
    enter_user64((uintptr_t)page, (uintptr_t)page + 0x1ff000, leaf, tf ? RFLAGS_TF : 0);
    SH->p_armed = 0;
    op_collect(r);
}

static const char *l57_enter(void)
{
    if (!(cpu.l7_ecx & CPUID_7_ECX_LA57))
        return "no-la57";
    la57_switch(SH->cr3_la57, 1);
    return 0;
}

static void l57_leave(void) { la57_switch(SH->cr3_long, 0); }

#define M_LONG_ALL (M_PROT | M_PAGING | M_LONG)
static const struct mode mode_long = {"long", M_LONG_ALL | M_CODE64, run_op64, 0, 0};
static const struct mode mode_compat = {"compat", M_LONG_ALL, exec_compat, 0, 0};
static const struct mode mode_l57 = {"l57", M_LONG_ALL | M_CODE64 | M_LA57, run_op64, l57_enter,
                                     l57_leave};

#define G(part, m, f, fl) G_##part(m, f, fl)
#define G_64(m, f, fl)    {#m "." #f, &mode_##m, fam_##f, fl},
#define G_32(m, f, fl)    {#m "." #f, 0, 0, (fl) | G_OTHER},
static const struct group groups[] = {
#include "groups.def"
};

void main64(void)
{
    cpu_probe();
    cmdline_parse();
    tss.rsp[0] = (uintptr_t)(ring0_stack + sizeof(ring0_stack));
    tss.ist[0] = (uintptr_t)(ist1_stack + sizeof(ist1_stack));
    tss.iomap = sizeof(tss);
    tr_load64();
    for (unsigned v = 0; v < 256; v++)
        gate64(v, gate_attr(v));
    idt_load(0);
    for (unsigned i = groups_from(groups, ARRAY_SIZE(groups)); i < ARRAY_SIZE(groups); i++)
        if (!(groups[i].flags & G_OTHER) && group_selected(&groups[i]))
            group_run(&groups[i]);
    SH->flags |= SHF_LONG_DONE;
}
