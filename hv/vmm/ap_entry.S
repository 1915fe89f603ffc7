/*
 * The trampoline a core the VMM starts runs first (core/smp.c copies it to
 * AP_TRAMP and sends the core a start-up IPI with vector AP_TRAMP >> 12):
 * real mode at AP_TRAMP, then protected mode, then long mode on the VMM's
 * page tables (AMD APM Vol.2 §14.6.1 "Activating Long Mode"), then a jump
 * to vmm_ap_main(vcpu) on the core's own stack. Its parameters are written
 * into the copy before each start.
 */
#define AP_TRAMP 0x8000
#define ABS(x)   (AP_TRAMP + (x) - ap_tramp_start)

    .section .rodata.ap, "a"
    .global ap_tramp_start, ap_tramp_end
    .global ap_tramp_cr3, ap_tramp_stack, ap_tramp_arg, ap_tramp_entry
    .code16
ap_tramp_start:
    cli
    cld
    mov %cs, %ax /* CS = AP_TRAMP >> 4: offsets are from the start */
    mov %ax, %ds
    lgdtl gdtr - ap_tramp_start
    mov %cr0, %eax
    or $1, %eax /* CR0.PE */
    mov %eax, %cr0
    ljmpl $0x18, $ABS(prot32)

    .code32
prot32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax /* CR4.PAE */
    mov %eax, %cr4
    mov ABS(ap_tramp_cr3), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx /* EFER */
    rdmsr
    or $0x100, %eax /* EFER.LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax /* CR0.PG: long mode */
    mov %eax, %cr0
    ljmp $0x08, $ABS(long64)

    .code64
long64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov ABS(ap_tramp_stack), %rsp
    mov ABS(ap_tramp_arg), %rdi
    mov ABS(ap_tramp_entry), %rax
    xor %ebp, %ebp
    push %rbp /* a zero return address ends backtraces */
    jmp *%rax

    .align 16
gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
    .quad 0x00cf9a000000ffff /* 0x18: 32-bit code */
gdtr:
    .word gdtr - gdt - 1
    .long ABS(gdt)
    .align 8
ap_tramp_cr3:
    .quad 0
ap_tramp_stack:
    .quad 0
ap_tramp_arg:
    .quad 0
ap_tramp_entry:
    .quad 0
ap_tramp_end:
