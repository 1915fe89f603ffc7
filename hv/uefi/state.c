/*
 * The firmware's segment registers for the VM: launch.S recorded the
 * selectors; their hidden parts come from the descriptors in the
 * firmware's GDT (AMD APM Vol.2 §4.7 "Legacy Segment Descriptors", §4.8
 * "Long-Mode Segment Descriptors": TSS and LDT descriptors are 16 bytes in
 * long mode), in the VMCB's attribute packing (APM Vol.2 §15.5.1, Table
 * B-2: descriptor bits 40-47 and 52-55).
 */
#include "uefi/uefi.h"

static void from_gdt(const struct boot_resume *r, struct boot_seg *s, int system)
{
    uint16_t index = s->selector & ~7u;
    if (!index || (s->selector & 4) || index + 7u > r->gdt_limit)
        return; /* a null selector (or one in an LDT): left as it is */
    const uint32_t *d = (const uint32_t *)(r->gdt_base + index);
    uint32_t lo = d[0], hi = d[1];
    uint32_t limit = (lo & 0xffff) | (hi & 0xf0000);
    s->attrib = (uint16_t)(((hi >> 8) & 0xff) | (((hi >> 20) & 0xf) << 8));
    s->limit = (hi & (1u << 23)) ? (limit << 12) | 0xfff : limit;
    uint64_t base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
    if (system && index + 15u <= r->gdt_limit)
        base |= (uint64_t)d[2] << 32;
    if (!system && (s == &r->seg[BR_FS] || s == &r->seg[BR_GS]))
        return; /* long mode: the bases are the MSRs launch.S read */
    s->base = base;
}

void uefi_fill_segments(struct boot_resume *r)
{
    for (unsigned i = 0; i < BR_NSEGS; i++) {
        struct boot_seg *s = &r->seg[i];
        if (i == BR_LDTR || i == BR_TR) {
            /* null: an empty LDT; a TSS nothing reads at CPL 0 without IST */
            s->attrib = i == BR_LDTR ? 0x82 : 0x8b;
            s->limit = 0xffff;
            s->base = 0;
        } else if (i != BR_FS && i != BR_GS) {
            s->attrib = 0;
            s->limit = 0;
            s->base = 0;
        }
        from_gdt(r, s, i == BR_LDTR || i == BR_TR);
    }
}
