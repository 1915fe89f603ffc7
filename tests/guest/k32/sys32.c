/*
 * The 32-bit part's system structures: GDT and TSS, IDT and the trap
 * handler, the page tables every paging mode uses, and ring 3.
 */
#include "k32.h"

/* Descriptors (AMD APM Vol.2 §4.7-4.8; Intel SDM Vol.3A §3.4.5). */
uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
    [SEL_CODE32 >> 3] = 0x00cf9a000000ffffull,  /* 32-bit code, 4 GiB, DPL 0 */
    [SEL_DATA32 >> 3] = 0x00cf92000000ffffull,  /* data, 4 GiB, DPL 0 */
    [SEL_CODE16 >> 3] = 0x00009a000000ffffull,  /* 16-bit code, base 0, 64 KiB */
    [SEL_DATA16 >> 3] = 0x000092000000ffffull,  /* 16-bit data, base 0, 64 KiB */
    [SEL_CODE64 >> 3] = 0x00af9a000000ffffull,  /* 64-bit code (L), DPL 0 */
    [SEL_UCODE32 >> 3] = 0x00cffa000000ffffull, /* 32-bit code, DPL 3 */
    [SEL_UDATA >> 3] = 0x00cff2000000ffffull,   /* data, DPL 3 */
    [SEL_UCODE64 >> 3] = 0x00affa000000ffffull, /* 64-bit code, DPL 3 */
};

struct __attribute__((packed)) desc_ptr {
    uint16_t limit;
    uint32_t base;
};

struct __attribute__((packed)) tss32 {
    uint32_t link, esp0, ss0, unused[22];
    uint16_t trap, iomap;
};
_Static_assert(sizeof(struct tss32) == 104, "TSS32 is 104 bytes (APM Vol.2 §12.2.5)");

static struct tss32 tss32;
static uint8_t ring0_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));
static uint8_t stack64[32768] __attribute__((aligned(16)));

static uint64_t idt32[256] __attribute__((aligned(16)));
struct desc_ptr idt32_desc = {sizeof(idt32) - 1, 0};

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint8_t access)
{
    return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)access << 40) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)(base >> 24) << 56);
}

static void tr_load32(void)
{
    /* LTR of a busy TSS faults (APM Vol.2 §12.2.5): mark it available first. */
    gdt[SEL_TSS32 >> 3] = seg_desc((uint32_t)&tss32, sizeof(tss32) - 1, 0x89);
    __asm__ volatile("ltr %w0" ::"r"(SEL_TSS32));
}

static uint64_t gate32(unsigned vec, uint8_t attr)
{
    uint32_t off = (uint32_t)isr32_stubs + 16 * vec;
    return (off & 0xffff) | ((uint64_t)SEL_CODE32 << 16) | ((uint64_t)attr << 40) |
           ((uint64_t)(off >> 16) << 48);
}

/* 0x8e: present, DPL 0, 32-bit interrupt gate; 0xee: the same at DPL 3. */
static uint8_t gate_attr(unsigned vec) { return vec == VEC_USER_RET ? 0xee : 0x8e; }

void sys32_init(void)
{
    static struct desc_ptr gdt_desc;
    gdt_desc.limit = sizeof(gdt) - 1;
    gdt_desc.base = (uint32_t)gdt;
    gdt_load(&gdt_desc);
    tss32.ss0 = SEL_DATA32;
    tss32.esp0 = (uint32_t)(ring0_stack + sizeof(ring0_stack));
    tss32.iomap = sizeof(tss32);
    tr_load32();
    for (unsigned v = 0; v < 256; v++)
        idt32[v] = gate32(v, gate_attr(v));
    idt32_desc.base = (uint32_t)idt32;
    __asm__ volatile("lidt %0" ::"m"(idt32_desc));
    SH->gdt = (uint32_t)gdt;
    SH->stack64 = (uint32_t)(stack64 + sizeof(stack64));
    SH->run_op32 = (uint32_t)run_op32;
}

void idt_gate_present(unsigned vec, bool present)
{
    if (present)
        idt32[vec] |= 1ull << 47;
    else
        idt32[vec] &= ~(1ull << 47);
}

