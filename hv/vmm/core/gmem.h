/*
 * VM memory as the VMM sees it. The nested map is an identity, so a
 * guest-physical address is the host-physical address, and the VMM (which
 * identity-maps everything) reads it directly -- except the VMM's own
 * range, which the VM does not have.
 */
#ifndef VMM_CORE_GMEM_H
#define VMM_CORE_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/vcpu.h"

/* True if [gpa, gpa+len) is VM memory (mapped, outside the VMM range). */
bool gmem_valid(struct vcpu *v, uint64_t gpa, uint64_t len);
/* Copy to/from guest-physical memory. Return 0, or -1 if not VM memory. */
int gmem_read(struct vcpu *v, uint64_t gpa, void *buf, size_t len);
int gmem_write(struct vcpu *v, uint64_t gpa, const void *buf, size_t len);
/* Translates a linear address through the VM's current paging.
 * Returns 0, or -1 if it is not mapped. */
int gmem_linear_to_phys(struct vcpu *v, uint64_t va, uint64_t *gpa);
/* Reads `len` bytes at a linear address (page by page). Returns 0 / -1. */
int gmem_read_linear(struct vcpu *v, uint64_t va, void *buf, size_t len);

#endif
