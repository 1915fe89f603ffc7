/*
 * The families only the 32-bit part runs: what the boot loader handed
 * over, the BIOS's INT 15h memory services in real mode, the I/O ports a
 * VMM stands in front of, the A20 gate, and the groups that end the
 * machine (triple fault, reset) or time it.
 */
#include "k32.h"

#define SMAP 0x534d4150u

/* What GRUB handed over, and what CPUID says (both compared: a VMM shows
 * the VM its own CPUID and memory map). */
void fam_boot(const struct group *g)
{
    char buf[900];
    size_t n = 0;
    (void)g;
    report("magic", "ok magic=0x%x", boot.magic);
    if (boot.flags & 1)
        report("mem", "ok lower=%u upper=%u", boot.mem_lower, boot.mem_upper);
    else
        report_skip("mem", "no-mem-info");
    for (unsigned i = 0; i < boot.mmap_count && n < sizeof(buf); i++)
        n += (size_t)tk_snprintf(buf + n, sizeof(buf) - n, " %llx+%llx:%u",
                                 (unsigned long long)boot.mmap[i].addr,
                                 (unsigned long long)boot.mmap[i].len, boot.mmap[i].type);
    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = 0;
    if (boot.flags & (1u << 6))
        report("mmap", "ok n=%u%s", boot.mmap_count, buf);
    else
        report_skip("mmap", "no-mmap");
    report("entry_cr0", "ok val=0x%x", boot.cr0);
    report("entry_cr4", "ok val=0x%x", boot.cr4);
    report("entry_efer", "ok val=0x%llx", (unsigned long long)boot.efer);
    report("vendor", "ok %s", cpu.vendor);
    report("cpuid_1", "ok eax=0x%08x ecx=0x%08x edx=0x%08x", cpu.l1_eax, cpu.l1_ecx, cpu.l1_edx);
    report("cpuid_7", "ok ebx=0x%08x ecx=0x%08x edx=0x%08x", cpu.l7_ebx, cpu.l7_ecx, cpu.l7_edx);
    report("cpuid_e1", "ok ecx=0x%08x edx=0x%08x", cpu.e1_ecx, cpu.e1_edx);
    report("cpuid_e8", "ok maxphys=%u maxvirt=%u", cpu.maxphys, cpu.maxvirt);
}

static void int15(const struct mode *m, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx,
                  struct opres *r)
{
    const uint64_t in[4] = {eax, ebx, ecx, edx};
    op_run4(m, OP_int15, 0, in, r);
}

/*
 * INT 15h in real mode: the memory map (E820h, ACPI 6.4 §15.1), the
 * memory sizes (E801h, 88h) and the A20 services (2402h, 2403h) (Ralf
 * Brown's Interrupt List), and INT n through an IVT entry the kernel owns.
 */
void fam_int(const struct group *g)
{
    const struct mode *m = g->mode;
    struct opres r;
    if (check_begin("e820")) {
        char buf[900];
        size_t n = 0;
        uint32_t next = 0;
        unsigned count = 0;
        bool bad = false;
        buf[0] = 0;
        do {
            tk_memset((void *)SCRATCH, 0, 24);
            int15(m, 0xe820, next, 24, SMAP, &r);
            if (r.nev) {
                report_op("e820", &r, "entry=%u", count);
                bad = true;
                break;
            }
            if ((r.out[4] & 1) || (uint32_t)r.out[0] != SMAP)
                break;
            const volatile uint8_t *e = (const volatile uint8_t *)SCRATCH;
            uint64_t base = *(const volatile uint64_t *)e,
                     len = *(const volatile uint64_t *)(e + 8);
            uint32_t type = *(const volatile uint32_t *)(e + 16);
            if (n < sizeof(buf))
                n += (size_t)tk_snprintf(buf + n, sizeof(buf) - n, " %llx+%llx:%u",
                                         (unsigned long long)base, (unsigned long long)len, type);
            next = (uint32_t)r.out[1];
            count++;
        } while (next && count < 32);
        if (!bad)
            report("e820", "ok n=%u%s", count, buf);
    }
    if (check_begin("e801")) {
        int15(m, 0xe801, 0, 0, 0, &r);
        report_op("e801", &r, "ax=0x%llx bx=0x%llx cx=0x%llx dx=0x%llx cf=%llu", r.out[0] & 0xffff,
                  r.out[1] & 0xffff, r.out[2] & 0xffff, r.out[3] & 0xffff, r.out[4] & 1);
    }
    if (check_begin("88")) {
        int15(m, 0x8800, 0, 0, 0, &r);
        report_op("88", &r, "ax=0x%llx cf=%llu", r.out[0] & 0xffff, r.out[4] & 1);
    }
    if (check_begin("a20_2402")) {
        int15(m, 0x2402, 0, 0, 0, &r);
        report_op("a20_2402", &r, "ax=0x%llx cf=%llu", r.out[0] & 0xffff, r.out[4] & 1);
    }
    if (check_begin("a20_2403")) {
        int15(m, 0x2403, 0, 0, 0, &r);
        report_op("a20_2403", &r, "ax=0x%llx bx=0x%llx cf=%llu", r.out[0] & 0xffff,
                  r.out[1] & 0xffff, r.out[4] & 1);
    }
    if (check_begin("int_own")) {
        op_run(m, OP_int_own, 0, 0, 0x1234, 0, &r);
        report_op("int_own", &r, "eax=0x%llx", r.out[0]);
    }
}

