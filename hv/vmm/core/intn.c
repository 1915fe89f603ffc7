/*
 * INT n. In real mode the VMM intercepts INT n to answer the BIOS
 * memory-size services from the patched E820 map, so the VMM's range is
 * absent from every view the VM has, and to emulate the A20 services;
 * every other vector is delivered as the CPU would, through the real-mode
 * IVT (SDM Vol.2 "INT n", real-address-mode operation). Outside real mode
 * INT n is intercepted only for the control stub (TCG reports INT3 as an
 * INT n exit): a breakpoint of the stub's is its own, any other INT is
 * delivered as the software interrupt it is.
 *
 * Services (Ralf Brown's Interrupt List; ACPI 6.4 §15.1 for E820):
 *   INT 15h EAX=E820h  query system address map
 *   INT 15h AX=E801h   memory size above 1 MiB and above 16 MiB
 *   INT 15h AH=88h     extended memory size in KiB
 *   INT 15h AX=2400h-2403h  A20 gate: disable, enable, status, support
 */
#include "hw/x86.h"
#include "lib/insn.h"
#include "vmm/core/emulate.h"
#include "vmm/core/exits.h"
#include "vmm/core/gmem.h"
#include "vmm/core/hooks.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

#define SMAP        0x534d4150u
#define ONE_MIB     0x100000ull
#define SIXTEEN_MIB 0x1000000ull

static void set_carry(struct vcpu *v, bool cf)
{
    uint64_t fl = v->ops->get_rflags(v);
    v->ops->set_rflags(v, cf ? (fl | RFLAGS_CF) : (fl & ~RFLAGS_CF));
}

static void set_ax(struct vcpu *v, uint16_t ax)
{
    v->gpr[GPR_RAX] = (v->gpr[GPR_RAX] & ~0xffffull) | ax;
}
static void set_ah(struct vcpu *v, uint8_t ah)
{
    v->gpr[GPR_RAX] = (v->gpr[GPR_RAX] & ~0xff00ull) | ((uint64_t)ah << 8);
}

static int e820(struct vcpu *v)
{
    const struct boot_info *bi = v->vm->info;
    uint32_t idx = (uint32_t)v->gpr[GPR_RBX], size = (uint32_t)v->gpr[GPR_RCX];
    struct seg_state es;

    if ((uint32_t)v->gpr[GPR_RDX] != SMAP || size < 20 || idx >= bi->e820_count) {
        set_ah(v, 0x86); /* function not supported / bad index */
        set_carry(v, true);
        return 0;
    }
    size = size >= 24 ? 24 : 20;
    v->ops->get_seg(v, SEG_ES, &es);
    uint64_t buf = es.base + (v->gpr[GPR_RDI] & 0xffff);
    if (gmem_write(v, buf, &bi->e820[idx], size)) {
        set_carry(v, true);
        return 0;
    }
    v->gpr[GPR_RAX] = SMAP;
    v->gpr[GPR_RCX] = size;
    v->gpr[GPR_RBX] = idx + 1 < bi->e820_count ? idx + 1 : 0;
    set_carry(v, false);
    return 0;
}

/* End of the usable RAM that continues without a hole from `from`. */
static uint64_t contiguous_ram_end(const struct boot_info *bi, uint64_t from)
{
    uint64_t end = from;
    for (uint32_t i = 0; i < bi->e820_count; i++) {
        const struct e820_entry *e = &bi->e820[i];
        if (e->type == E820_RAM && e->addr <= end && e->addr + e->len > end)
            end = e->addr + e->len;
    }
    return end;
}

static int e801(struct vcpu *v)
{
    uint64_t end = contiguous_ram_end(v->vm->info, ONE_MIB);
    uint64_t low = (end < SIXTEEN_MIB ? end : SIXTEEN_MIB) - ONE_MIB;
    uint64_t high = 0;
    if (end > SIXTEEN_MIB) {
        high = end - SIXTEEN_MIB;
        if (high > (4ull << 30) - SIXTEEN_MIB)
            high = (4ull << 30) - SIXTEEN_MIB;
    }
    uint16_t kb = (uint16_t)(low >> 10), blocks = (uint16_t)(high >> 16);
    set_ax(v, kb);
    v->gpr[GPR_RCX] = (v->gpr[GPR_RCX] & ~0xffffull) | kb;
    v->gpr[GPR_RBX] = (v->gpr[GPR_RBX] & ~0xffffull) | blocks;
    v->gpr[GPR_RDX] = (v->gpr[GPR_RDX] & ~0xffffull) | blocks;
    set_carry(v, false);
    return 0;
}

static int ext_mem_88(struct vcpu *v)
{
    uint64_t kb = (contiguous_ram_end(v->vm->info, ONE_MIB) - ONE_MIB) >> 10;
    set_ax(v, kb > 0xfc00 ? 0xfc00 : (uint16_t)kb); /* at most 63 MiB, as BIOSes report */
    set_carry(v, false);
    return 0;
}

