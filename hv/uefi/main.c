/*
 * ramooflax.efi: the hypervisor as a UEFI application (docs/uefi.md).
 *
 * It reads its options, checks the CPU as the multiboot setup does, takes
 * the VMM's range from the firmware (EfiReservedMemoryType), loads the vmm
 * image there and builds the same VMM with setup's code (setup/build.c).
 * Then it virtualizes the running firmware: uefi_launch records the CPU at
 * the launch point and enters the vmm, whose VM resumes right there, in
 * long mode with the firmware's own GDT, IDT and page tables. From then on
 * this code runs inside the VM, returns to the boot manager, and the boot
 * manager boots the next boot option -- the installed OS -- in the VM.
 *
 * Any error before the launch is a message on the console, the range is
 * given back, and the application returns an error: the boot manager then
 * boots the next option without the hypervisor (UEFI 2.10 §3.1.1).
 */
#include "common/log.h"
#include "lib/acpi.h"
#include "lib/cpus.h"
#include "lib/mem.h"
#include "setup/setup.h"
#include "uefi/uefi.h"

_Static_assert(__builtin_offsetof(struct boot_resume, rip) == 128, "launch.S R_RIP");
_Static_assert(__builtin_offsetof(struct boot_resume, kernel_gs_base) == 184, "launch.S R_KGSBASE");
_Static_assert(__builtin_offsetof(struct boot_resume, gdt_limit) == 208, "launch.S R_GDTLIM");
_Static_assert(__builtin_offsetof(struct boot_resume, seg) == 216, "launch.S R_SEG");
_Static_assert(sizeof(struct boot_seg) == 16, "launch.S R_SEG stride");

efi_status uefi_main(efi_handle image, struct efi_system_table *st);

struct efi_system_table *uefi_st;
efi_handle uefi_image;

static struct boot_info tmp; /* copied into the VMM range once it exists */
static struct boot_info *info;
static uint64_t vmm_entry;

void setup_fail(const char *why)
{
    uefi_print("ramooflax: error: %s\n", why);
    uefi_print("ramooflax: not started; the firmware boots on without the hypervisor\n");
    uefi_free_vmm();
    uefi_abort(EFI_UNSUPPORTED);
}

static bool read_phys(void *ctx, uint64_t pa, void *buf, uint32_t len)
{
    if (pa + len > (4ull << 30) || pa + len < pa)
        return false;
    lib_memcpy(buf, (const void *)pa, len); /* the firmware maps memory 1:1 (§2.3.4) */
    return true;
}

/* The cores, from the ACPI MADT that the EFI configuration table's RSDP
 * leads to (UEFI 2.10 §4.6.1.1; ACPI 6.4 §5.2.5.2): the vmm brings each into
 * the VM (vmm/core/smp.c), and the range is sized for them. */
static void find_cpus(struct boot_info *info)
{
    static const struct efi_guid acpi20 = EFI_ACPI_20_TABLE_GUID, acpi10 = EFI_ACPI_10_TABLE_GUID;
    uint64_t rsdp = 0;
    for (int pass = 0; pass < 2 && !rsdp; pass++)
        for (uint64_t i = 0; i < uefi_st->number_of_table_entries; i++) {
            const struct efi_configuration_table *t = &uefi_st->configuration_table[i];
            if (!lib_memcmp(&t->guid, pass ? &acpi10 : &acpi20, sizeof(t->guid)))
                rsdp = (uint64_t)t->table;
        }
    info->ncpus = cpus_find_rsdp(read_phys, 0, rsdp, info->apic_ids, BOOT_CPUS_MAX);
    log_printf("uefi: %u core%s from %s\n", info->ncpus, info->ncpus == 1 ? "" : "s",
               info->ncpus ? "the ACPI MADT" : "no MADT (the boot CPU only)");
    /* and the PCIe ECAM window, through which the vmm hides its NIC */
    struct acpi_ecam e;
    if (acpi_find_ecam(read_phys, 0, rsdp, &e)) {
        info->ecam_base = e.base;
        info->ecam_bus_start = e.bus_start;
        info->ecam_bus_end = e.bus_end;
        log_printf("uefi: PCIe ECAM window at 0x%llx, buses %u-%u (ACPI MCFG)\n",
                   (unsigned long long)e.base, e.bus_start, e.bus_end);
    }
}

/* On the firmware's stack with interrupts off, the CPU recorded in r: into
 * the vmm, for good. */
static void go(struct boot_resume *r)
{
    uefi_fill_segments(r);
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {3 * 8 - 1, info->gdt};
    log_printf("uefi: entering vmm at 0x%llx; the VM resumes at 0x%llx\n",
               (unsigned long long)vmm_entry, (unsigned long long)r->rip);
    setup_enter_vmm(vmm_entry, info, info->stack_top, info->host_cr3, &gdtr);
}

efi_status uefi_main(efi_handle image, struct efi_system_table *st)
{
    struct e820_entry map[BOOT_E820_MAX];
    char options[BOOT_CMDLINE_MAX];

    uefi_st = st;
    uefi_image = image;
    uefi_read_options(options, sizeof(options));
    const char *ctrl_error = setup_parse_options(&tmp, options);
    log_init(&tmp.log);
    uefi_print("ramooflax: UEFI application, options \"%s\"\n", options);
    if (ctrl_error)
        uefi_print("ramooflax: bad ctrl= option (%s): the control channel stays on UART 0x%x\n",
                   ctrl_error, tmp.ctrl.port);
    tmp.magic = BOOT_INFO_MAGIC;
    tmp.cpu_features = setup_check_cpu();
    find_cpus(&tmp);

    const uint8_t *img = vmm_image_start;
    uint64_t img_size = (uint64_t)(vmm_image_end - vmm_image_start);
    uint64_t need = setup_vmm_need(img, img_size, tmp.ncpus);
    uint64_t base = uefi_alloc_vmm(need);
    vmm_entry = setup_place_vmm(img, img_size, base, base + need, &tmp);
    int count = uefi_read_mmap(map, BOOT_E820_MAX);
    info = setup_build_vmm(&tmp, map, count);
    info->vm_resume = 1;

    uefi_print("ramooflax: VMM at 0x%llx-0x%llx (%llu KiB, reserved); virtualizing the firmware\n",
               (unsigned long long)base, (unsigned long long)(base + need),
               (unsigned long long)(need >> 10));
    if (uefi_launch(&info->resume, go)) {
        uefi_free_vmm();
        uefi_print("ramooflax: error: the vmm did not start\n");
        return EFI_LOAD_ERROR;
    }
    /* In the VM from here on: the VMM's log is the hypervisor's, this
     * console the firmware's. */
    uefi_print("ramooflax: the firmware runs in the VM; back to the boot manager\n");
    /* UEFI 2.10 §3.1.1: after a boot option returns EFI_SUCCESS the boot
     * manager may stop and show its menu (OVMF does); after an error it
     * boots the next option in BootOrder, the installed OS. */
    return EFI_ABORTED;
}
