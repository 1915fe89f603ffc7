/* setup's internal interfaces: one file per step of building the VMM. */
#ifndef SETUP_SETUP_H
#define SETUP_SETUP_H

#include <stdint.h>

#include "common/boot_info.h"
#include "hw/multiboot.h"

/* Minimum VMM reservation, and what each core adds to it (its VMCBs,
 * stacks, tables); the range is then aligned down to 2 MiB. */
#define VMM_MIN_SIZE    (4ull << 20)
#define VMM_PER_CPU     (256ull << 10)
#define VMM_STACK_PAGES 16
#define STUB_BASE       0x600

void setup_fail(const char *why) __attribute__((noreturn));

/* cpu.c: checks vendor, then SVM and NPT (AMD) or VMX, EPT and
 * unrestricted guest (Intel); returns BOOT_CPU_* bits (BOOT_CPU_VMX: Intel). */
uint32_t setup_check_cpu(void);
/* cpus.c: the cores the firmware reports (info->ncpus, info->apic_ids). */
void setup_find_cpus(struct boot_info *info);
/* memory.c: fills e820 from multiboot; returns the count. */
int setup_read_mmap(const struct multiboot_info *mbi, struct e820_entry *map, int max);
/* options.c: the boot options into info (defaults for those absent). */
/* Parses the boot options into info; a bad value of most is setup_fail.
 * Returns 0, or why the ctrl= value is bad (the channel then stays on the
 * default UART, and the caller logs it once its log is open). */
const char *setup_parse_options(struct boot_info *info, const char *cmdline);
/* memory.c: checks the vmm image; returns the size of the VMM range it
 * needs with ncpus cores. */
uint64_t setup_vmm_need(const void *img, uint64_t size, unsigned ncpus);
/* memory.c: loads the vmm image into [base, top); fills vmm_base/size,
 * image_end, palloc. Returns the vmm's entry point. */
uint64_t setup_place_vmm(const void *img, uint64_t size, uint64_t base, uint64_t top,
                         struct boot_info *info);
/* memory.c: places (top of RAM below 4 GiB) and loads the multiboot
 * vmm module. Returns the vmm's entry point. */
uint64_t setup_load_vmm(const struct multiboot_module *mod, const struct e820_entry *map, int count,
                        struct boot_info *info_tmp);
/* build.c: the boot_info page and everything below, in the VMM range;
 * returns that boot_info. */
struct boot_info *setup_build_vmm(const struct boot_info *tmp, const struct e820_entry *map,
                                  int count);
/* host.c: identity page tables over [0, map_limit), GDT, IDT page, stack. */
void setup_build_host(struct boot_info *info, uint64_t map_limit);
/* npt.c: nested identity map of the RAM in map and the low 4 GiB, without
 * the VMM range (the rest is mapped on demand: vmm/svm/npt.c,
 * vmm/vmx/ept.c), in the NPT or the EPT format. */
void setup_build_npt(struct boot_info *info, const struct e820_entry *map, int count);
/* vm.c: the VM's first instructions (the real-mode stub). */
void setup_build_vm(struct boot_info *info);

/* enter_vmm.S: onto the VMM's page tables, GDT and stack, into the vmm. */
void setup_enter_vmm(uint64_t entry, struct boot_info *info, uint64_t stack_top, uint64_t cr3,
                     const void *gdtr) __attribute__((noreturn));

#endif
