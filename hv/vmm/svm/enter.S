/*
 * The world switch. AMD APM Vol.2 §15.5 "VMRUN": VMRUN saves host state to
 * VM_HSAVE_PA and loads the guest's from the VMCB; #VMEXIT restores the
 * host's. RAX and RSP are in the VMCB; the other GPRs are ours to switch.
 * VMLOAD/VMSAVE move the state VMRUN does not (FS, GS, TR, LDTR, the
 * SYSCALL/SYSENTER MSRs, KernelGSBase: §15.5.2): the guest's around VMRUN,
 * then the VMM's own back (its TR and exception stacks, and the GS base
 * this_vcpu() reads).
 *
 * void svm_world_switch(uint64_t vmcb_pa, uint64_t *gprs, uint64_t host_vmcb_pa)
 */
#define G(r) (r * 8)(%rsi)
#define RCX 1
#define RDX 2
#define RBX 3
#define RBP 5
#define RSI 6
#define RDI 7

    .text
    .global svm_world_switch
svm_world_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdx /* host VMCB */
    push %rsi /* gprs */

    mov %rdi, %rax /* VMCB physical address: VMRUN's operand */
    mov G(RCX), %rcx
    mov G(RDX), %rdx
    mov G(RBX), %rbx
    mov G(RBP), %rbp
    mov G(8), %r8
    mov G(9), %r9
    mov G(10), %r10
    mov G(11), %r11
    mov G(12), %r12
    mov G(13), %r13
    mov G(14), %r14
    mov G(15), %r15
    mov G(RDI), %rdi
    mov G(RSI), %rsi

    vmload %rax
    vmrun %rax
    vmsave %rax

    push %rsi
    mov 8(%rsp), %rsi /* gprs */
    pop G(RSI)
    mov %rcx, G(RCX)
    mov %rdx, G(RDX)
    mov %rbx, G(RBX)
    mov %rbp, G(RBP)
    mov %rdi, G(RDI)
    mov %r8, G(8)
    mov %r9, G(9)
    mov %r10, G(10)
    mov %r11, G(11)
    mov %r12, G(12)
    mov %r13, G(13)
    mov %r14, G(14)
    mov %r15, G(15)

    pop %rsi
    pop %rax /* host VMCB */
    vmload %rax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
