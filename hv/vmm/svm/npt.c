/*
 * The nested page tables (AMD APM Vol.2 §15.25 "Nested Paging"): an
 * identity of guest-physical memory without the VMM's range. setup maps
 * RAM and the low 4 GiB up front (setup/npt.c); anything else the VM
 * reaches -- a 64-bit BAR the firmware put far above RAM -- is mapped
 * here on its first nested page fault, with the largest page the CPU
 * has. Nested-table entries are user entries at every level (§15.25.5).
 */
#include "common/palloc.h"
#include "hw/paging.h"
#include "lib/pt.h"
#include "lib/walk.h"
#include "vmm/svm/svm.h"

/* The tables have the long-mode 4-level format, so lib/walk reads them;
 * they live in the VMM's own range, and nothing outside it is read. */
static bool npt_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    const struct boot_info *bi = ((struct vcpu *)ctx)->vm->info;
    if (pa < bi->vmm_base || pa + size > bi->vmm_base + bi->vmm_size)
        return false;
    *val = size == 8 ? *(const uint64_t *)pa : *(const uint32_t *)pa;
    return true;
}

uint64_t svm_nested_root(struct vcpu *v)
{
    const struct vmcb_control *c = &vmcb_of(v)->control;
    return (c->np_enable & SVM_NP_ENABLE) ? c->nested_cr3 & ~0xfffull : 0;
}

int svm_g2h(struct vcpu *v, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift)
{
    struct pg_walk w;
    uint64_t root = svm_nested_root(v);
    if (!root) {
        *hpa = gpa;
        *leaf = 0;
        *shift = 12;
        return 0;
    }
    int r = pg_walk(PG_MODE_LONG, root, gpa, false, npt_read, v, &w);
    *leaf = w.pte;
    *shift = w.page_shift;
    *hpa = w.pa;
    return r;
}

int svm_npt_protect(struct vm *vm, uint64_t gpa, bool writable)
{
    struct boot_info *bi = vm->info;
    struct pt pt = {
        .root = svm_vm_of(vm)->npt_root, .alloc = palloc_page_cb, .alloc_ctx = &bi->palloc};
    spin_lock(&vm->npt_lock);
    int r = pt_map(&pt, gpa & ~0xfffull, gpa & ~0xfffull, 4096,
                   PTE_P | PTE_U | (writable ? PTE_W : 0), 12);
    spin_unlock(&vm->npt_lock);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i]->ops->flush_tlb(vm->vcpus[i]);
    return r;
}

int svm_npt_hide(struct vm *vm, uint64_t gpa, uint64_t size)
{
    struct boot_info *bi = vm->info;
    struct pt pt = {
        .root = svm_vm_of(vm)->npt_root, .alloc = palloc_page_cb, .alloc_ctx = &bi->palloc};
    spin_lock(&vm->npt_lock);
    int r = pt_unmap(&pt, gpa & ~0xfffull, (size + (gpa & 0xfff) + 0xfff) & ~0xfffull);
    spin_unlock(&vm->npt_lock);
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i]->ops->flush_tlb(vm->vcpus[i]);
    return r;
}

int svm_npt_map(struct vm *vm, uint64_t gpa)
{
    struct boot_info *bi = vm->info;
    unsigned shift = vm->caps.page1gb ? 30 : 21;
    uint64_t size = 1ull << shift, base = gpa & ~(size - 1);
    struct pt pt = {
        .root = svm_vm_of(vm)->npt_root, .alloc = palloc_page_cb, .alloc_ctx = &bi->palloc};

    if (vm->caps.maxphyaddr < 64 && (gpa >> vm->caps.maxphyaddr))
        return -1;
    spin_lock(&vm->npt_lock);
    uint64_t hpa, leaf;
    unsigned sh;
    /* Another vCPU may have mapped it meanwhile. */
    int r = !svm_g2h(vm->vcpus[0], gpa, &hpa, &leaf, &sh)
                ? 0
                : pt_map(&pt, base, base, size, PTE_P | PTE_W | PTE_U, shift);
    /* The VMM's range stays out, whatever region is mapped around it. */
    if (!r && base < bi->vmm_base + bi->vmm_size && bi->vmm_base < base + size)
        r = pt_unmap(&pt, bi->vmm_base, bi->vmm_size);
    /* So do the devices the VMM owns (vm->hidden). */
    for (unsigned i = 0; !r && i < vm->nhidden; i++)
        if (base < vm->hidden[i].base + vm->hidden[i].size && vm->hidden[i].base < base + size)
            r = pt_unmap(&pt, vm->hidden[i].base, vm->hidden[i].size);
    spin_unlock(&vm->npt_lock);
    if (r)
        return -1;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i]->ops->flush_tlb(vm->vcpus[i]);
    return 0;
}
