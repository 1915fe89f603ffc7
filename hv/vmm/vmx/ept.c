/*
 * The EPT tables (SDM Vol.3C §29.3): an identity of guest-physical memory
 * without the VMM's range, built by setup (setup/npt.c, lib/ept.c).
 * Anything the VM reaches beyond what setup mapped -- a 64-bit BAR high
 * above RAM -- is mapped here on its first EPT violation, uncacheable.
 */
#include "lib/ept.h"
#include "common/palloc.h"
#include "hw/paging.h"
#include "vmm/vmx/vmx.h"

/* The tables live in the VMM's own range; nothing outside it is read. */
static bool ept_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    const struct boot_info *bi = ((struct vm *)ctx)->info;
    if (pa < bi->vmm_base || pa + size > bi->vmm_base + bi->vmm_size)
        return false;
    *val = size == 8 ? *(const uint64_t *)pa : *(const uint32_t *)pa;
    return true;
}

static struct pt tables(struct vm *vm)
{
    return (struct pt){.root = vmx_vm_of(vm)->ept_root,
                       .alloc = palloc_page_cb,
                       .alloc_ctx = &vm->info->palloc,
                       .fmt = &pt_format_ept};
}

/* INVEPT (§30.3 "INVEPT"): the single context of the VM's EPT pointer,
 * or every context where the CPU has only that. */
void vmx_invept(struct vmx_vm *b)
{
    struct {
        uint64_t eptp, reserved;
    } desc = {b->eptp, 0};
    uint64_t type =
        (b->ept_cap & VMX_EPT_EXTENT_CONTEXT_BIT) ? VMX_EPT_EXTENT_CONTEXT : VMX_EPT_EXTENT_GLOBAL;
    __asm__ volatile("invept %0, %1" ::"m"(desc), "r"(type) : "cc", "memory");
}

static void flush_all(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i]->ops->flush_tlb(vm->vcpus[i]);
}

uint64_t vmx_nested_root(struct vcpu *v) { return vmx_vm_of(v->vm)->ept_root; }

int vmx_g2h(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift)
{
    struct ept_walk w;
    int r = ept_walk(vmx_vm_of(v->vm)->ept_root, gpa, ept_read, v->vm, &w);
    *leaf = w.pte;
    *shift = w.page_shift;
    *hpa = r ? 0 : w.hpa;
    return r;
}

/* The page keeps its memory type; only its write permission changes. */
int vmx_npt_protect(struct vm *vm, uint64_t gpa, bool writable)
{
    struct pt pt = tables(vm);
    struct ept_walk w;
    uint64_t page = gpa & ~0xfffull;
    spin_lock(&vm->npt_lock);
    uint64_t mt = ept_walk(pt.root, page, ept_read, vm, &w) ? EPT_MT_UC : w.pte & EPT_MT_MASK;
    int r =
        pt_map(&pt, page, page, 4096, EPT_READ | EPT_EXEC | (writable ? EPT_WRITE : 0) | mt, 12);
    spin_unlock(&vm->npt_lock);
    flush_all(vm);
    return r;
}

int vmx_npt_hide(struct vm *vm, uint64_t gpa, uint64_t size)
{
    struct pt pt = tables(vm);
    spin_lock(&vm->npt_lock);
    int r = pt_unmap(&pt, gpa & ~0xfffull, (size + (gpa & 0xfff) + 0xfff) & ~0xfffull);
    spin_unlock(&vm->npt_lock);
    flush_all(vm);
    return r;
}

int vmx_npt_map(struct vm *vm, uint64_t gpa)
{
    struct boot_info *bi = vm->info;
    struct vmx_vm *b = vmx_vm_of(vm);
    unsigned shift = (b->ept_cap & VMX_EPT_1GB_PAGE_BIT)   ? 30
                     : (b->ept_cap & VMX_EPT_2MB_PAGE_BIT) ? 21
                                                           : 12;
    uint64_t size = 1ull << shift, base = gpa & ~(size - 1);
    struct pt pt = tables(vm);
    struct ept_walk w;

    if (vm->caps.maxphyaddr < 64 && (gpa >> vm->caps.maxphyaddr))
        return -1;
    spin_lock(&vm->npt_lock);
    /* Another vCPU may have mapped it meanwhile. */
    int r = !ept_walk(pt.root, gpa, ept_read, vm, &w)
                ? 0
                : pt_map(&pt, base, base, size, EPT_LEAF_MMIO, shift);
    /* The VMM's range stays out, whatever region is mapped around it. */
    if (!r && base < bi->vmm_base + bi->vmm_size && bi->vmm_base < base + size)
        r = pt_unmap(&pt, bi->vmm_base, bi->vmm_size);
    for (unsigned i = 0; !r && i < vm->nhidden; i++)
        if (base < vm->hidden[i].base + vm->hidden[i].size && vm->hidden[i].base < base + size)
            r = pt_unmap(&pt, vm->hidden[i].base, vm->hidden[i].size);
    spin_unlock(&vm->npt_lock);
    if (r)
        return -1;
    flush_all(vm);
    return 0;
}
