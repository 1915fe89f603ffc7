/*
 * The 64-bit part: entered in long mode (4-level paging, identity map) by
 * call_long of the 32-bit part at K64_BASE, it runs the 64-bit groups and
 * returns. Here: the entry, the interrupt stubs, and the switches to
 * compatibility mode, to 5-level paging and to ring 3.
 */
#include "shared.h"
#include "x86.h"

    .code64
    .section .text.entry, "ax"
    .global k64_entry
k64_entry:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    cld
    rep stosb
    call main64
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .text
/* Interrupt stubs, 16 bytes apart (the same error-code rule as the 32-bit part). */
    .balign 16
    .global isr64_stubs
isr64_stubs:
    .set v, 0
    .rept 256
    .if v == VEC_USER_RET
    jmp user_return64
    .else
    .if (v == 8) || ((v >= 10) && (v <= 14)) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
    .else
    pushq $0
    .endif
    pushq $v
    jmp isr64_common
    .endif
    .balign 16
    .set v, v + 1
    .endr

isr64_common:
    push %rax
    push %rcx
    push %rdx
    push %rbx
    push %rbp
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, %rdi
    cld
    call trap64
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rbp
    pop %rbx
    pop %rdx
    pop %rcx
    pop %rax
    addq $16, %rsp
    iretq

/*
 * void exec_compat(void): runs the operation of the shared page in
 * compatibility mode, through the 32-bit part's run_op32 (SH_RUN_OP32):
 * a far return to the 32-bit code segment, and a far jump back to the
 * 64-bit one (APM Vol.2 §14.1, the L bit of the code segment selects the
 * submode while EFER.LMA = 1).
 */
    .global exec_compat
exec_compat:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, SH_RSP64
    pushq $SEL_CODE32
    pushq $1f
    lretq
    .code32
1:  movl SH_RUN_OP32, %eax
    call *%eax
    ljmp $SEL_CODE64, $2f
    .code64
2:  movq SH_RSP64, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/*
 * void la57_switch(uint32_t cr3, uint32_t la57): between 4-level and
 * 5-level paging. CR4.LA57 can change only with paging off, so: to
 * compatibility mode, CR0.PG off (long mode ends, EFER.LMA = 0), CR4.LA57,
 * CR3, CR0.PG on (EFER.LME is still set: long mode again), far jump to
 * 64-bit code (Intel SDM Vol.3A §10.8.5 "Initializing IA-32e Mode" and
 * §5.5 "4-level and 5-level paging").
 */
    .global la57_switch
la57_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, SH_RSP64
    movl %edi, %ebx
    movl %esi, %ebp
    pushq $SEL_CODE32
    pushq $1f
    lretq
    .code32
1:  movl %cr0, %eax
    andl $~CR0_PG, %eax
    movl %eax, %cr0
    movl %cr4, %eax
    andl $~CR4_LA57, %eax
    testl %ebp, %ebp
    jz 2f
    orl $CR4_LA57, %eax
2:  movl %eax, %cr4
    movl %ebx, %cr3
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $3f
    .code64
3:  movq SH_RSP64, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/*
 * void enter_user64(uint64_t rip, uint64_t rsp, uint64_t rax, uint64_t rbp):
 * ring-3 code at rip until INT VEC_USER_RET, whose stub comes to
 * user_return64 (on TSS.RSP0): it stores RAX-RDX in out[0..3] and returns
 * from enter_user64. An interrupt to ring 0 loads a null SS (APM Vol.2
 * §8.9.3); compatibility mode needs a real one, so SS is reloaded.
 */
    .global enter_user64
enter_user64:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, user_ksp
    movq %rdx, %rax
    movq %rcx, %rbp
    xorl %ecx, %ecx
    pushq $SEL_UDATA
    pushq %rsi
    pushq $0x2 /* RFLAGS: IF clear */
    pushq $SEL_UCODE64
    pushq %rdi
    iretq
user_return64:
    movq %rax, SH_OUT0
    movq %rbx, SH_OUT0 + 8
    movq %rcx, SH_OUT0 + 16
    movq %rdx, SH_OUT0 + 24
    movw $SEL_DATA32, %ax
    movw %ax, %ss
    movq user_ksp, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* The ring-3 code, copied to the user page (position-independent):
 * CPUID with RFLAGS.TF from RBP. */
    .global user64_code, user64_insn, user64_next, user64_end
user64_code:
    pushfq
    orq %rbp, (%rsp)
    popfq
user64_insn:
    cpuid
user64_next:
    nop
    nop
    nop
    pushfq
    andq $~RFLAGS_TF, (%rsp)
    popfq
    int $VEC_USER_RET
user64_end:

    .data
user_ksp:
    .quad 0
