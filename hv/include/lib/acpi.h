/*
 * Walking the firmware's ACPI tables (include/hw/acpi.h): the RSDP, the
 * tables its RSDT/XSDT lists, and the MCFG's PCIe ECAM window. Pure:
 * memory is read through a callback, so the host tests feed it crafted
 * tables (lib/cpus.c finds the MADT through it).
 */
#ifndef LIB_ACPI_H
#define LIB_ACPI_H

#include <stdbool.h>
#include <stdint.h>

/* Copies len bytes of physical memory at pa into buf. Returns false if
 * that memory cannot be read. */
typedef bool (*acpi_read_fn)(void *ctx, uint64_t pa, void *buf, uint32_t len);

/* The byte sum of len bytes at pa; -1 if a read fails. */
int acpi_sum(acpi_read_fn read, void *ctx, uint64_t pa, uint32_t len);

/* The address of a 16-byte-aligned structure that starts with sig and
 * whose first len bytes sum to 0, in [from, to); 0 if none. */
uint64_t acpi_scan(acpi_read_fn read, void *ctx, uint64_t from, uint64_t to, const char *sig,
                   uint32_t siglen, uint32_t len);

/* The RSDP of a BIOS machine (ACPI 6.4 §5.2.5.1: the EBDA's first KiB --
 * ebda is its address, or 0 --, else E0000h-FFFFFh); 0 if none. */
uint64_t acpi_find_rsdp(acpi_read_fn read, void *ctx, uint64_t ebda);

/* Calls fn on the address of each table the RSDP at rsdp lists (through
 * the XSDT, or the RSDT for ACPI 1.0), in order, until fn returns true.
 * Returns true if one did; false if none did or the RSDP or its table
 * list does not check out. */
typedef bool (*acpi_table_fn)(acpi_read_fn read, void *ctx, uint64_t pa, void *arg);
bool acpi_each_table(acpi_read_fn read, void *ctx, uint64_t rsdp, acpi_table_fn fn, void *arg);

/* A PCIe enhanced configuration (ECAM) window: the configuration space of
 * bus b, device d, function f is the 4 KiB at base + (b << 20 | d << 15 |
 * f << 12) for b in [bus_start, bus_end] (PCI Express Base 4.0 §7.2.2). */
struct acpi_ecam {
    uint64_t base;
    uint8_t bus_start, bus_end;
};

/* The ECAM window of PCI segment 0 from the MCFG (PCI Firmware
 * Specification 3.0 §4.1.2) that the RSDP at rsdp leads to. Returns true
 * with *out set, or false if there is no MCFG, or none that checks out,
 * or it has no window for segment 0. */
bool acpi_find_ecam(acpi_read_fn read, void *ctx, uint64_t rsdp, struct acpi_ecam *out);

#endif
