/*
 * The consistency checks VMRUN makes on the guest state (AMD APM Vol.2
 * §15.5.1 "Basic Operation", "Canonicalization and Consistency Checks"):
 * a VMCB that breaks one makes VMRUN fail with VMEXIT_INVALID. The VMM
 * runs them before every entry, and repairs what it finds, so that whatever
 * the VM or a client writes, VMRUN never fails.
 */
#ifndef LIB_VMCB_CHECK_H
#define LIB_VMCB_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/vmcb.h"

struct vmcb_caps {
    uint64_t cr4_allowed;  /* CR4 bits the CPU has */
    uint64_t efer_allowed; /* EFER bits the CPU has (SVME included) */
    unsigned maxphyaddr;
    bool long_mode;
};

/* Returns 0 if VMRUN accepts the VMCB, or the text of the first rule it
 * breaks. With repair, the state is also changed to follow that rule (the
 * offending bits cleared), so a second call finds the next one. */
const char *vmcb_check(struct vmcb *vmcb, const struct vmcb_caps *caps, bool repair);

#endif
