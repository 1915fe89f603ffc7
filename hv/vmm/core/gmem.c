#include "vmm/core/gmem.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "lib/walk.h"

bool gmem_valid(struct vcpu *v, uint64_t gpa, uint64_t len)
{
    const struct boot_info *bi = v->info;
    uint64_t end = gpa + len;
    if (end < gpa || end > bi->npt_limit)
        return false;
    return end <= bi->vmm_base || gpa >= bi->vmm_base + bi->vmm_size;
}

int gmem_read(struct vcpu *v, uint64_t gpa, void *buf, size_t len)
{
    if (!gmem_valid(v, gpa, len))
        return -1;
    lib_memcpy(buf, (const void *)gpa, len);
    return 0;
}

int gmem_write(struct vcpu *v, uint64_t gpa, const void *buf, size_t len)
{
    if (!gmem_valid(v, gpa, len))
        return -1;
    lib_memcpy((void *)gpa, buf, len);
    return 0;
}

static bool walk_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    uint64_t x = 0;
    if (gmem_read(ctx, pa, &x, size))
        return false;
    *val = x;
    return true;
}

int gmem_linear_to_phys(struct vcpu *v, uint64_t va, uint64_t *gpa)
{
    uint64_t cr0 = v->ops->get_cr(v, 0), cr4 = v->ops->get_cr(v, 4);
    enum pg_mode mode = pg_mode_of(cr0, cr4, v->ops->get_efer(v));
    struct pg_walk w;
    if (pg_walk(mode, v->ops->get_cr(v, 3), va, cr4 & CR4_PSE, walk_read, v, &w))
        return -1;
    *gpa = w.pa;
    return 0;
}

int gmem_read_linear(struct vcpu *v, uint64_t va, void *buf, size_t len)
{
    uint8_t *out = buf;
    while (len) {
        uint64_t gpa;
        size_t chunk = 4096 - (va & 4095);
        if (chunk > len)
            chunk = len;
        if (gmem_linear_to_phys(v, va, &gpa) || gmem_read(v, gpa, out, chunk))
            return -1;
        va += chunk;
        out += chunk;
        len -= chunk;
    }
    return 0;
}
