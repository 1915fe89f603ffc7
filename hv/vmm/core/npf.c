/*
 * Nested page faults. The nested map is an identity of everything but the
 * VMM range, so a fault there is the VM touching the hidden range: it is
 * logged, the access is dropped (the instruction is skipped: a write does
 * not land, a read leaves its destination as it was) and the VM goes on
 * (DESIGN §3). Any other nested fault means the map is wrong: we stop.
 */
#include "common/log.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"
#include "vmm/control/control.h"

#define NPF_LOG_MAX 16

int npf_handle(struct vcpu *v, uint64_t gpa, bool write)
{
    const struct boot_info *bi = v->info;
    struct insn in;

    if (gpa < bi->vmm_base || gpa >= bi->vmm_base + bi->vmm_size) {
        log_printf("vmm: nested page fault outside the VMM range at 0x%llx (%s)\n",
                   (unsigned long long)gpa, write ? "write" : "read");
        return -1;
    }
    v->npf_hidden++;
    if (v->npf_hidden <= NPF_LOG_MAX)
        log_printf("vmm: npf: VM %s of hidden VMM memory at 0x%llx, rip 0x%llx: dropped\n",
                   write ? "write" : "read", (unsigned long long)gpa,
                   (unsigned long long)v->ops->get_rip(v));
    if (v->npf_hidden == NPF_LOG_MAX)
        log_printf("vmm: npf: further accesses are counted, not logged\n");
    if (emu_decode_current(v, &in))
        return -1;
    vcpu_advance(v, in.len);
    control_note_npf(v, gpa, write);
    return 0;
}

void undefined_opcode(struct vcpu *v)
{
    v->ops->inject_exception(v, 6 /* #UD */, false, 0);
}