static void io(const struct group *g, const char *check, unsigned code, uint16_t port, uint32_t val)
{
    struct opres r;
    if (!check_begin(check))
        return;
    op_run(g->mode, code, 0, port, val, 0, &r);
    report_op(check, &r, "val=0x%llx", r.out[0]);
}

/*
 * The ports a VMM stands in front of (docs/architecture.md §9): port 92h
 * (system control port A), the keyboard controller (60h, 64h), CF9h (reset
 * control, inside the PCI configuration ports CF8h-CFFh). Reads and
 * harmless writes; the string forms last.
 */
void fam_io(const struct group *g)
{
    const struct mode *m = g->mode;
    struct opres r;
    io(g, "in92", OP_in8, 0x92, 0);
    io(g, "in64", OP_in8, 0x64, 0);
    if (check_begin("kbd_cmdbyte")) {
        /* 8042 command 20h: read the command byte (IBM PC/AT Technical Reference) */
        op_run(m, OP_out8, 0, 0x64, 0x20, 0, &r);
        for (unsigned i = 0; i < 100000 && !(inb(0x64) & 1); i++)
            ;
        op_run(m, OP_in8, 0, 0x60, 0, 0, &r);
        report_op("kbd_cmdbyte", &r, "val=0x%llx", r.out[0] & 0xff);
    }
    io(g, "incf9", OP_in8, 0xcf9, 0);
    if (check_begin("pci_cf8")) {
        /* PCI configuration mechanism #1: bus 0, device 0, function 0, register 0 */
        op_run(m, OP_out32, 0, 0xcf8, 0x80000000u, 0, &r);
        op_run(m, OP_in32, 0, 0xcf8, 0, 0, &r);
        report_op("pci_cf8", &r, "val=0x%llx", r.out[0]);
    }
    io(g, "pci_cfc", OP_in32, 0xcfc, 0);
    io(g, "pci_cf8_16", OP_in16, 0xcf8, 0);
    if (check_begin("ins92")) {
        op_run(m, OP_ins8, 0, 0x92, 0xa5a5a5a5u, 0, &r);
        report_op("ins92", &r, "mem=0x%llx di=0x%llx", r.out[0], r.out[1]);
    }
    if (check_begin("outs92")) {
        op_run(m, OP_in8, 0, 0x92, 0, 0, &r);
        op_run(m, OP_outs8, 0, 0x92, r.out[0] & 0xfe, 0, &r);
        struct opres rd;
        op_run(m, OP_in8, 0, 0x92, 0, 0, &rd);
        report_op("outs92", &r, "si=0x%llx val=0x%llx", r.out[1], rd.out[0] & 0xff);
    }
}

/*
 * The A20 gate through port 92h bit 1: with it off, bit 20 of every
 * physical address is forced to 0, so 0x107000 aliases 0x7000. The kernel
 * runs at 2 MiB and its stacks, tables and the shared page have bit 20
 * clear, so they are not moved by it.
 */
void fam_a20(const struct group *g)
{
    const struct mode *m = g->mode;
    struct opres r;
    volatile uint32_t *lo = (volatile uint32_t *)0x7000, *hi = (volatile uint32_t *)0x107000;
    if (!check_begin("port92"))
        return;
    uint8_t v = inb(0x92);
    *lo = 0x11111111;
    *hi = 0x22222222;
    op_run(m, OP_out8, 0, 0x92, v & ~3u, 0, &r); /* A20 off, no reset */
    *hi = 0x33333333;
    uint32_t off_lo = *lo;
    struct opres back;
    op_run(m, OP_out8, 0, 0x92, (v | 2u) & ~1u, 0, &back); /* A20 on */
    report_op("port92", &r, "off_lo=0x%x lo=0x%x hi=0x%x", off_lo, *lo, *hi);
}

