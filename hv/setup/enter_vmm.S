/* The jump from setup (or the UEFI application) into the vmm. */
#include "common/selectors.h"

/*
 * void setup_enter_vmm(uint64_t entry, struct boot_info *info,
 *                      uint64_t stack_top, uint64_t cr3, void *gdtr)
 * Switches to the VMM's page tables, GDT and stack, then jumps to its entry
 * with rdi = info. Everything it uses lives in the VMM range.
 */
    .text
    .global setup_enter_vmm
setup_enter_vmm:
    mov %rdi, %r9
    mov %rcx, %cr3
    lgdt (%r8)
    mov $VMM_DS, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %rdx, %rsp
    pushq $VMM_CS
    lea 1f(%rip), %rax
    push %rax
    lretq
1:  mov %rsi, %rdi
    xor %ebp, %ebp
    push %rbp /* a zero return address ends backtraces */
    jmp *%r9
