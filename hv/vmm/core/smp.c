/*
 * Every core inside the VM.
 *
 * Start-up: on the boot CPU, before the VM runs, the VMM sends each other
 * core the firmware reports (boot_info.apic_ids, from the MADT or the MP
 * table) INIT, then a start-up IPI to a trampoline below 1 MiB
 * (vmm/ap_entry.S) that enters long mode on the VMM's page tables and
 * calls vmm_ap_main() -- the MP Specification 1.4 §B.4 "universal startup
 * algorithm". Each core gets its own GDT, TSS and stacks (vmm/host.c),
 * enables SVM, and waits, in the VMM, in the state a core is in after INIT
 * (wait-for-SIPI).
 *
 * Then the VM starts its cores as it would on the bare machine, with INIT
 * and start-up IPIs -- which the VMM emulates (core/apic.c): INIT puts the
 * target vCPU in the INIT state (APM Vol.2 §14.1.3; SDM Vol.3A Table 9-1)
 * and back to wait-for-SIPI; a start-up IPI then starts it in real mode at
 * vector << 12 (SDM Vol.3A §9.4.4). A SIPI to a core that is not waiting
 * for one is ignored, as by the CPU. A core that goes offline and online
 * again goes through the same states.
 */
#include "vmm/core/smp.h"
#include "common/cpu.h"
#include "common/log.h"
#include "common/palloc.h"
#include "hw/x86.h"
#include "lib/mem.h"
#include "vmm/core/apic.h"
#include "vmm/core/vcpu.h"
#include "vmm/host.h"

#define AP_TRAMPOLINE  0x8000 /* a page of conventional memory, restored after */
#define AP_STACK_PAGES 16
#define INIT_WAIT_US   10000 /* MP Spec §B.4: 10 ms after INIT */
#define SIPI_WAIT_US   200   /* and 200 us after each start-up IPI */
#define ALIVE_WAIT_US  500000

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
extern const uint8_t ap_tramp_cr3[], ap_tramp_stack[], ap_tramp_arg[], ap_tramp_entry[];

void vmm_ap_main(struct vcpu *v);

static void delay_us(struct vm *vm, uint64_t us)
{
    uint64_t end = rdtsc() + vm->tsc_hz / 1000000 * us;
    while (rdtsc() < end)
        __asm__ volatile("pause");
}

static void put(uint8_t *tramp, const uint8_t *field, uint64_t val, unsigned size)
{
    lib_memcpy(tramp + (field - ap_tramp_start), &val, size);
}

/* Starts the core of v through the trampoline; returns true once it runs
 * vmm_ap_main. */
static bool start_core(struct vm *vm, struct vcpu *v, uint8_t *tramp)
{
    put(tramp, ap_tramp_cr3, vm->info->host_cr3, 4);
    put(tramp, ap_tramp_stack, v->stack_top, 8);
    put(tramp, ap_tramp_arg, (uint64_t)v, 8);
    put(tramp, ap_tramp_entry, (uint64_t)vmm_ap_main, 8);
    apic_send_init(v->apic_id);
    delay_us(vm, INIT_WAIT_US);
    for (int sipi = 0; sipi < 2 && !__atomic_load_n(&v->started, __ATOMIC_ACQUIRE); sipi++) {
        apic_send_startup(v->apic_id, AP_TRAMPOLINE >> 12);
        delay_us(vm, SIPI_WAIT_US);
    }
    for (uint64_t t = 0; t < ALIVE_WAIT_US / 100 && !__atomic_load_n(&v->started, __ATOMIC_ACQUIRE);
         t++)
        delay_us(vm, 100);
    return __atomic_load_n(&v->started, __ATOMIC_ACQUIRE);
}

void smp_start_aps(struct vm *vm,
                   struct vcpu *(*create)(struct vm *vm, unsigned id, uint32_t apic_id))
{
    struct boot_info *info = vm->info;
    uint32_t self = apic_self_id();
    static uint8_t saved[4096];
    uint8_t *tramp = (uint8_t *)AP_TRAMPOLINE;
    size_t len = (size_t)(ap_tramp_end - ap_tramp_start);