static void settle(void)
{
    /* about 0.1 s of port 61h reads: a reset request is taken well before */
    for (unsigned i = 0; i < 200000; i++)
        (void)inb(0x61);
}

/* A triple fault: every IDT gate not present; #UD cannot be delivered
 * (#NP), nor the #NP, which is a #DF, which cannot be delivered either:
 * shutdown (APM Vol.2 §8.2.9). QEMU -no-reboot exits. */
void fam_triple_np(const struct group *g)
{
    struct opres r;
    report("armed", "ok");
    for (unsigned v = 0; v < 256; v++)
        idt_gate_present(v, false);
    op_run(g->mode, OP_ud2, 0, 0, 0, 0, &r);
    for (unsigned v = 0; v < 256; v++)
        idt_gate_present(v, true);
    report_op("survived", &r, "%s", "");
}

/* A triple fault through #GP: an IDT limit that holds vector 0 only. */
void fam_triple_gp(const struct group *g)
{
    struct opres r;
    report("armed", "ok");
    idt_limit(1);
    op_run(g->mode, OP_ud2, 0, 0, 0, 0, &r);
    idt_limit(0);
    report_op("survived", &r, "%s", "");
}

/* Reset attempts (docs/architecture.md §9): port 92h bit 0 (fast reset),
 * CF9h bits 1-2 (hard reset, reset CPU: Intel PIIX4 "Reset Control
 * Register"), the 8042 command FEh (pulse the reset line). */
void fam_reset_92(const struct group *g)
{
    (void)g;
    report("armed", "ok");
    outb(0x92, inb(0x92) | 1);
    settle();
    report("survived", "ok");
}

void fam_reset_cf9(const struct group *g)
{
    (void)g;
    report("armed", "ok");
    outb(0xcf9, 0x02);
    outb(0xcf9, 0x06);
    settle();
    report("survived", "ok");
}

void fam_reset_kbd(const struct group *g)
{
    (void)g;
    report("armed", "ok");
    for (unsigned i = 0; i < 100000 && (inb(0x64) & 2); i++)
        ;
    outb(0x64, 0xfe);
    settle();
    report("survived", "ok");
}

static uint64_t samples[4001];

static uint64_t median(unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        uint64_t v = samples[i];
        unsigned j = i;
        for (; j && samples[j - 1] > v; j--)
            samples[j] = samples[j - 1];
        samples[j] = v;
    }
    return samples[n / 2];
}

/*
 * Timing, not compared: the median TSC cycles of CPUID leaf 0 between two
 * RDTSC, each fenced by LFENCE so that it does not pass the instructions
 * around it (Intel SDM Vol.2B RDTSC; AMD APM Vol.3 RDTSC, with LFENCE
 * dispatch-serializing on AMD since family 10h when MSR C001_1029[1]);
 * and the same with nothing between (the measurement's own cost).
 */
void fam_bench(const struct group *g)
{
    unsigned n = cmdline_uint("bench_runs", 1001);
    (void)g;
    if (n < 1)
        n = 1;
    if (n > ARRAY_SIZE(samples))
        n = ARRAY_SIZE(samples);
    for (unsigned i = 0; i < n; i++) {
        uint32_t a0, d0, a1, d1, leaf = 0, sub = 0;
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(a0), "=d"(d0));
        __asm__ volatile("cpuid" : "+a"(leaf), "+c"(sub)::"ebx", "edx", "memory");
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(a1), "=d"(d1));
        samples[i] = (((uint64_t)d1 << 32) | a1) - (((uint64_t)d0 << 32) | a0);
    }
    tk_printf("RFXB cpuid_cycles %llu\n", (unsigned long long)median(n));
    for (unsigned i = 0; i < n; i++) {
        uint32_t a0, d0, a1, d1;
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(a0), "=d"(d0));
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(a1), "=d"(d1));
        samples[i] = (((uint64_t)d1 << 32) | a1) - (((uint64_t)d0 << 32) | a0);
    }
    tk_printf("RFXB rdtsc_cycles %llu\n", (unsigned long long)median(n));
    report("samples", "ok n=%u", n);
}

/*
 * Two cores at once, for the debugger's per-vCPU registers
 * (tests/lab/test_vmx_fast.py): the boot CPU starts the core whose local
 * APIC ID is 1 with INIT, SIPI, SIPI (SDM Vol.3A, "MP Initialization
 * Protocol Algorithm"; the ICR: "Interrupt Command Register") into a real-mode loop at
 * SMP_AP_BASE that publishes its EBX and a heartbeat; then it loops
 * itself, never returning (the harness ends the machine), through one of
 * each event a debugger may filter (tests/lab/test_vmx_fast.py): CPUID,
 * RDMSR of IA32_SYSENTER_CS, OUT to port 80h, a CR3 read and write, a
 * #UD (through the probe: the kernel's handler takes it), and a read of
 * the address a debugger writes at SMP_MAILBOX + 20 (an NPF in the VMM's
 * range). The AP loop's second half (smp_ap_loop2) runs only if a
 * debugger moves the AP's IP there. Runs only when named (only=smp).
 */
