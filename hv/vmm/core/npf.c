/*
 * Nested page faults. The nested map is an identity of guest-physical
 * memory without the VMM's range. A fault inside the range is the VM
 * touching the hidden memory: it is logged, reported, and the instruction
 * completes as if no device answered there -- a load gets all ones, a
 * store is dropped. A fault anywhere else is a part of the physical space
 * the map does not cover yet (a device BAR placed high, say): the backend
 * maps it on demand and the instruction runs again. The ranges of the
 * devices the VMM owns (vm->hidden: the control NIC's BAR) are hidden the
 * same way.
 */
#include "common/log.h"
#include "vmm/core/apic.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"

#define NPF_LOG_MAX 16

/* The destination of a load from the hidden range gets what a read of
 * absent memory gives on a PC bus: all ones (sign- or zero-extended as the
 * instruction extends). Instructions that are not plain loads leave their
 * registers as they were. */
static void float_high(struct vcpu *v, const struct insn *in)
{
    unsigned reg = emu_modrm_reg(in);
    if (in->map == 1 && (in->opcode == 0x8a || in->opcode == 0x8b))
        emu_set_reg(v, in, reg, in->opcode == 0x8a ? 1 : in->opsize, ~0ull); /* MOV r, m */
    else if (in->map == 2 && (in->opcode == 0xb6 || in->opcode == 0xb7))
        emu_set_reg(v, in, reg, in->opsize, in->opcode == 0xb6 ? 0xff : 0xffff); /* MOVZX */
    else if (in->map == 2 && (in->opcode == 0xbe || in->opcode == 0xbf))
        emu_set_reg(v, in, reg, in->opsize, ~0ull); /* MOVSX of all ones */
    else if (in->map == 1 && in->opcode == 0x63 && in->opsize == 8)
        emu_set_reg(v, in, reg, 8, ~0ull); /* MOVSXD */
    else if (in->map == 1 && in->opcode >= 0xa0 && in->opcode <= 0xa1)
        emu_set_reg(v, in, GPR_RAX, in->opcode == 0xa0 ? 1 : in->opsize, ~0ull); /* MOV A, moffs */
}

static int hidden_access(struct vcpu *v, uint64_t gpa, bool write, const char *what)
{
    struct insn in;

    __atomic_add_fetch(&v->vm->npf_hidden, 1, __ATOMIC_RELAXED);
    if (++v->npf_logged <= NPF_LOG_MAX)
        log_printf("vmm: npf: cpu%u: VM %s of hidden %s at 0x%llx, rip 0x%llx: dropped\n", v->id,
                   write ? "write" : "read", what, (unsigned long long)gpa,
                   (unsigned long long)v->ops->get_rip(v));
    if (v->npf_logged == NPF_LOG_MAX)
        log_printf("vmm: npf: cpu%u: further accesses are counted, not logged\n", v->id);
    if (emu_decode(v, &in)) {
        vcpu_cannot_emulate(v, "an access to the VMM's range (instruction not decodable)");
        return 0;
    }
    if (!write)
        float_high(v, &in);
    vcpu_complete(v, in.len);
    struct vm_event e = {.kind = VME_NPF, .npf = {gpa, write}};
    vm_notify(v, &e);
    return 0;
}

int exit_npf(struct vcpu *v, uint64_t gpa, bool write, bool present)
{
    const struct boot_info *bi = v->vm->info;

    if (gpa >= bi->vmm_base && gpa - bi->vmm_base < bi->vmm_size)
        return hidden_access(v, gpa, write, "VMM memory");
    for (unsigned i = 0; i < v->vm->nhidden; i++)
        if (gpa >= v->vm->hidden[i].base && gpa - v->vm->hidden[i].base < v->vm->hidden[i].size)
            return hidden_access(v, gpa, write, v->vm->hidden[i].what);
    if (present && write && apic_page(v->vm, gpa))
        return apic_mmio_write(v, gpa);
    if (!present && !v->ops->npt_map(v->vm, gpa))
        return 0; /* mapped now: the instruction runs again */
    log_printf("vmm: cpu%u: nested page fault at 0x%llx (%s, %s) that the map cannot serve\n",
               v->id, (unsigned long long)gpa, write ? "write" : "read",
               present ? "present" : "not present");
    vcpu_cannot_emulate(v, "a nested page fault outside the VMM's range");
    return 0;
}
