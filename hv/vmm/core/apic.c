/*
 * The local APICs. The VM drives the hardware APIC of each core itself
 * (its timer, EOIs, its IPIs to other cores), with two exceptions the VMM
 * takes: INIT and start-up IPIs, which would start a core outside the VM,
 * are emulated (core/smp.c). To see them, the VMM intercepts writes of the
 * x2APIC ICR (MSR 830h) and keeps the xAPIC page read-only in the nested
 * tables: every write there is a nested page fault, emulated here and
 * passed on to the APIC unless it is an INIT or a SIPI.
 *
 * The VMM's own IPIs are NMIs (apic_kick): they make a core exit
 * wherever it is in the VM, and one that the VMM sent is told apart from
 * the VM's own by a count.
 *
 * SDM Vol.3A §11.6 (issuing IPIs, the ICR, Figure 11-12), §11.6.2
 * (physical and logical destinations, the LDR and DFR), §11.12.10 (x2APIC
 * logical IDs); APM Vol.2 §16.5.
 */
#include "vmm/core/apic.h"
#include "common/cpu.h"
#include "common/log.h"
#include "hw/apic.h"
#include "hw/x86.h"
#include "vmm/core/emulate.h"
#include "vmm/core/smp.h"
#include "vmm/core/vcpu.h"
#include "vmm/devices/devices.h"

#define ICR_SEND_WAIT 1000000

static volatile uint32_t *xapic_reg(uint64_t base, unsigned off)
{
    return (volatile uint32_t *)(base + off);
}

/* Sends an IPI through this core's APIC, in the mode it is in. In xAPIC
 * mode the destination word the VM may have just written is put back. */
static void apic_send(uint32_t dest, uint32_t lo)
{
    uint64_t base = rdmsr(MSR_IA32_APICBASE);
    if (base & APICBASE_EXTD) {
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | lo);
        return;
    }
    base &= APICBASE_ADDR_MASK;
    for (int i = 0; i < ICR_SEND_WAIT && (*xapic_reg(base, APIC_ICR_LO) & ICR_BUSY); i++)
        __asm__ volatile("pause");
    uint32_t hi = *xapic_reg(base, APIC_ICR_HI);
    *xapic_reg(base, APIC_ICR_HI) = dest << 24;
    *xapic_reg(base, APIC_ICR_LO) = lo;
    for (int i = 0; i < ICR_SEND_WAIT && (*xapic_reg(base, APIC_ICR_LO) & ICR_BUSY); i++)
        __asm__ volatile("pause");
    *xapic_reg(base, APIC_ICR_HI) = hi;
}

void apic_send_init(uint32_t apic_id) { apic_send(apic_id, (ICR_DM_INIT << 8) | ICR_LEVEL_ASSERT); }

void apic_send_startup(uint32_t apic_id, uint8_t vector)
{
    apic_send(apic_id, (ICR_DM_STARTUP << 8) | vector);
}

void apic_kick(struct vcpu *target)
{
    __atomic_add_fetch(&target->kicks, 1, __ATOMIC_SEQ_CST);
    apic_send(target->apic_id, ICR_DM_NMI << 8);
}

/*
 * Each kick sends one NMI, so the NMIs that come are the kicks' until as
 * many came as kicks were sent; any beyond are the VM's. A count, not a
 * flag: a core can take two kicks (an INIT's and a SIPI's, sent back to
 * back) on the first NMI, and the second NMI, still on its way, must not
 * reach the VM as its own (in Linux's AP start-up code, whose IDT is
 * empty, that is a triple fault). A kick's NMI that never comes was merged
 * with another (while NMIs are blocked, or GIF is clear, a core holds one
 * NMI pending: SDM Vol.3A §6.7.1 "Handling Multiple NMIs", APM Vol.2
 * §15.17): the count forgets it once the core has entered the VM and left
 * it KICK_NMI_LOST_EXITS times and KICK_NMI_LOST_MS passed (an NMI pending
 * at an entry exits at once), so as not to take the VM's next NMI for it.
 * Both, because a core whose emulator thread is descheduled sees time
 * pass with no entry.
 */
