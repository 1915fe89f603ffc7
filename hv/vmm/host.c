/*
 * The VMM's own side of each core: a GDT with a 64-bit TSS whose interrupt
 * stack table gives NMI, #DF and #MC stacks of their own (AMD APM Vol.2
 * §4.8.3, §12.2.5 "Interrupt-Stack Table"), the IDT every core shares
 * (§4.8.4: 64-bit interrupt gates), and the GS base that makes
 * this_vcpu() find the core's vCPU.
 */
#include "vmm/host.h"
#include "common/cpu.h"
#include "common/palloc.h"
#include "common/selectors.h"
#include "hw/x86.h"

#define IST_PAGES 2
#define TSS_SEL   0x18

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "APM Vol.2 Figure 12-8: the 64-bit TSS");

struct host_cpu {
    uint64_t gdt[5]; /* null, code 0x08, data 0x10, TSS 0x18 (two slots) */
    struct tss64 tss;
};

extern const char vmm_exc_stubs[];

/* IST slot of the vectors that get a stack of their own. */
static unsigned ist_of(unsigned vec)
{
    return vec == X86_EXC_NMI ? 1 : vec == X86_EXC_DF ? 2 : vec == X86_EXC_MC ? 3 : 0;
}

void host_idt_init(struct boot_info *info)
{
    uint64_t *idt = (uint64_t *)info->idt;
    for (unsigned vec = 0; vec < 32; vec++) {
        uint64_t h = (uint64_t)vmm_exc_stubs + vec * 16;
        idt[vec * 2] = (h & 0xffff) | ((uint64_t)VMM_CS << 16) | ((uint64_t)ist_of(vec) << 32) |
                       (0x8eull << 40) | ((h >> 16 & 0xffff) << 48);
        idt[vec * 2 + 1] = h >> 32;
    }
}

static uint64_t stack(struct boot_info *info)
{
    uint64_t p = palloc_pages(&info->palloc, IST_PAGES);
    return p ? p + IST_PAGES * 4096 : 0;
}

void host_cpu_init(struct vcpu *v)
{
    struct boot_info *info = v->vm->info;
    struct host_cpu *h = v->host;
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {sizeof(h->gdt) - 1, (uint64_t)h->gdt}, idtr = {32 * 16 - 1, info->idt};

    for (unsigned i = 0; i < 3; i++)
        h->tss.ist[i] = stack(info);
    h->tss.iomap_base = sizeof(h->tss); /* no I/O map */
    uint64_t base = (uint64_t)&h->tss, limit = sizeof(h->tss) - 1;
    h->gdt[VMM_CS / 8] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0 */
    h->gdt[VMM_DS / 8] = 0x00cf92000000ffffull; /* data */
    /* APM Vol.2 §4.8.3: a 16-byte system descriptor, type 9 (available
     * 64-bit TSS), present. */
    h->gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                          ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
    h->gdt[TSS_SEL / 8 + 1] = base >> 32;

    __asm__ volatile("lgdt %0" ::"m"(gdtr));
    __asm__ volatile("lidt %0" ::"m"(idtr));
    __asm__ volatile("ltr %w0" ::"r"((uint16_t)TSS_SEL));
    v->self = v;
    wrmsr(MSR_GS_BASE, (uint64_t)&v->self);
}
