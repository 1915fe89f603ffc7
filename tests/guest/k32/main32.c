/*
 * The 32-bit part's main: takes what GRUB handed over, sets the machine
 * up (GDT, IDT, page tables, the 16-bit part in low memory, the shared
 * page), and runs the selected groups of include/groups.def in order; the
 * 64-bit groups run in one visit to long mode (call_long, k64/).
 */
#include "k32.h"

#define MB_BOOT_MAGIC 0x2badb002

/* Multiboot information (Multiboot Specification 0.6.96, §3.3). */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr, syms[4];
    uint32_t mmap_length, mmap_addr;
};

struct __attribute__((packed)) mb_mmap {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
};

struct mb_saved boot;
/* A copy: the multiboot data may lie where the shared page goes. */
static const char *boot_cmdline;

static void exec_real(void)
{
    SH->low_mode = 0;
    call_low16();
}

static void exec_pm16(void)
{
    SH->low_mode = 1;
    call_low16();
}

static uint32_t read_cr0(void)
{
    uint32_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

static uint32_t read_cr4(void)
{
    uint32_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

static void write_cr0(uint32_t v) { __asm__ volatile("mov %0, %%cr0" ::"r"(v)); }
static void write_cr3(uint32_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v)); }
static void write_cr4(uint32_t v) { __asm__ volatile("mov %0, %%cr4" ::"r"(v)); }

/* PAE paging, identity-mapped (APM Vol.2 §5.2): CR3, CR4.PAE, CR0.PG. */
static const char *pae_enter(void)
{
    if (!(cpu.l1_edx & (1u << 6)))
        return "no-pae";
    write_cr3(cr3_pae());
    write_cr4(read_cr4() | CR4_PAE);
    write_cr0(read_cr0() | CR0_PG);
    return 0;
}

static void pae_leave(void)
{
    write_cr0(read_cr0() & ~CR0_PG);
    write_cr4(read_cr4() & ~CR4_PAE);
    write_cr3(cr3_pd32());
}

const struct mode mode_real = {"real", M_REAL | M_CODE16, exec_real, 0, 0};
const struct mode mode_pm16 = {"pm16", M_PROT | M_CODE16, exec_pm16, 0, 0};
const struct mode mode_pm32 = {"pm32", M_PROT, run_op32, 0, 0};
const struct mode mode_pae = {"pae", M_PROT | M_PAGING, run_op32, pae_enter, pae_leave};

#define G(part, m, f, fl) G_##part(m, f, fl)
#define G_32(m, f, fl)    {#m "." #f, &mode_##m, fam_##f, fl},
#define G_64(m, f, fl)    {#m "." #f, 0, 0, (fl) | G_OTHER},
static const struct group groups[] = {
#include "groups.def"
};

static const char *no_long(void) { return "no-long-mode"; }
static const struct mode mode_no_long = {"long", 0, 0, no_long, 0};

static void save_boot_info(uint32_t magic, const struct mb_info *mbi)
{
    boot.magic = magic;
    boot.cr0 = read_cr0();
    boot.cr4 = read_cr4();
    if (cpu.e1_edx & ((1u << 29) | (1u << 20) | (1u << 11))) /* LM, NX or SYSCALL: EFER exists */
        boot.efer = rdmsr(MSR_EFER);
    if (magic != MB_BOOT_MAGIC)
        return;
    boot.flags = mbi->flags;
    boot.mem_lower = mbi->mem_lower;
    boot.mem_upper = mbi->mem_upper;
    if (mbi->flags & (1u << 2)) {
        const char *c = (const char *)mbi->cmdline;
        unsigned i = 0;
        for (; c[i] && i < SH_CMDLINE_MAX - 1; i++)
            ;
        static char cmd[SH_CMDLINE_MAX];
        tk_memcpy(cmd, c, i);
        cmd[i] = 0;
        boot_cmdline = cmd;
    }
    if (mbi->flags & (1u << 6)) {
        uint32_t off = 0;
        while (off < mbi->mmap_length && boot.mmap_count < ARRAY_SIZE(boot.mmap)) {
            const struct mb_mmap *e = (const struct mb_mmap *)(mbi->mmap_addr + off);
            boot.mmap[boot.mmap_count].addr = e->addr;
            boot.mmap[boot.mmap_count].len = e->len;
            boot.mmap[boot.mmap_count].type = e->type;
            boot.mmap_count++;
            off += e->size + 4;
        }
    }
}

void kmain32(uint32_t magic, const struct mb_info *mbi)
{
    cpu_probe();
    save_boot_info(magic, mbi);
    serial_init();

    size_t low16_len = (size_t)(low16_image_end - low16_image);
    tk_memset((void *)SHARED, 0, 0x1000);
    if (low16_len > LOW16_MAX)
        fatal("the 16-bit part is %u bytes, more than %u", (unsigned)low16_len, LOW16_MAX);
    tk_memcpy((void *)LOW16_BASE, low16_image, low16_len);
    if (boot_cmdline)
        tk_memcpy((void *)SH_CMDLINE, boot_cmdline, tk_strlen(boot_cmdline) + 1);

    sys32_init();
    outb(0x21, 0xff); /* both 8259As masked: no hardware interrupt reaches the kernel */
    outb(0xa1, 0xff);
    paging_init();
    write_cr3(cr3_pd32());
    write_cr4(read_cr4() | CR4_PSE); /* 4 MiB pages for pd32 */
    cmdline_parse();

    tk_printf("RFXT-START %s\n", part_name());
    if (magic != MB_BOOT_MAGIC)
        fatal("not started by a multiboot loader (EAX 0x%x): boot it with GRUB's `multiboot`",
              magic);
    unsigned first = groups_from(groups, ARRAY_SIZE(groups));
    serial_write("RFXT-PLAN", 9);
    for (unsigned i = first; i < ARRAY_SIZE(groups); i++)
        if (group_selected(&groups[i]))
            tk_printf(" %s", groups[i].name);
    serial_write("\n", 1);

    bool long_done = false;
    for (unsigned i = first; i < ARRAY_SIZE(groups); i++) {
        const struct group *g = &groups[i];
        if (!group_selected(g))
            continue;
        if (!(g->flags & G_OTHER)) {
            group_run(g);
            continue;
        }
        if (long_done)
            continue;
        long_done = true;
        if (cpu.e1_edx & CPUID_E1_EDX_LM) {
            call_long();
            write_cr3(cr3_pd32());
            continue;
        }
        for (unsigned j = i; j < ARRAY_SIZE(groups); j++) {
            struct group skipped = groups[j];
            if (!(skipped.flags & G_OTHER) || !group_selected(&skipped))
                continue;
            skipped.mode = &mode_no_long;
            group_run(&skipped);
        }
    }
    tk_printf("RFXT-DONE %u\n", SH->lines);
    for (;;)
        __asm__ volatile("cli; hlt");
}
