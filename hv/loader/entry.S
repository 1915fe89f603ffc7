/*
 * loader: the 32-bit multiboot (v1) kernel that GRUB or QEMU's -kernel loads.
 * It runs in protected mode with paging off (Multiboot spec §3.2 "Machine
 * state"), calls loader_main(), which loads setup and comes back through
 * loader_enter_long() to enter long mode and jump to setup.
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003 /* page-aligned modules, memory info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .align 16
stack_bottom:
    .space 16384
stack_top:

    .text
    .code32
    .global _start
_start:
    cli
    cld
    mov $stack_top, %esp
    push %ebx /* multiboot info */
    push %eax /* multiboot magic */
    call loader_main
1:  hlt
    jmp 1b

/*
 * void loader_enter_long(uint32_t pml4, uint32_t entry, uint32_t arg0,
 *                        uint32_t arg1) -- does not return.
 * AMD APM Vol.2 §14.6.1 "Activating Long Mode": CR4.PAE, CR3, EFER.LME,
 * then CR0.PG; then a far jump to a 64-bit code segment.
 */
    .global loader_enter_long
loader_enter_long:
    mov 4(%esp), %eax
    mov 8(%esp), %ebp
    mov 12(%esp), %edi
    mov 16(%esp), %esi
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax /* CR4.PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx /* EFER */
    rdmsr
    or $0x100, %eax /* EFER.LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax /* CR0.PG | CR0.PE */
    mov %eax, %cr0
    lgdt gdt_desc
    ljmp $0x08, $long_entry

    .code64
long_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    /* Upper halves of the GPRs are undefined after the mode switch. */
    mov %edi, %edi
    mov %esi, %esi
    mov %ebp, %ebp
    mov $stack_top, %esp
    and $-16, %rsp
    call *%rbp
2:  hlt
    jmp 2b

    .section .rodata
    .align 16
gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff /* 0x10: data, DPL 0 */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
