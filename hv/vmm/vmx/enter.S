/*
 * The world switch. SDM Vol.3C §26 "VM Entries", §28 "VM Exits": VM entry
 * loads the guest state of the current VMCS, a VM exit loads its host
 * state -- RSP and RIP included, which point here (HOST_RSP is written at
 * each entry, HOST_RIP once: vmx_exit_point). The VMCS holds the VM's RSP
 * and RIP but no other GPR: those are ours to switch, RAX included.
 *
 * int vmx_world_switch(uint64_t *gprs, int launched)
 *   returns 0 after a VM exit, 1 if VMLAUNCH/VMRESUME failed (§31.2:
 *   CF or ZF set, nothing of the guest ran).
 */
#define G(r) (r * 8)(%rdi)
#define RAX 0
#define RCX 1
#define RDX 2
#define RBX 3
#define RBP 5
#define RSI 6
#define RDI 7
#define HOST_RSP 0x6c14

    .text
    .global vmx_world_switch
    .global vmx_exit_point
vmx_world_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdi /* gprs: (%rsp) at the exit */

    mov $HOST_RSP, %rax
    vmwrite %rsp, %rax
    test %esi, %esi /* the flags survive the MOVs below */

    mov G(RAX), %rax
    mov G(RCX), %rcx
    mov G(RDX), %rdx
    mov G(RBX), %rbx
    mov G(RBP), %rbp
    mov G(RSI), %rsi
    mov G(8), %r8
    mov G(9), %r9
    mov G(10), %r10
    mov G(11), %r11
    mov G(12), %r12
    mov G(13), %r13
    mov G(14), %r14
    mov G(15), %r15
    mov G(RDI), %rdi

    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  /* failed: the guest's registers are loaded, ours are on the stack */
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    mov $1, %eax
    ret

vmx_exit_point:
    push %rdi
    mov 8(%rsp), %rdi /* gprs */
    pop G(RDI)
    mov %rax, G(RAX)
    mov %rcx, G(RCX)
    mov %rdx, G(RDX)
    mov %rbx, G(RBX)
    mov %rbp, G(RBP)
    mov %rsi, G(RSI)
    mov %r8, G(8)
    mov %r9, G(9)
    mov %r10, G(10)
    mov %r11, G(11)
    mov %r12, G(12)
    mov %r13, G(13)
    mov %r14, G(14)
    mov %r15, G(15)

    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    xor %eax, %eax
    ret
