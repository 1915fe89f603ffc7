/*
 * Memory as the client sees it. Virtual addresses go through the active
 * cr3 (the VM's current one unless the client chose another) with the VM's
 * paging mode; with paging off, or in physical mode (`monitor mem phys`),
 * addresses are guest-physical. The VMM range is never readable.
 */
#include "hw/x86.h"
#include "lib/walk.h"
#include "vmm/control/stub.h"
#include "vmm/core/gmem.h"

static bool walk_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    uint64_t x = 0;
    if (gmem_read(ctx, pa, &x, size))
        return false;
    *val = x;
    return true;
}

int stub_v2p(struct vcpu *v, uint64_t cr3, uint64_t va, uint64_t *pa)
{
    uint64_t cr0 = v->ops->get_cr(v, 0), cr4 = v->ops->get_cr(v, 4);
    enum pg_mode mode = pg_mode_of(cr0, cr4, v->ops->get_efer(v));
    struct pg_walk w;

    if (!cr3)
        cr3 = v->ops->get_cr(v, 3);
    if (pg_walk(mode, cr3, va, cr4 & CR4_PSE, walk_read, v, &w))
        return -1;
    *pa = w.pa;
    return 0;
}

static bool physical(struct vcpu *v) { return stub.mem_phys || !(v->ops->get_cr(v, 0) & CR0_PG); }

/* Copies page by page; stops at the first page that is not there. */
static size_t access(struct vcpu *v, uint64_t cr3, bool phys, uint64_t addr, uint8_t *buf,
                     size_t len, bool write)
{
    size_t done = 0;
    while (done < len) {
        uint64_t pa, a = addr + done;
        size_t chunk = 4096 - (a & 4095);
        if (chunk > len - done)
            chunk = len - done;
        if (phys)
            pa = a;
        else if (stub_v2p(v, cr3, a, &pa))
            break;
        int r = write ? gmem_write(v, pa, buf + done, chunk) : gmem_read(v, pa, buf + done, chunk);
        if (r)
            break;
        done += chunk;
    }
    return done;
}

size_t stub_mem_read(struct vcpu *v, uint64_t addr, uint8_t *buf, size_t len)
{
    return access(v, stub.active_cr3, physical(v), addr, buf, len, false);
}

size_t stub_mem_write(struct vcpu *v, uint64_t addr, const uint8_t *buf, size_t len)
{
    return access(v, stub.active_cr3, physical(v), addr, (uint8_t *)buf, len, true);
}

size_t stub_virt_read(struct vcpu *v, uint64_t cr3, uint64_t addr, uint8_t *buf, size_t len)
{
    return access(v, cr3, !(v->ops->get_cr(v, 0) & CR0_PG), addr, buf, len, false);
}
