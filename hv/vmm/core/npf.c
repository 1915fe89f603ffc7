/*
 * Nested page faults. The nested map is an identity of everything but the
 * VMM range, so a fault there is the VM touching the hidden range: it is
 * logged, the access is dropped (the instruction is skipped: a write does
 * not land, a read leaves its destination as it was) and the VM goes on
 * (DESIGN §3). Any other nested fault means the map is wrong: we stop.
 */
#include "common/log.h"
#include "vmm/control/control.h"
#include "vmm/core/emulate.h"
#include "vmm/core/policy.h"

#define NPF_LOG_MAX 16

/* A plain load (MOV r, m / MOVZX) from the hidden range reads all ones, as
 * a read of absent memory does on a PC bus; other reads leave their
 * destination unchanged. */
static void float_high(struct vcpu *v, const struct insn *in)
{
    unsigned size, reg = INSN_MODRM_REG(in->modrm) | (INSN_REX_R(in->rex) ? 8 : 0);
    if (in->map == 1 && in->opcode == 0x8b)
        size = in->opsize;
    else if (in->map == 1 && in->opcode == 0x8a)
        size = 1;
    else if (in->map == 2 && (in->opcode == 0xb6 || in->opcode == 0xb7))
        size = in->opsize; /* zero-extending: the whole destination */
    else
        return;
    if (in->map == 1 && in->opcode == 0x8a && !in->rex && reg >= 4)
        return; /* AH..BH: leave them */
    uint64_t ones = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
    if (in->map == 2)
        ones = in->opcode == 0xb6 ? 0xff : 0xffff;
    if (size == 4 || in->map == 2)
        v->gpr[reg] = ones; /* 32-bit writes zero-extend */
    else
        v->gpr[reg] = (v->gpr[reg] & ~((size >= 8) ? ~0ull : (1ull << (8 * size)) - 1)) | ones;
}

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
    if (!write)
        float_high(v, &in);
    vcpu_advance(v, in.len);
    control_note_npf(v, gpa, write);
    return 0;
}

void undefined_opcode(struct vcpu *v) { v->ops->inject_exception(v, 6 /* #UD */, false, 0); }
