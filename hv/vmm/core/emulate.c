#include "vmm/core/emulate.h"
#include "common/log.h"
#include "vmm/core/gmem.h"

static int decode(struct vcpu *v, struct insn *in, bool quiet)
{
    struct seg_state cs;
    uint8_t bytes[15];
    unsigned bits = vcpu_code_bits(v);
    uint64_t rip = v->ops->get_rip(v);
    size_t n = sizeof(bytes);

    v->ops->get_seg(v, SEG_CS, &cs);
    uint64_t va = bits == 64 ? rip : (cs.base + rip) & 0xffffffffull;
    /* The instruction may end before a page that is not mapped. */
    while (n && gmem_read_linear(v, va, bytes, n))
        n = (n > (4096 - (va & 4095))) ? 4096 - (va & 4095) : 0;
    if (!n || insn_decode(in, bytes, n, bits)) {
        if (!quiet)
            log_printf("vmm: cannot decode the instruction at %04x:%llx (linear 0x%llx, %u-bit)\n",
                       cs.selector, (unsigned long long)rip, (unsigned long long)va, bits);
        return -1;
    }
    return 0;
}

int emu_decode_current(struct vcpu *v, struct insn *in) { return decode(v, in, false); }
int emu_try_decode(struct vcpu *v, struct insn *in) { return decode(v, in, true); }
