/*
 * The VM's first instructions: the real-mode stub, copied to conventional
 * memory, that makes the machine's own BIOS boot the installed disk
 * (setup/stub.S, docs/boot-stub.md). Everything else of the VM -- its
 * vCPUs, intercepts and permission maps -- the vmm builds itself.
 */
#include "common/log.h"
#include "lib/mem.h"
#include "setup/setup.h"

extern const uint8_t stub_start[], stub_end[], stub_drive[];

void setup_build_vm(struct boot_info *info)
{
    uint64_t len = (uint64_t)(stub_end - stub_start);
    lib_memcpy((void *)STUB_BASE, stub_start, len);
    *(uint8_t *)(STUB_BASE + (stub_drive - stub_start)) = (uint8_t)info->boot_disk;
    info->vm_start_ip = STUB_BASE;
    log_printf("setup: VM starts in real mode at 0:%x, boots BIOS drive 0x%x\n", STUB_BASE,
               info->boot_disk);
}