#define KICK_NMI_LOST_MS    100
#define KICK_NMI_LOST_EXITS 64

unsigned apic_vm_nmis(struct vcpu *v)
{
    uint64_t now = rdtsc();
    if (v->kick_nmis_owed && now - v->owed_tsc > v->vm->tsc_hz / 1000 * KICK_NMI_LOST_MS &&
        v->exits - v->owed_exits > KICK_NMI_LOST_EXITS)
        v->kick_nmis_owed = 0;
    uint32_t taken = __atomic_exchange_n(&v->kicks, 0, __ATOMIC_SEQ_CST);
    if (taken) {
        v->kick_nmis_owed += taken;
        v->owed_tsc = now;
        v->owed_exits = v->exits;
    }
    unsigned vm = 0;
    for (uint32_t got = __atomic_exchange_n(&v->nmis_in, 0, __ATOMIC_SEQ_CST); got; got--) {
        if (v->kick_nmis_owed)
            v->kick_nmis_owed--;
        else
            vm++;
    }
    return vm;
}

uint32_t apic_self_id(void)
{
    uint32_t r[4];
    cpuid_count(0, 0, r);
    if (r[0] >= 0xb) {
        cpuid_count(0xb, 0, r);
        if (r[1]) /* the x2APIC ID of leaf 0Bh (SDM Vol.2 CPUID) */
            return r[3];
    }
    cpuid_count(1, 0, r);
    return r[1] >> 24;
}

/* The logical ID an x2APIC derives from its ID (SDM §11.12.10.2). */
static uint32_t x2apic_ldr(uint32_t id) { return ((id >> 4) << 16) | (1u << (id & 0xf)); }

/* Whether vCPU t is a destination of icr sent by v. */
static bool targets(struct vcpu *v, struct vcpu *t, uint64_t icr, bool x2)
{
    switch (ICR_SHORTHAND(icr)) {
    case ICR_SH_SELF:
        return t == v;
    case ICR_SH_ALL:
        return true;
    case ICR_SH_OTHERS:
        return t != v;
    default:
        break;
    }
    uint32_t dest = x2 ? (uint32_t)(icr >> 32) : XAPIC_DEST((uint32_t)(icr >> 32));
    if (!(icr & ICR_DEST_LOGICAL))
        return dest == (x2 ? X2APIC_BROADCAST : XAPIC_BROADCAST) || t->apic_id == dest;
    if (x2) {
        uint32_t ldr = x2apic_ldr(t->apic_id);
        return dest == X2APIC_BROADCAST || ((dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff));
    }
    if (dest == XAPIC_BROADCAST)
        return true;
    uint32_t logical = t->ldr >> 24;
    if (DFR_MODEL(t->dfr) == DFR_FLAT)
        return logical & dest;
    return (dest >> 4) == (logical >> 4) && (dest & logical & 0xf); /* cluster */
}

bool apic_icr_write(struct vcpu *v, uint64_t icr, bool x2)
{
    unsigned dm = ICR_DELIVERY(icr);
    if (dm != ICR_DM_INIT && dm != ICR_DM_STARTUP)
        return false; /* fixed, NMI, SMI...: the APIC sends it */
    /* An INIT level de-assert synchronises the arbitration IDs of the
     * P6-era buses: it starts nothing (SDM §11.6.1). */
    if (dm == ICR_DM_INIT && !(icr & ICR_LEVEL_ASSERT) && (icr & ICR_TRIGGER_LEVEL))
        return true;
    for (unsigned i = 0; i < v->vm->nvcpus; i++) {
        struct vcpu *t = v->vm->vcpus[i];
        if (!targets(v, t, icr, x2))
            continue;
        if (dm == ICR_DM_STARTUP) {
            smp_send_sipi(t, (uint8_t)ICR_VECTOR(icr));
        } else if (t->id == 0) {
            /* An INIT of the boot CPU would restart the firmware on top of
             * the running VM: a reset attempt like the others. */
            reset_attempt(v, "an INIT IPI to the boot CPU");
        } else {
            smp_send_init(t);
        }
    }
    return true;
}

