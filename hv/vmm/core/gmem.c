/* VM memory as the VMM sees it (gmem.h). */
#include "vmm/core/gmem.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "lib/walk.h"

static bool in_vmm_range(const struct boot_info *bi, uint64_t gpa, uint64_t len)
{
    return gpa < bi->vmm_base + bi->vmm_size && gpa + len > bi->vmm_base;
}

bool gmem_valid(struct vcpu *v, uint64_t gpa, uint64_t len)
{
    const struct boot_info *bi = v->vm->info;
    uint64_t end = gpa + len;
    if (end < gpa || end > bi->host_limit)
        return false;
    return !in_vmm_range(bi, gpa, len);
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

void gmem_load(struct vcpu *v, uint64_t gpa, void *buf, size_t len)
{
    if (gmem_read(v, gpa, buf, len))
        lib_memset(buf, 0xff, len);
}

void gmem_store(struct vcpu *v, uint64_t gpa, const void *buf, size_t len)
{
    gmem_write(v, gpa, buf, len);
}

static bool walk_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    uint64_t x = 0;
    if (gmem_read(ctx, pa, &x, size))
        return false;
    *val = x;
    return true;
}

int gmem_linear_to_phys(struct vcpu *v, uint64_t cr3, uint64_t va, uint64_t *gpa)
{
    uint64_t cr0 = v->ops->get_cr(v, 0), cr4 = v->ops->get_cr(v, 4);
    enum pg_mode mode = pg_mode_of(cr0, cr4, v->ops->get_efer(v));
    struct pg_walk w;
    if (!cr3)
        cr3 = v->ops->get_cr(v, 3);
    if (pg_walk(mode, cr3, va, cr4 & CR4_PSE, walk_read, v, &w))
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
        if (gmem_linear_to_phys(v, 0, va, &gpa) || gmem_read(v, gpa, out, chunk))
            return -1;
        va += chunk;
        out += chunk;
        len -= chunk;
    }
    return 0;
}
