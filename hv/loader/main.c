/*
 * loader_main: checks the multiboot hand-off, loads setup (module 1, an
 * ELF64 linked at a fixed physical address) and builds an identity map for
 * long mode: 1 GiB pages over 512 GiB where the CPU has them, else 2 MiB
 * pages over the first 4 GiB. Then loader_enter_long() starts setup with
 * (multiboot info, module 2 = vmm).
 */
#include <stdbool.h>
#include <stdint.h>

#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/log.h"
#include "hw/multiboot.h"
#include "hw/paging.h"
#include "hw/x86.h"
#include "lib/elf.h"

void loader_main(uint32_t magic, const struct multiboot_info *mbi);
void loader_enter_long(uint32_t pml4, uint32_t entry, uint32_t arg0, uint32_t arg1)
    __attribute__((noreturn));

extern char _start[], __loader_end[];

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));

static void __attribute__((noreturn)) fail(const char *why)
{
    log_printf("loader: error: %s\nloader: halted\n", why);
    cpu_halt_forever();
    __builtin_unreachable();
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Returns true if the CPU has 1 GiB pages (CPUID 8000_0001 EDX[26]); fails
 * if it has no long mode at all. */
static bool check_long_mode(void)
{
    uint32_t r[4];
    cpuid_count(0x80000000, 0, r);
    if (r[0] < 0x80000001)
        fail("CPU has no extended CPUID leaves: no long mode");
    cpuid_count(0x80000001, 0, r);
    if (!(r[3] & CPUID_80000001_EDX_LM))
        fail("CPU has no long mode (CPUID 8000_0001 EDX.LM)");
    return r[3] & CPUID_80000001_EDX_PAGE1GB;
}

static void build_identity_map(bool page1gb)
{
    pml4[0] = (uint32_t)pdpt | PTE_P | PTE_W;
    if (page1gb) {
        for (uint64_t i = 0; i < 512; i++)
            pdpt[i] = (i << 30) | PTE_P | PTE_W | PTE_PS;
        return;
    }
    for (uint64_t g = 0; g < 4; g++) {
        pdpt[g] = (uint32_t)pd[g] | PTE_P | PTE_W;
        for (uint64_t i = 0; i < 512; i++)
            pd[g][i] = (g << 30) | (i << 21) | PTE_P | PTE_W | PTE_PS;
    }
}

static void load_setup(const struct multiboot_module *mods, uint32_t nmods,
                       const struct multiboot_info *mbi, uint32_t *entry)
{
    const struct multiboot_module *m = &mods[0];
    const void *img = (const void *)m->mod_start;
    uint64_t size = m->mod_end - m->mod_start;
    uint64_t lo, hi;

    if (elf64_check(img, size) || elf64_load_span(img, &lo, &hi))
        fail("module 1 (setup) is not an x86-64 ELF image");
    if (hi > 0x40000000)
        fail("setup is linked above 1 GiB");
    for (uint32_t i = 0; i < nmods; i++)
        if (overlaps(lo, hi - lo, mods[i].mod_start, mods[i].mod_end - mods[i].mod_start))
            fail("a module was loaded where setup must run; load the modules higher");
    if (overlaps(lo, hi - lo, (uint32_t)mbi, sizeof(*mbi)) ||
        overlaps(lo, hi - lo, (uint32_t)_start, (uint32_t)(__loader_end - _start)))
        fail("setup's link address overlaps the loader or the multiboot info");
    if (elf64_load(img, size, (uint8_t *)(uint32_t)lo, hi - lo, lo))
        fail("setup's segments do not fit its span");
    *entry = (uint32_t)((const struct elf64_ehdr *)img)->e_entry;
    log_printf("loader: setup at 0x%x-0x%x, entry 0x%x\n", (uint32_t)lo, (uint32_t)hi, *entry);
}

void loader_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct log_target lt = {LOG_UART, 0x3e8};
    const char *cmdline = "";
    char val[32];

    if (magic == MULTIBOOT_BOOT_MAGIC && (mbi->flags & MBI_FLAG_CMDLINE))
        cmdline = (const char *)mbi->cmdline;
    if (!cmdline_get(cmdline, "log", val, sizeof(val)))
        log_parse(val, &lt);
    log_init(&lt);
    log_printf("\nloader: ramooflax loader, cmdline \"%s\"\n", cmdline);

    if (magic != MULTIBOOT_BOOT_MAGIC)
        fail("not started by a multiboot loader (bad magic in EAX)");
    if (!(mbi->flags & MBI_FLAG_MODS) || mbi->mods_count < 2)
        fail("need two modules: setup.elf then vmm.elf");
    if (!(mbi->flags & MBI_FLAG_MMAP))
        fail("the boot loader gave no memory map");

    const struct multiboot_module *mods = (const void *)mbi->mods_addr;
    uint32_t entry;
    bool page1gb = check_long_mode();
    load_setup(mods, mbi->mods_count, mbi, &entry);
    build_identity_map(page1gb);
    log_printf("loader: long mode with %s pages, starting setup\n", page1gb ? "1 GiB" : "2 MiB");
    loader_enter_long((uint32_t)pml4, entry, (uint32_t)mbi, (uint32_t)&mods[1]);
}