    vm->vcpus[0]->apic_id = self;
    if (info->ncpus < 2)
        return;
    lib_memcpy(saved, tramp, sizeof(saved));
    lib_memcpy(tramp, ap_tramp_start, len);
    for (unsigned i = 0; i < info->ncpus && vm->nvcpus < VM_MAX_VCPUS; i++) {
        if (info->apic_ids[i] == self)
            continue;
        struct vcpu *v = create(vm, vm->nvcpus, info->apic_ids[i]);
        if (!v)
            break;
        if (!start_core(vm, v, tramp)) {
            log_printf("vmm: the core with APIC ID %u did not start: the VM runs without it\n",
                       v->apic_id);
            vm->nvcpus--;
            continue;
        }
    }
    lib_memcpy(tramp, saved, sizeof(saved));
    log_printf("vmm: %u vCPU%s: every core is inside the VM\n", vm->nvcpus,
               vm->nvcpus == 1 ? "" : "s");
}

/* A core the VMM started, on its own stack and the VMM's page tables. */
void vmm_ap_main(struct vcpu *v)
{
    uint64_t cr;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr4" ::"r"(cr | CR4_OSFXSR));
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr));
    __asm__ volatile("mov %0, %%cr0" ::"r"(cr & ~(CR0_TS | CR0_EM)));
    host_cpu_init(v);
    v->ops->cpu_enable(v);
    v->state = VCPU_WAIT_SIPI;
    __atomic_store_n(&v->started, true, __ATOMIC_RELEASE);
    vcpu_run(v);
}

void smp_send_init(struct vcpu *t)
{
    spin_lock(&t->ipi_lock);
    t->init_pending = true;
    t->sipi_pending = false; /* INIT forgets a start-up IPI not taken yet */
    spin_unlock(&t->ipi_lock);
    apic_kick(t);
}

void smp_send_sipi(struct vcpu *t, uint8_t vector)
{
    bool wake = false;
    spin_lock(&t->ipi_lock);
    /* Waiting for one: after INIT (taken, or sent and not taken yet). A
     * second SIPI while the first is not taken changes nothing. */
    if ((t->state == VCPU_WAIT_SIPI || t->init_pending) && !t->sipi_pending) {
        t->sipi_pending = true;
        t->sipi_vector = vector;
        wake = true;
    }
    spin_unlock(&t->ipi_lock);
    if (wake)
        apic_kick(t);
}

void smp_take_init(struct vcpu *v)
{
    spin_lock(&v->ipi_lock);
    if (!v->init_pending) {
        spin_unlock(&v->ipi_lock);
        return;
    }
    v->init_pending = false;
    v->ops->init_state(v);
    v->state = VCPU_WAIT_SIPI;
    v->in_irq_handler = false;
    v->hlt_parked = false;
    spin_unlock(&v->ipi_lock);
    vcpu_intercepts_changed(v);
    log_printf("vmm: cpu%u: INIT: waits for a start-up IPI\n", v->id);
}

/* Its TSC joins the machine's: the boot CPU's TSC with its debt repaid. */
static void join_tsc(struct vcpu *v)
{
    struct vcpu *bsp = v->vm->vcpus[0];
    if (bsp != v)
        v->ops->set_tsc_offset(v, bsp->ops->get_tsc_offset(bsp) + bsp->tsc_debt);
    v->tsc_debt = 0;
}

void smp_wait_for_sipi(struct vcpu *v)
{
    for (;;) {
        spin_lock(&v->ipi_lock);
        if (v->init_pending) {
            spin_unlock(&v->ipi_lock);
            smp_take_init(v);
            continue;
        }
        if (v->sipi_pending) {
            uint8_t vec = v->sipi_vector;
            v->sipi_pending = false;
            struct seg_state cs = {(uint16_t)(vec << 8), 0x9b, 0xffff, (uint64_t)vec << 12};
            v->ops->set_seg(v, SEG_CS, &cs);
            v->ops->set_rip(v, 0);
            v->state = VCPU_RUNNING;
            spin_unlock(&v->ipi_lock);
            join_tsc(v);
            (void)apic_vm_nmis(v); /* none is for a core that waited for SIPI */
            log_printf("vmm: cpu%u: start-up IPI: runs at %04x:0000\n", v->id, vec << 8);
            return;
        }
        spin_unlock(&v->ipi_lock);
        v->ops->idle(v); /* until an NMI: a kick */
        (void)apic_vm_nmis(v);
    }
}
