/*
 * setup: runs once, between the loader and the vmm (docs/architecture.md).
 * The steps, in order: log port, CPU checks, memory map, vmm placement and
 * load, the VMM's host environment, nested page tables, the VM, then the
 * jump into the vmm. Everything it builds lives in the VMM range; setup's
 * own memory is left to the VM.
 */
#include "common/cpu.h"
#include "common/log.h"
#include "lib/mem.h"
#include "setup/setup.h"

void setup_main(const struct multiboot_info *mbi, const struct multiboot_module *vmm_mod);

static struct boot_info tmp; /* copied into the VMM range once it exists */

void setup_fail(const char *why)
{
    log_printf("setup: error: %s\nsetup: halted\n", why);
    cpu_halt_forever();
    __builtin_unreachable();
}

void setup_main(const struct multiboot_info *mbi, const struct multiboot_module *vmm_mod)
{
    const char *cmdline =
        (mbi->flags & MBI_FLAG_CMDLINE) ? (const char *)(uint64_t)mbi->cmdline : "";
    struct e820_entry map[BOOT_E820_MAX];

    const char *ctrl_error = setup_parse_options(&tmp, cmdline);
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

    struct boot_info *info = setup_build_vmm(&tmp, map, count);
    setup_build_vm(info);

    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {3 * 8 - 1, info->gdt};
    log_printf("setup: entering vmm at 0x%llx\n", (unsigned long long)entry);
    setup_enter_vmm(entry, info, info->stack_top, info->host_cr3, &gdtr);
}
