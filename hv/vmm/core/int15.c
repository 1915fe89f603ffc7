/*
 * INT n in real mode. The VMM intercepts INTn only while CR0.PE = 0, to
 * answer the BIOS memory-size services from the patched E820 map (so the VMM
 * range is absent from every view the VM has: DESIGN §3) and to emulate the
 * A20 services. Every other interrupt is delivered as the CPU would: through
 * the real-mode IVT (Intel SDM Vol.2 "INT n", real-address mode operation).
 *
 * Services (Ralf Brown's Interrupt List; ACPI 6.4 §15.1 for E820):
 *   INT 15h EAX=E820h  query system address map
 *   INT 15h AX=E801h   memory size above 1 MiB and above 16 MiB
 *   INT 15h AH=88h     extended memory size in KiB
 *   INT 15h AX=2400h-2403h  A20 gate: disable, enable, status, support
 */
#include "common/log.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "vmm/control/control.h"
#include "vmm/core/emulate.h"
#include "vmm/core/gmem.h"
#include "vmm/core/policy.h"
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
    const struct boot_info *bi = v->info;
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
    uint64_t end = contiguous_ram_end(v->info, ONE_MIB);
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
    uint64_t kb = (contiguous_ram_end(v->info, ONE_MIB) - ONE_MIB) >> 10;
    set_ax(v, kb > 0xfc00 ? 0xfc00 : (uint16_t)kb); /* at most 63 MiB, as BIOSes report */
    set_carry(v, false);
    return 0;
}

static int a20_service(struct vcpu *v, uint8_t al)
{
    switch (al) {
    case 0x00:
    case 0x01:
        a20_set(v, al == 0x01);
        set_ah(v, 0);
        break;
    case 0x02:
        set_ax(v, v->dev.a20 ? 1 : 0);
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
    v->ops->set_rflags(v, fl & ~(RFLAGS_IF | RFLAGS_TF | (1ull << 18)));
    cs.selector = ivt[1];
    cs.base = (uint64_t)ivt[1] << 4;
    v->ops->set_seg(v, SEG_CS, &cs);
    v->ops->set_rip(v, ivt[0]);
    v->ops->clear_shadow(v);
    return 0;
}

int intn_real_mode(struct vcpu *v)
{
    struct insn in;
    if (emu_decode_current(v, &in))
        return -1;
    uint8_t vec;
    if (in.map == 1 && in.opcode == 0xcd)
        vec = (uint8_t)in.imm;
    else if (in.map == 1 && in.opcode == 0xcc)
        vec = 3;
    else if (in.map == 1 && in.opcode == 0xce)
        vec = 4;
    else {
        log_printf("vmm: INTn intercept on opcode %02x\n", in.opcode);
        return -1;
    }
    if (vec == 4 && !(v->ops->get_rflags(v) & (1ull << 11))) {
        vcpu_advance(v, in.len); /* INTO with OF clear does nothing */
        return 0;
    }
    control_note_intn(v, vec);
    if (vec == 0x15 && !int15(v)) {
        vcpu_advance(v, in.len);
        return 0;
    }
    return deliver_real(v, vec, (uint16_t)(v->ops->get_rip(v) + in.len));
}
