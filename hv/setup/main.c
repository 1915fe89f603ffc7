/*
 * setup: runs once, between the loader and the vmm (docs/architecture.md).
 * The steps, in order: log port, CPU checks, memory map, vmm placement and
 * load, the VMM's host environment, nested page tables, the VM, then the
 * jump into the vmm. Everything it builds lives in the VMM range; setup's
 * own memory is left to the VM.
 */
#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/log.h"
#include "lib/mem.h"
#include "setup/setup.h"

void setup_main(const struct multiboot_info *mbi, const struct multiboot_module *vmm_mod);
void setup_enter_vmm(uint64_t entry, struct boot_info *info, uint64_t stack_top, uint64_t cr3,
                     const void *gdtr) __attribute__((noreturn));

static struct boot_info tmp;   /* copied into the VMM range once it exists */
static const char *ctrl_error; /* a bad ctrl= value: logged once the log is open */

void setup_fail(const char *why)
{
    log_printf("setup: error: %s\nsetup: halted\n", why);
    cpu_halt_forever();
    __builtin_unreachable();
}

static void parse_options(struct boot_info *info, const char *cmdline)
{
    char val[64];
    uint64_t n;

    info->log = (struct log_target){LOG_UART, 0x3e8};
    info->ctrl = (struct log_target){LOG_UART, 0x2f8};
    info->boot_disk = 0x80;
    if (!cmdline_get(cmdline, "log", val, sizeof(val)) && log_parse(val, &info->log))
        setup_fail("bad log= option; use log=uart:0x3e8 or log=debugcon:0xe9");
    /* ctrl=: a bad value is logged and the channel stays on the default
     * UART -- the machine still boots, and its log says why. */
    if (!cmdline_get(cmdline, "ctrl", val, sizeof(val))) {
        struct log_target t;
        if (!lib_strncmp(val, "net:", 4)) {
            if (!netopt_parse(val + 4, &info->net, &ctrl_error))
                info->ctrl.kind = LOG_NONE;
        } else if (log_parse(val, &t) || t.kind != LOG_UART) {
            ctrl_error = "use ctrl=uart:0x2f8 or ctrl=net:e1000,ip=A.B.C.D,port=N";
        } else {
            info->ctrl = t;
        }
    }
    if (!cmdline_get(cmdline, "ctrl_wait", val, sizeof(val)))
        info->ctrl_wait = val[0] == '1' || val[0] == 'y';
    if (!cmdline_get(cmdline, "ctrl_timeout", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n == 0 || n > 3600)
            setup_fail("bad ctrl_timeout= option; use seconds, 1-3600");
        info->ctrl_timeout = (uint32_t)n;
    }
    info->tsc_debt_ms = 50;
    if (!cmdline_get(cmdline, "tsc_debt", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n > 1000)
            setup_fail("bad tsc_debt= option; use milliseconds, 0-1000 (0: never hide VMM time)");
        info->tsc_debt_ms = (uint32_t)n;
    }
    info->ctrl_poll = 64;
    if (!cmdline_get(cmdline, "ctrl_poll", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n == 0 || n > 65536 || (n & (n - 1)))
            setup_fail("bad ctrl_poll= option; use a power of two, 1-65536");
        info->ctrl_poll = (uint32_t)n;
    }
    if (!cmdline_get(cmdline, "disk", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n < 0x80 || n > 0xff)
            setup_fail("bad disk= option; use a BIOS hard-disk number, e.g. disk=0x80");
        info->boot_disk = (uint32_t)n;
    }
    size_t len = lib_strlen(cmdline);
    if (len >= BOOT_CMDLINE_MAX)
        len = BOOT_CMDLINE_MAX - 1;
    lib_memcpy(info->cmdline, cmdline, len);
}

void setup_main(const struct multiboot_info *mbi, const struct multiboot_module *vmm_mod)
{
    const char *cmdline =
        (mbi->flags & MBI_FLAG_CMDLINE) ? (const char *)(uint64_t)mbi->cmdline : "";
    struct e820_entry map[BOOT_E820_MAX];

    parse_options(&tmp, cmdline);
    log_init(&tmp.log);
    log_printf("setup: ramooflax setup\n");
    if (ctrl_error)
        log_printf("setup: bad ctrl= option (%s): the control channel stays on UART 0x%x\n",
                   ctrl_error, tmp.ctrl.port);
    tmp.magic = BOOT_INFO_MAGIC;
    tmp.cpu_features = setup_check_cpu();

    setup_find_cpus(&tmp);
    int count = setup_read_mmap(mbi, map, BOOT_E820_MAX);
    uint64_t entry = setup_load_vmm(vmm_mod, map, count, &tmp);

    struct boot_info *info = (struct boot_info *)palloc_pages(&tmp.palloc, 1);
    if (!info)
        setup_fail("the VMM range is too small");
    *info = tmp;

    /* The VMM's identity map covers all of RAM, and at least 4 GiB for the
     * firmware and MMIO; with 1 GiB pages, 512 GiB (one table). */
    uint64_t limit = e820_ram_top_below(map, count, ~0ull);
    limit = limit < (4ull << 30) ? (4ull << 30) : (limit + (1ull << 30) - 1) & ~((1ull << 30) - 1);
    if ((info->cpu_features & BOOT_CPU_PAGE1GB) && limit < (512ull << 30))
        limit = 512ull << 30;
    setup_build_host(info, limit);
    setup_build_npt(info, map, count);

    lib_memcpy(info->e820, map, sizeof(map));
    int patched = e820_remove(info->e820, count, BOOT_E820_MAX, info->vmm_base, info->vmm_size);
    if (patched < 0)
        setup_fail("E820 map too large to patch");
    info->e820_count = (uint32_t)patched;

    setup_build_vm(info);

    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {3 * 8 - 1, info->gdt};
    log_printf("setup: entering vmm at 0x%llx\n", (unsigned long long)entry);
    setup_enter_vmm(entry, info, info->stack_top, info->host_cr3, &gdtr);
}
