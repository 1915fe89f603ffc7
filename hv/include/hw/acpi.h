/*
 * ACPI tables the VMM reads to find the machine's cores, and the MP
 * table that older firmware gives instead. No logic.
 * ACPI 6.4: §5.2.5 RSDP, §5.2.6 system description table header, §5.2.7
 * RSDT, §5.2.8 XSDT, §5.2.12 MADT (Table 5.45 the entry types, §5.2.12.2
 * Processor Local APIC, §5.2.12.12 Processor Local x2APIC).
 * PCI Firmware Specification 3.0 §4.1.2: the MCFG (Tables 4-2, 4-3).
 * Intel MultiProcessor Specification 1.4: §4.1 floating pointer, §4.2
 * configuration table header, §4.3.1 processor entries.
 */
#ifndef HW_ACPI_H
#define HW_ACPI_H

#include <stdint.h>

struct acpi_rsdp {
    char signature[8]; /* "RSD PTR " */
    uint8_t checksum;  /* the first 20 bytes sum to 0 */
    char oem_id[6];
    uint8_t revision; /* 0: ACPI 1.0 (RSDT only); 2: has the XSDT */
    uint32_t rsdt;
    uint32_t length; /* revision >= 2 */
    uint64_t xsdt;
    uint8_t ext_checksum; /* the whole structure sums to 0 */
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "ACPI 6.4 Table 5.3: the RSDP is 36 bytes");

struct acpi_sdt {
    char signature[4];
    uint32_t length; /* of the whole table, header included; it sums to 0 */
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt) == 36, "ACPI 6.4 Table 5.4: the header is 36 bytes");

/* MADT: the header, then the local APIC address and flags, then entries. */
#define ACPI_MADT_ENTRIES        44
#define ACPI_MADT_LAPIC          0 /* type, length 8: uid, apic id, flags */
#define ACPI_MADT_X2APIC         9 /* type, length 16: reserved, x2apic id, flags, uid */
#define ACPI_MADT_ENABLED        (1u << 0)
#define ACPI_MADT_ONLINE_CAPABLE (1u << 1)

/* MCFG: the header, 8 reserved bytes, then one entry per ECAM window. */
#define ACPI_MCFG_ENTRIES 44
struct acpi_mcfg_alloc {
    uint64_t base; /* of bus 0's configuration space in this window */
    uint16_t segment;
    uint8_t bus_start, bus_end;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "PCI Firmware 3.0 Table 4-3: 16 bytes");

/* MP floating pointer "_MP_" and configuration table "PCMP" */
#define MP_FLOAT_SIZE         16
#define MP_CONFIG_HEADER_SIZE 44
#define MP_ENTRY_PROCESSOR    0 /* 20 bytes: type, apic id, version, flags, ... */
#define MP_PROC_ENABLED       (1u << 0)
#define MP_PROC_BSP           (1u << 1)

#endif
