/* Fetching and decoding the VM's current instruction (no decode assists
 * and no NRIP save under QEMU TCG: DESIGN §2). */
#ifndef VMM_CORE_EMULATE_H
#define VMM_CORE_EMULATE_H

#include "lib/insn.h"
#include "vmm/core/vcpu.h"

/* Decodes the instruction at CS:rip. Returns 0, or -1 (logged) if it
 * cannot be fetched or decoded. */
int emu_decode_current(struct vcpu *v, struct insn *in);
/* The same, silent: for callers to whom "no instruction there" is normal
 * (rip on a page that is not present yet). */
int emu_try_decode(struct vcpu *v, struct insn *in);

#endif
