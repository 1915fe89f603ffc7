/*
 * What setup hands to the vmm: the VMM's range and its page pool, the
 * structures setup built (the VMM's identity map, a boot GDT, the IDT
 * page, the boot CPU's stack, the nested page tables), where the VM
 * starts, the patched E820 map and the boot options. It lives inside the
 * VMM range.
 */
#ifndef COMMON_BOOT_INFO_H
#define COMMON_BOOT_INFO_H

#include <stdint.h>

#include "common/log.h"
#include "common/palloc.h"
#include "common/selectors.h"
#include "lib/e820.h"
#include "lib/netopt.h"

#define BOOT_INFO_MAGIC  0x6f666e6978666172ull /* "rafxinfo" */
#define BOOT_E820_MAX    64
#define BOOT_CPUS_MAX    64
#define BOOT_CMDLINE_MAX 256

/* CPU features setup found (CPUID 8000_000A EDX and 8000_0001 EDX; on
 * Intel, IA32_VMX_EPT_VPID_CAP). BOOT_CPU_VMX chooses the backend: the
 * vmm runs vmx/ with it (an Intel CPU: nested_root is an EPT tree), svm/
 * without. */
#define BOOT_CPU_NRIPS   (1u << 0)
#define BOOT_CPU_PAGE1GB (1u << 1)
#define BOOT_CPU_VMX     (1u << 2)
#define BOOT_CPU_EPT_2M  (1u << 3)
#define BOOT_CPU_EPT_1G  (1u << 4)

/* The VM's first state when the VMM takes over a running firmware (the UEFI
 * application: uefi/launch.S), instead of the real-mode stub: the CPU as
 * the firmware left it at the launch point. Segments in the VMCB's
 * attribute packing (type|S|DPL|P in 7:0, AVL|L|DB|G in 11:8). */
struct boot_seg {
    uint16_t selector;
    uint16_t attrib;
    uint32_t limit;
    uint64_t base;
};

enum boot_resume_seg { BR_ES, BR_CS, BR_SS, BR_DS, BR_FS, BR_GS, BR_LDTR, BR_TR, BR_NSEGS };

struct boot_resume {
    uint64_t gpr[16]; /* rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15 */
    uint64_t rip, rflags;
    uint64_t cr0, cr3, cr4, efer, pat, kernel_gs_base;
    uint64_t gdt_base, idt_base;
    uint16_t gdt_limit, idt_limit;
    uint32_t pad;
    struct boot_seg seg[BR_NSEGS];
};

struct boot_info {
    uint64_t magic;
    uint64_t vmm_base; /* hidden range [vmm_base, vmm_base + vmm_size) */
    uint64_t vmm_size;
    uint64_t image_end;   /* end of the loaded vmm image */
    struct palloc palloc; /* what is left of the VMM range's page pool */
    uint64_t host_cr3;    /* the VMM's identity map (PML4) of [0, host_limit) */
    uint64_t host_limit;
    uint64_t gdt;       /* one page: null, code64 0x08, data 0x10 (until each core has its own) */
    uint64_t idt;       /* one page, filled in by the vmm */
    uint64_t stack_top; /* the boot CPU's stack */
    uint64_t
        nested_root; /* nested page tables (NPT or EPT): the VM's memory without the VMM range */
    uint64_t nested_limit; /* the span mapped up front; the rest is mapped on demand */
    uint32_t vm_start_ip;  /* the VM's first instruction: 0000:vm_start_ip, real mode */
    uint32_t vm_resume;    /* 1: the VM starts in `resume` instead (a UEFI launch) */
    uint32_t cpu_features; /* BOOT_CPU_* */
    uint32_t boot_disk;    /* BIOS drive the stub boots */
    uint32_t ctrl_wait;    /* stop at the VM's first instruction for a client */
    uint32_t ctrl_timeout; /* seconds of client silence before a stopped VM runs again */
    uint32_t ctrl_poll;    /* poll the channel on one exit in ctrl_poll (a power of two) */
    uint32_t tsc_debt_ms;  /* VMM time hidden from a vCPU's TSC at most, before it is repaid */
    struct log_target log;
    struct log_target ctrl; /* kind LOG_NONE when the control channel is the network */
    struct netopt net;      /* ctrl=net:... */
    uint32_t e820_count;
    uint32_t ncpus;                   /* the cores the firmware reports (0: its tables gave none) */
    uint32_t apic_ids[BOOT_CPUS_MAX]; /* their APIC IDs, in table order */
    uint64_t ecam_base;               /* the PCIe ECAM window of segment 0 (ACPI MCFG), 0 if none */
    uint32_t ecam_bus_start, ecam_bus_end;
    struct e820_entry e820[BOOT_E820_MAX]; /* patched: VMM range absent */
    char cmdline[BOOT_CMDLINE_MAX];
    struct boot_resume resume;
};

_Static_assert(sizeof(struct boot_info) <= 4096, "boot_info fits one page");

#endif