static int a20_service(struct vcpu *v, uint8_t al)
{
    switch (al) {
    case 0x00:
    case 0x01:
        a20_set(v->vm, al == 0x01);
        set_ah(v, 0);
        break;
    case 0x02:
        set_ax(v, v->vm->dev.a20 ? 1 : 0);
        break;
    case 0x03:
        set_ah(v, 0);
        v->gpr[GPR_RBX] = (v->gpr[GPR_RBX] & ~0xffffull) | 3; /* keyboard controller and port 92h */
        break;
    default:
        return -1;
    }
    set_carry(v, false);
    return 0;
}

/* Returns 0 if the INT 15h call was answered here, -1 to let the BIOS have it. */
static int int15(struct vcpu *v)
{
    uint32_t eax = (uint32_t)v->gpr[GPR_RAX];
    uint16_t ax = (uint16_t)eax;

    if (eax == 0xe820)
        return e820(v);
    if (ax == 0xe801)
        return e801(v);
    if ((ax >> 8) == 0x88)
        return ext_mem_88(v);
    if ((ax >> 8) == 0x24)
        return a20_service(v, (uint8_t)ax);
    return -1;
}

/* Delivers INT vec through the real-mode IVT with return address ip. */
static int deliver_real(struct vcpu *v, uint8_t vec, uint16_t ip)
{
    struct seg_state ss, cs;
    uint16_t ivt[2], frame[3];
    uint64_t fl = v->ops->get_rflags(v);

    v->ops->get_seg(v, SEG_SS, &ss);
    v->ops->get_seg(v, SEG_CS, &cs);
    if (gmem_read(v, (uint64_t)vec * 4, ivt, sizeof(ivt)))
        return -1;
    uint16_t sp = (uint16_t)(v->gpr[GPR_RSP] - 6);
    frame[0] = ip;
    frame[1] = cs.selector;
    frame[2] = (uint16_t)fl;
    if (gmem_write(v, ss.base + sp, frame, sizeof(frame)))
        return -1;
    v->gpr[GPR_RSP] = (v->gpr[GPR_RSP] & ~0xffffull) | sp;
    v->ops->set_rflags(v, fl & ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF));
    cs.selector = ivt[1];
    cs.base = (uint64_t)ivt[1] << 4;
    v->ops->set_seg(v, SEG_CS, &cs);
    v->ops->set_rip(v, ivt[0]);
    v->ops->set_interrupt_shadow(v, false);
    return 0;
}

int exit_real_event(struct vcpu *v, uint8_t vec)
{
    return deliver_real(v, vec, (uint16_t)v->ops->get_rip(v));
}

/* The vector of INT n / INT3 / INTO, or -1 for another instruction. */
static int vector_of(const struct insn *in)
{
    if (in->map != 1)
        return -1;
    if (in->opcode == 0xcd)
        return (uint8_t)in->imm;
    if (in->opcode == 0xcc)
        return X86_EXC_BP;
    if (in->opcode == 0xce)
        return X86_EXC_OF;
    return -1;
}

static void note_intn(struct vcpu *v, uint8_t vec)
{
    struct vm_event e = {.kind = VME_INTN,
                         .intn = {vec, (uint16_t)v->gpr[GPR_RAX], vcpu_linear_rip(v)}};
    vm_notify(v, &e);
}

int exit_intn(struct vcpu *v)
{
    struct insn in;
    if (emu_decode(v, &in))
        return -1;
    int vec = vector_of(&in);
    if (vec < 0)
        return -1;
    if (in.opcode == 0xcc && v->vm->hooks && v->vm->hooks->swbreak && v->vm->hooks->swbreak(v))
        return 0;
    if (vec == X86_EXC_OF && !(v->ops->get_rflags(v) & RFLAGS_OF)) {
        vcpu_complete(v, in.len); /* INTO with OF clear does nothing */
        return 0;
    }
    note_intn(v, (uint8_t)vec);
    if (!(v->ops->get_cr(v, 0) & CR0_PE)) {
        /* An answered INT 15h returns as its IRET would, with the caller's
         * flags: no single-step trap after the INT itself. */
        if (vec == 0x15 && !int15(v)) {
            vcpu_complete_no_trap(v, in.len);
            return 0;
        }
        return deliver_real(v, (uint8_t)vec, (uint16_t)(v->ops->get_rip(v) + in.len));
    }
    /* The software interrupt, delivered at the entry with rip past it: the
     * pushed return address (APM Vol.2 §15.20). INT n clears TF for its
     * handler: no single-step trap after it either. */
    vcpu_complete_no_trap(v, in.len);
    struct x86_event ev = {EVENT_SOFT_INT, (uint8_t)vec, false, 0};
    vcpu_queue_event(v, &ev);
    return 0;
}