#define SMP_AP_BASE 0x6000u /* below the 16-bit part (0x8000), above the stub */
#define SMP_VECTOR  (SMP_AP_BASE >> 12)
#define SMP_EBX     0x51a9e001u
/* +0 EBX, +4 beat, +8 loop2's mark, +12 loop2's beat, +16 the boot CPU's
 * beat, +20 the address it reads (0: none) */
#define SMP_MAILBOX 0x6f00u

__asm__(".pushsection .rodata\n"
        ".code16\n"
        "smp_ap: cli\n"
        "    xorw %ax, %ax\n"
        "    movw %ax, %ds\n"
        "    movl $0x51a9e001, %ebx\n"
        "1:  movl %ebx, 0x6f00\n"
        "    incl 0x6f04\n"
        "    jmp 1b\n"
        "smp_ap_loop2:\n"
        "    movl $0x10020002, 0x6f08\n"
        "    incl 0x6f0c\n"
        "    jmp smp_ap_loop2\n"
        "smp_ap_end:\n"
        ".code32\n"
        ".globl smp_ap, smp_ap_loop2, smp_ap_end\n"
        ".popsection\n");
extern const char smp_ap[], smp_ap_loop2[], smp_ap_end[];

static void icr_send(uint32_t dest, uint32_t low)
{
    volatile uint32_t *hi = (volatile uint32_t *)0xfee00310u;
    volatile uint32_t *lo = (volatile uint32_t *)0xfee00300u;
    *hi = dest << 24;
    *lo = low;
    for (unsigned i = 0; i < 100000 && (*lo & (1u << 12)); i++) /* delivery status */
        ;
}

void fam_smp(const struct group *g)
{
    volatile uint32_t *box = (volatile uint32_t *)SMP_MAILBOX;
    tk_memcpy((void *)SMP_AP_BASE, smp_ap, (size_t)(smp_ap_end - smp_ap));
    for (unsigned i = 0; i < 6; i++)
        box[i] = 0;
    *(volatile uint32_t *)0xfee000f0u = 0x1ff; /* the APIC software-enabled */
    icr_send(1, 0x4500);                       /* INIT, level assert */
    settle();
    icr_send(1, 0x4600 | SMP_VECTOR); /* start-up */
    settle();
    if (!box[1])
        icr_send(1, 0x4600 | SMP_VECTOR); /* the second SIPI, if the first was missed */
    for (unsigned i = 0; i < 2000000 && box[0] != SMP_EBX; i++)
        (void)inb(0x61);
    report("ap", box[0] == SMP_EBX ? "ok ebx=0x%x" : "none ebx=0x%x", box[0]);
    tk_printf("RFXS smp ready ap_ip=0x%x ap_loop2=0x%x ap_end=0x%x\n",
              (unsigned)(SMP_AP_BASE & 0xfff),
              (unsigned)(smp_ap_loop2 - smp_ap + (SMP_AP_BASE & 0xfff)),
              (unsigned)(smp_ap_end - smp_ap + (SMP_AP_BASE & 0xfff)));
    for (;;) {
        uint32_t r[4], cr3;
        struct opres op;
        box[4]++;
        cpuid_count(0, 0, r);
        (void)rdmsr(0x174);
        outb(0x80, (uint8_t)box[4]);
        __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
        __asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");
        op_run(g->mode, OP_ud2, 0, 0, 0, 0, &op);
        if (box[5])
            (void)*(volatile uint32_t *)(uintptr_t)box[5];
    }
}

/*
 * The TSC's rate as CPUID claims it and as it runs (tests/lab/test_vmx_fast.py):
 * the claim is leaf 15h's crystal ECX * EBX / EAX, or, with ECX 0 (the
 * crystal not enumerated), leaf 16h's base frequency EAX in MHz -- what
 * Linux takes the TSC's rate for (SDM Vol.2A CPUID, leaves 15H and 16H);
 * the rate is the TSC's ticks over a 50 ms one-shot of PIT channel 2 in
 * mode 0 (Intel 8254 data sheet; gate and OUT2 in port 61h bits 0 and 5).
 * Runs only when named (only=tscfreq).
 */