/* The value and size of the store the instruction makes, for the few
 * forms that write an APIC register (MOV, XCHG). Returns 0, or -1. */
static int store_of(struct vcpu *v, const struct insn *in, uint64_t *val, unsigned *size,
                    bool *xchg)
{
    *xchg = false;
    if (in->map != 1)
        return -1;
    switch (in->opcode) {
    case 0x88: /* MOV r/m8, r8 */
        *size = 1;
        *val = emu_get_reg(v, in, emu_modrm_reg(in), 1);
        return 0;
    case 0x89: /* MOV r/m, r */
        *size = in->opsize;
        *val = emu_get_reg(v, in, emu_modrm_reg(in), in->opsize);
        return 0;
    case 0x87: /* XCHG r/m, r */
        *size = in->opsize;
        *val = emu_get_reg(v, in, emu_modrm_reg(in), in->opsize);
        *xchg = true;
        return 0;
    case 0xc6: /* MOV r/m8, imm8 */
        *size = 1;
        *val = in->imm;
        return 0;
    case 0xc7: /* MOV r/m, imm */
        *size = in->opsize;
        *val = in->imm;
        return 0;
    case 0xa3: /* MOV moffs, eAX */
        *size = in->opsize;
        *val = v->gpr[GPR_RAX];
        return 0;
    default:
        return -1;
    }
}

static void hw_write(uint64_t gpa, uint64_t val, unsigned size)
{
    if (size == 4)
        *(volatile uint32_t *)gpa = (uint32_t)val;
    else if (size == 1)
        *(volatile uint8_t *)gpa = (uint8_t)val;
    else if (size == 2)
        *(volatile uint16_t *)gpa = (uint16_t)val;
    else
        *(volatile uint64_t *)gpa = val;
}

int apic_mmio_write(struct vcpu *v, uint64_t gpa)
{
    struct insn in;
    uint64_t val;
    unsigned size;
    bool xchg;

    if (emu_decode(v, &in) || store_of(v, &in, &val, &size, &xchg)) {
        vcpu_cannot_emulate(v,
                            "a write to the local APIC by an instruction the VMM does not emulate");
        return 0;
    }
    unsigned off = (unsigned)(gpa & (APIC_PAGE - 1));
    uint64_t old = xchg ? *(volatile uint32_t *)gpa : 0;
    if (size == 4 && off == APIC_ICR_LO) {
        if (!apic_icr_write(v, ((uint64_t)v->icr_hi << 32) | (uint32_t)val, false))
            hw_write(gpa, val, 4); /* the destination is the VM's own ICR_HI already */
    } else {
        if (size == 4 && off == APIC_ICR_HI)
            v->icr_hi = (uint32_t)val;
        else if (size == 4 && off == APIC_LDR)
            v->ldr = (uint32_t)val;
        else if (size == 4 && off == APIC_DFR)
            v->dfr = (uint32_t)val;
        hw_write(gpa, val, size);
    }
    if (xchg)
        emu_set_reg(v, &in, emu_modrm_reg(&in), size, old);
    vcpu_complete(v, in.len);
    return 0;
}

bool apic_page(const struct vm *vm, uint64_t gpa)
{
    return vm->apic_base && gpa >= vm->apic_base && gpa - vm->apic_base < APIC_PAGE;
}

void vm_init_apic(struct vm *vm)
{
    vm->apic_base = rdmsr(MSR_IA32_APICBASE) & APICBASE_ADDR_MASK;
    for (unsigned i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i]->dfr = 0xffffffffu; /* the DFR's reset value: flat */
    if (vm->nvcpus < 2) {
        vm->apic_base = 0; /* one core: nothing to start, nothing to watch */
        return;
    }
    vm->ops->set_msr_intercept(vm, MSR_X2APIC_ICR, false, true);
    if (vm->ops->npt_protect(vm, vm->apic_base, false))
        log_printf("vmm: cannot write-protect the APIC page: INIT/SIPI in xAPIC mode escape\n");
    log_printf("vmm: INIT and start-up IPIs are emulated (x2APIC ICR, xAPIC page 0x%llx)\n",
               (unsigned long long)vm->apic_base);
}
