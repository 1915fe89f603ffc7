/*
 * VM memory as the VMM sees it. The nested map is an identity, so a
 * guest-physical address is the host-physical address, and the VMM (which
 * identity-maps everything it may touch) reads it directly -- except the
 * VMM's own range, which the VM does not have.
 */
#ifndef VMM_CORE_GMEM_H
#define VMM_CORE_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/vm.h"

/* True if [gpa, gpa+len) is VM memory the VMM can reach (outside the VMM
 * range, inside its own map). */
bool gmem_valid(struct vcpu *v, uint64_t gpa, uint64_t len);
/* Copy to/from guest-physical memory. Return 0, or -1 if not VM memory. */
int gmem_read(struct vcpu *v, uint64_t gpa, void *buf, size_t len);
int gmem_write(struct vcpu *v, uint64_t gpa, const void *buf, size_t len);
/* What the VM's own access at gpa does: the VMM's range reads as all
 * ones (no device answers there) and drops writes, as its nested page
 * faults do (npf.c). */
void gmem_load(struct vcpu *v, uint64_t gpa, void *buf, size_t len);
void gmem_store(struct vcpu *v, uint64_t gpa, const void *buf, size_t len);
/* Translates a linear address through the VM's paging mode and the given
 * cr3 (0: the VM's current one), presence only. Returns 0, or -1 if it is
 * not mapped. */
int gmem_linear_to_phys(struct vcpu *v, uint64_t cr3, uint64_t va, uint64_t *gpa);
/* Reads `len` bytes at a linear address through the current cr3 (page by
 * page, no access rights). Returns 0 / -1. */
int gmem_read_linear(struct vcpu *v, uint64_t va, void *buf, size_t len);

#endif