#define PIT_HZ 1193182u

static uint64_t tsc_now(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

void fam_tscfreq(const struct group *g)
{
    uint32_t max[4], l15[4] = {0}, l16[4] = {0};
    uint64_t claim = 0;
    (void)g;
    cpuid_count(0, 0, max);
    if (max[0] >= 0x15)
        cpuid_count(0x15, 0, l15);
    if (max[0] >= 0x16)
        cpuid_count(0x16, 0, l16);
    if (l15[0] && l15[1] && l15[2])
        claim = (uint64_t)l15[2] * l15[1] / l15[0];
    else if (l16[0])
        claim = (uint64_t)(l16[0] & 0xffff) * 1000000u;
    report("leaves", "ok max=0x%x l15=%x:%x:%x l16=%x", max[0], l15[0], l15[1], l15[2], l16[0]);

    uint8_t p61 = inb(0x61);
    outb(0x61, (uint8_t)((p61 & ~0x02) | 0x01));
    outb(0x43, 0xb0);
    outb(0x42, (PIT_HZ / 20) & 0xff);
    outb(0x42, (PIT_HZ / 20) >> 8);
    uint64_t t0 = tsc_now();
    for (uint32_t i = 0; i < 100000000u && !(inb(0x61) & 0x20); i++)
        ;
    uint64_t t1 = tsc_now();
    outb(0x61, p61);
    tk_printf("RFXS tscfreq claim_hz=%llu measured_hz=%llu\n", (unsigned long long)claim,
              (unsigned long long)((t1 - t0) * 20));
}

/*
 * The TSC-deadline timer against the VM's own TSC, after stops the VM does
 * not see (tests/lab/test_vmx_fast.py): the timer fires when the TSC
 * reaches IA32_TSC_DEADLINE (SDM Vol.3A §12.5.4.1), and the VMM takes a
 * client's stop off the VM's TSC. Each round waits for a debugger to write
 * the round's number at TSCDL_MAILBOX (while it holds the VM stopped), arms
 * the timer at RDTSC + TSCDL_TICKS with IF clear and watches the IRR for
 * the timer's vector: the line says how far short of its deadline the TSC
 * was when it came (early=, 0 when on time) and how far past (late=).
 * Runs only when named (only=tscdl).
 */
#define TSCDL_MAILBOX 0x6f40u     /* +0 the round a debugger asks for, +4 the last one run */
#define TSCDL_TICKS   20000000ull /* 0.2 s of Bochs's TSC at ips=100000000 */
#define LAPIC_SVR     0xfee000f0u
#define LAPIC_LVT_TMR 0xfee00320u /* bits 18:17 = 10b: TSC-deadline mode */
#define LAPIC_IRR     0xfee00200u /* 8 words, 16 bytes apart */
#define MSR_TSC_DEADLINE         0x6e0u
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

static bool irr_has(unsigned vec)
{
    return *(volatile uint32_t *)(uintptr_t)(LAPIC_IRR + 0x10 * (vec / 32)) & (1u << (vec % 32));
}

void fam_tscdl(const struct group *g)
{
    volatile uint32_t *box = (volatile uint32_t *)TSCDL_MAILBOX;
    (void)g;
    box[0] = box[1] = 0;
    if (!(cpu.l1_ecx & CPUID_1_ECX_TSC_DEADLINE)) {
        report_skip("deadline", "no-tsc-deadline");
        return;
    }
    *(volatile uint32_t *)LAPIC_SVR = 0x1ff; /* the APIC software-enabled */
    *(volatile uint32_t *)LAPIC_LVT_TMR = (2u << 17) | VEC_IPI;
    tk_printf("RFXS tscdl ready mailbox=0x%x\n", TSCDL_MAILBOX);
    for (;;) {
        uint32_t round = box[0];
        if (round == box[1]) {
            (void)inb(0x61);
            continue;
        }
        __asm__ volatile("cli");
        uint64_t t0 = tsc_now(), deadline = t0 + TSCDL_TICKS, now;
        wrmsr(MSR_TSC_DEADLINE, deadline);
        do
            now = tsc_now();
        while (!irr_has(VEC_IPI) && now - t0 < 20 * TSCDL_TICKS);
        bool fired = irr_has(VEC_IPI);
        __asm__ volatile("sti; nop; cli"); /* taken: probe_handle() ends it with an EOI */
        tk_printf("RFXS tscdl round=%u fired=%u early=%llu late=%llu\n", round, fired,
                  (unsigned long long)(now < deadline ? deadline - now : 0),
                  (unsigned long long)(now > deadline ? now - deadline : 0));
        box[1] = round;
    }
}
