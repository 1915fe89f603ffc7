/*
 * Finding the machine's cores in what the firmware left in memory: the
 * ACPI MADT, else the MP table (include/hw/acpi.h). Pure: memory is read
 * through a callback, so the host tests feed it crafted tables.
 */
#ifndef LIB_CPUS_H
#define LIB_CPUS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/acpi.h"

/* Copies len bytes of physical memory at pa into buf (lib/acpi.h). */
typedef acpi_read_fn cpus_read_fn;

enum cpus_source { CPUS_NONE, CPUS_MADT, CPUS_MPTABLE };

/* Fills apic_ids[0..max) with the APIC IDs of the enabled cores (and, for
 * the MADT, those marked online-capable: a core the OS may start later),
 * each once, in table order. ebda is the EBDA's address (the BDA's word at
 * 40:0E, shifted), or 0. Returns how many, and which table gave them in
 * *source (0 and CPUS_NONE if no table checks out). */
unsigned cpus_find(cpus_read_fn read, void *ctx, uint64_t ebda, uint32_t *apic_ids, unsigned max,
                   enum cpus_source *source);

/* The same from the ACPI MADT only, with the RSDP at rsdp (UEFI gives its
 * address in the configuration table). Returns how many; 0 if the RSDP or
 * the tables do not check out. */
unsigned cpus_find_rsdp(cpus_read_fn read, void *ctx, uint64_t rsdp, uint32_t *apic_ids,
                        unsigned max);

#endif
