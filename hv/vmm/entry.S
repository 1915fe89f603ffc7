/*
 * vmm entry. setup jumps here with rdi = boot_info, on the VMM's stack,
 * page tables and GDT. The image was copied to an address chosen at boot,
 * so first it applies its own R_X86_64_RELATIVE relocations; until then no
 * absolute address stored in data may be used.
 */
    .section .text.entry, "ax"
    .code64
    .global _start
_start:
    mov %rdi, %r12
    lea __image_start(%rip), %rdi
    lea _DYNAMIC(%rip), %rsi
    call elf64_apply_relative
    test %eax, %eax
    jnz 1f
    mov %r12, %rdi
    call vmm_main
1:  cli
    hlt
    jmp 1b

/*
 * Host exception stubs: vectors 0-31. Each pushes a dummy error code where
 * the CPU pushes none (AMD APM Vol.2 §8.2), then its vector, then jumps to
 * the common path, which hands the frame to vmm_host_fault().
 */
    .text
.macro EXC vec, has_err
    .align 16
exc_\vec:
    .if \has_err == 0
    pushq $0
    .endif
    pushq $\vec
    jmp exc_common
.endm

    .align 16
    .global vmm_exc_stubs
vmm_exc_stubs:
    EXC 0,0;  EXC 1,0;  EXC 2,0;  EXC 3,0;  EXC 4,0;  EXC 5,0;  EXC 6,0;  EXC 7,0
    EXC 8,1;  EXC 9,0;  EXC 10,1; EXC 11,1; EXC 12,1; EXC 13,1; EXC 14,1; EXC 15,0
    EXC 16,0; EXC 17,1; EXC 18,0; EXC 19,0; EXC 20,0; EXC 21,1; EXC 22,0; EXC 23,0
    EXC 24,0; EXC 25,0; EXC 26,0; EXC 27,0; EXC 28,0; EXC 29,1; EXC 30,1; EXC 31,0

exc_common:
    push %rax
    push %rcx
    push %rdx
    push %rbx
    push %rbp
    push %rsi
    push %rdi
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call vmm_host_fault /* returns only for a fault it recovered */
    mov %rbx, %rsp
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp /* vector, error code */
    iretq

/*
 * int safe_rdmsr(uint32_t msr, uint64_t *val) / int safe_wrmsr(msr, val):
 * return 0, or -1 if the MSR faulted (#GP: it does not exist). The fault
 * handler sends a #GP at safe_msr_insn_* to safe_msr_fixup.
 */
    .global safe_rdmsr, safe_wrmsr, safe_msr_insn_rd, safe_msr_insn_wr, safe_msr_fixup
safe_rdmsr:
    mov %edi, %ecx
safe_msr_insn_rd:
    rdmsr
    shl $32, %rdx
    mov %eax, %eax
    or %rdx, %rax
    mov %rax, (%rsi)
    xor %eax, %eax
    ret
safe_wrmsr:
    mov %edi, %ecx
    mov %rsi, %rax
    mov %rsi, %rdx
    shr $32, %rdx
safe_msr_insn_wr:
    wrmsr
    xor %eax, %eax
    ret
safe_msr_fixup:
    mov $-1, %eax
    ret
