/*
 * The VMCS as text, for the log and the stub's `monitor vmcb`: the exit
 * (reason, qualification, event information, VM_INSTRUCTION_ERROR), the
 * controls and the guest state (SDM Vol.3C §24.4, §24.6-24.9).
 */
#include "lib/fmt.h"
#include "vmm/vmx/vmx.h"

struct named {
    const char *name;
    uint32_t field;
};

static const struct named exit_fields[] = {
    {"exit_reason", VM_EXIT_REASON},
    {"exit_qualification", EXIT_QUALIFICATION},
    {"vm_instruction_error", VM_INSTRUCTION_ERROR},
    {"exit_intr_info", VM_EXIT_INTR_INFO},
    {"exit_intr_error_code", VM_EXIT_INTR_ERROR_CODE},
    {"idt_vectoring_info", IDT_VECTORING_INFO_FIELD},
    {"idt_vectoring_error", IDT_VECTORING_ERROR_CODE},
    {"exit_instruction_len", VM_EXIT_INSTRUCTION_LEN},
    {"guest_physical_address", GUEST_PHYSICAL_ADDRESS},
    {"guest_linear_address", GUEST_LINEAR_ADDRESS},
    {"entry_intr_info", VM_ENTRY_INTR_INFO_FIELD},
    {"entry_instruction_len", VM_ENTRY_INSTRUCTION_LEN},
};

static const struct named control_fields[] = {
    {"pin_based", PIN_BASED_VM_EXEC_CONTROL},
    {"cpu_based", CPU_BASED_VM_EXEC_CONTROL},
    {"secondary", SECONDARY_VM_EXEC_CONTROL},
    {"exit_controls", VM_EXIT_CONTROLS},
    {"entry_controls", VM_ENTRY_CONTROLS},
    {"exception_bitmap", EXCEPTION_BITMAP},
    {"cr0_mask", CR0_GUEST_HOST_MASK},
    {"cr0_shadow", CR0_READ_SHADOW},
    {"cr4_mask", CR4_GUEST_HOST_MASK},
    {"cr4_shadow", CR4_READ_SHADOW},
    {"ept_pointer", EPT_POINTER},
    {"tsc_offset", TSC_OFFSET},
    {"preemption_timer", VMX_PREEMPTION_TIMER_VALUE},
};

static const struct named guest_fields[] = {
    {"rip", GUEST_RIP},
    {"rsp", GUEST_RSP},
    {"rflags", GUEST_RFLAGS},
    {"cr0", GUEST_CR0},
    {"cr3", GUEST_CR3},
    {"cr4", GUEST_CR4},
    {"dr7", GUEST_DR7},
    {"efer", GUEST_IA32_EFER},
    {"pat", GUEST_IA32_PAT},
    {"debugctl", GUEST_IA32_DEBUGCTL},
    {"gdtr_base", GUEST_GDTR_BASE},
    {"gdtr_limit", GUEST_GDTR_LIMIT},
    {"idtr_base", GUEST_IDTR_BASE},
    {"idtr_limit", GUEST_IDTR_LIMIT},
    {"activity_state", GUEST_ACTIVITY_STATE},
    {"interruptibility", GUEST_INTERRUPTIBILITY_INFO},
    {"pending_dbg", GUEST_PENDING_DBG_EXCEPTIONS},
    {"sysenter_cs", GUEST_SYSENTER_CS},
    {"sysenter_esp", GUEST_SYSENTER_ESP},
    {"sysenter_eip", GUEST_SYSENTER_EIP},
    {"pdptr0", GUEST_PDPTR0},
    {"pdptr1", GUEST_PDPTR1},
    {"pdptr2", GUEST_PDPTR2},
    {"pdptr3", GUEST_PDPTR3},
    {"link_pointer", VMCS_LINK_POINTER},
};

static unsigned long fields(char *buf, unsigned long size, unsigned long n, const char *title,
                            const struct named *f, unsigned count)
{
    n += fmt_snprintf(buf + n, n < size ? size - n : 0, "--- %s ---\n", title);
    for (unsigned i = 0; i < count; i++)
        n += fmt_snprintf(buf + n, n < size ? size - n : 0, "%-22s 0x%llx\n", f[i].name,
                          (unsigned long long)vmread(f[i].field));
    return n;
}

unsigned long vmx_vmcs_dump(struct vcpu *v, char *buf, unsigned long size)
{
    static const char *const segs[] = {"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"};
    static const char *const gprs[GPR_COUNT] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
                                                "rsi", "rdi", "r8",  "r9",  "r10", "r11",
                                                "r12", "r13", "r14", "r15"};
    unsigned long n = 0;

    n += fmt_snprintf(buf, size,
                      "--- VMCS (vmx) ---\nlaunched %d, entry_failed %d, ivt_trap %d "
                      "(VM's IDT limit 0x%x)\n",
                      to_vmx(v)->launched, to_vmx(v)->entry_failed, to_vmx(v)->ivt_trap,
                      to_vmx(v)->idt_limit);
    n = fields(buf, size, n, "exit", exit_fields, sizeof(exit_fields) / sizeof(exit_fields[0]));
    n = fields(buf, size, n, "controls", control_fields,
               sizeof(control_fields) / sizeof(control_fields[0]));
    n = fields(buf, size, n, "guest", guest_fields, sizeof(guest_fields) / sizeof(guest_fields[0]));
    for (unsigned s = 0; s < 8; s++)
        n += fmt_snprintf(buf + n, n < size ? size - n : 0,
                          "%-4s sel 0x%04llx base 0x%llx limit 0x%llx ar 0x%llx\n", segs[s],
                          (unsigned long long)vmread(GUEST_ES_SELECTOR + 2 * s),
                          (unsigned long long)vmread(GUEST_ES_BASE + 2 * s),
                          (unsigned long long)vmread(GUEST_ES_LIMIT + 2 * s),
                          (unsigned long long)vmread(GUEST_ES_AR_BYTES + 2 * s));
    for (unsigned i = 0; i < GPR_COUNT; i++)
        n += fmt_snprintf(buf + n, n < size ? size - n : 0, "%s 0x%llx%s", gprs[i],
                          (unsigned long long)v->gpr[i], (i % 4 == 3) ? "\n" : "  ");
    return n;
}