/* type 1: a present gate of a reserved system type (0): delivering through
 * it is a #GP (APM Vol.2 §8.2 "IDT entries", Intel SDM Vol.3A §7.11). */
void idt_gate_type(unsigned vec, unsigned type)
{
    idt32[vec] = type ? gate32(vec, 0x80) : gate32(vec, gate_attr(vec));
}

void idt_limit(unsigned entries)
{
    struct desc_ptr d = {(uint16_t)(entries ? entries * 8 - 1 : sizeof(idt32) - 1),
                         (uint32_t)idt32};
    __asm__ volatile("lidt %0" ::"m"(d));
}

const char *part_name(void) { return "32-bit"; }

struct frame32 {
    uint32_t es, ds;
    uint32_t edi, esi, ebp, esp0, ebx, edx, ecx, eax;
    uint32_t vec, err, eip, cs, eflags;
};

void trap32(struct frame32 *f)
{
    uint64_t ip = f->eip, fl = f->eflags;
    if (!probe_handle(f->vec, f->err, &ip, &fl))
        fatal("unexpected exception %u (error 0x%x) at %04x:%08x, eflags 0x%x", f->vec, f->err,
              f->cs, f->eip, f->eflags);
    f->eip = (uint32_t)ip;
    f->eflags = (uint32_t)fl;
}

void user_cpuid(uint32_t leaf, bool tf, struct opres *r)
{
    tk_memset(r, 0, sizeof(*r));
    tr_load32();
    SH->p_insn = (uint32_t)user32_insn;
    SH->p_next = (uint32_t)user32_next;
    SH->p_nev = 0;
    SH->p_armed = 1;
    enter_user32((uint32_t)user32_code, (uint32_t)(user_stack + sizeof(user_stack)), leaf,
                 tf ? RFLAGS_TF : 0);
    SH->p_armed = 0;
    op_collect(r);
}

/*
 * Page tables, identity maps of the first 4 GiB (APM Vol.2 §5.3-5.5):
 *   pd32      32-bit paging, 4 MiB pages (CR4.PSE): the CR0.PG checks of
 *             protected mode without PAE
 *   pdpt_pae  PAE: 4 PDPTEs -> pd[4]
 *   pml4      4-level: -> pdpt_long -> pd[4]
 *   pml5      5-level: -> pml4
 * pd[] maps 2 MiB pages, except USER_PAGE (user-accessible, for ring 3)
 * and HOLE (a page table whose first 4 KiB page is not present).
 */
static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));
static uint64_t pt_hole[512] __attribute__((aligned(4096)));
static uint64_t pdpt_long[512] __attribute__((aligned(4096)));
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pml5[512] __attribute__((aligned(4096)));
static uint64_t pdpt_pae[4] __attribute__((aligned(32)));

void paging_init(void)
{
    for (unsigned i = 0; i < 2048; i++)
        pd[i / 512][i % 512] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
    pd[0][USER_PAGE >> 21] |= PTE_US;
    for (unsigned i = 0; i < 512; i++)
        pt_hole[i] = (HOLE + i * 4096ull) | PTE_P | PTE_RW;
    pt_hole[0] = 0;
    pd[0][HOLE >> 21] = (uint32_t)pt_hole | PTE_P | PTE_RW;
    for (unsigned i = 0; i < 4; i++) {
        pdpt_pae[i] = (uint32_t)pd[i] | PTE_P; /* PAE PDPTEs: RW and US are reserved */
        pdpt_long[i] = (uint32_t)pd[i] | PTE_P | PTE_RW | PTE_US;
    }
    pml4[0] = (uint32_t)pdpt_long | PTE_P | PTE_RW | PTE_US;
    pml5[0] = (uint32_t)pml4 | PTE_P | PTE_RW | PTE_US;
    for (unsigned i = 0; i < 1024; i++)
        pd32[i] = (i << 22) | (uint32_t)(PTE_P | PTE_RW | PTE_PS);
    SH->cr3_long = (uint32_t)pml4;
    SH->cr3_la57 = (uint32_t)pml5;
    SH->hole = HOLE;
    SH->user64 = USER_PAGE;
}

uint32_t cr3_pd32(void) { return (uint32_t)pd32; }
uint32_t cr3_pae(void) { return (uint32_t)pdpt_pae; }
