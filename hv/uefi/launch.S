/*
 * The UEFI application's two ends in assembly.
 *
 * efi_main: the image entry point (UEFI 2.10 §4.1 "UEFI Image Entry
 * Point"), called with the Microsoft x64 convention: rcx = ImageHandle,
 * rdx = SystemTable (§2.3.4.2). It keeps the registers that convention
 * has the callee save (rbx, rbp, rdi, rsi, r12-r15; xmm6-15 are never
 * touched: everything is built -mgeneral-regs-only) and calls
 * uefi_main(image, systab) with the System V convention the C uses.
 * uefi_abort(status) unwinds to it from anywhere and returns status to the
 * firmware: a clear error never halts the machine.
 *
 * uefi_launch(resume, go): the launch point. It records the CPU as the
 * firmware has it -- every register, RFLAGS, CR0/3/4, EFER, PAT, the GS
 * bases, GDTR, IDTR and the selectors -- with RIP at `resumed` and RSP as
 * it is here, disables interrupts and calls go(resume), which enters the
 * vmm and does not return. The vmm starts the VM in that state, so the VM
 * runs `resumed` next: uefi_launch returns 0 to its caller, inside the VM.
 * It returns 1 if go came back (the VMM did not start).
 */
#define R_GPR(n)  ((n) * 8)
#define R_RIP     128
#define R_RFLAGS  136
#define R_CR0     144
#define R_CR3     152
#define R_CR4     160
#define R_EFER    168
#define R_PAT     176
#define R_KGSBASE 184
#define R_GDT     192
#define R_IDT     200
#define R_GDTLIM  208
#define R_IDTLIM  210
#define R_SEG(n)  (216 + (n) * 16)
#define SEG_BASE  8

    .text
    .code64
    .global efi_main, uefi_abort, uefi_launch

efi_main:
    push %rbx
    push %rbp
    push %rdi
    push %rsi
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    mov %rsp, abort_rsp(%rip)
    mov %rcx, %rdi
    mov %rdx, %rsi
    call uefi_main
efi_return:
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rsi
    pop %rdi
    pop %rbp
    pop %rbx
    ret

uefi_abort:
    mov abort_rsp(%rip), %rsp
    mov %rdi, %rax
    jmp efi_return

.macro RDMSR_TO msr, off
    mov $\msr, %ecx
    rdmsr
    mov %eax, \off(%rdi)
    mov %edx, \off+4(%rdi)
.endm

uefi_launch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    sub $8, %rsp
    movq $0, R_GPR(0)(%rdi) /* rax: uefi_launch returns 0 in the VM */
    mov %rcx, R_GPR(1)(%rdi)
    mov %rdx, R_GPR(2)(%rdi)
    mov %rbx, R_GPR(3)(%rdi)
    mov %rsp, R_GPR(4)(%rdi)
    mov %rbp, R_GPR(5)(%rdi)
    mov %rsi, R_GPR(6)(%rdi)
    mov %rdi, R_GPR(7)(%rdi)
    mov %r8, R_GPR(8)(%rdi)
    mov %r9, R_GPR(9)(%rdi)
    mov %r10, R_GPR(10)(%rdi)
    mov %r11, R_GPR(11)(%rdi)
    mov %r12, R_GPR(12)(%rdi)
    mov %r13, R_GPR(13)(%rdi)
    mov %r14, R_GPR(14)(%rdi)
    mov %r15, R_GPR(15)(%rdi)
    lea resumed(%rip), %rax
    mov %rax, R_RIP(%rdi)
    pushfq
    pop %rax
    mov %rax, R_RFLAGS(%rdi)
    mov %cr0, %rax
    mov %rax, R_CR0(%rdi)
    mov %cr3, %rax
    mov %rax, R_CR3(%rdi)
    mov %cr4, %rax
    mov %rax, R_CR4(%rdi)
    mov %rsi, %r12 /* go */
    RDMSR_TO 0xc0000080, R_EFER
    RDMSR_TO 0x277, R_PAT
    RDMSR_TO 0xc0000102, R_KGSBASE
    /* FS and GS bases in long mode are the MSRs (APM Vol.2 §4.5.3) */
    RDMSR_TO 0xc0000100, R_SEG(4) + SEG_BASE
    RDMSR_TO 0xc0000101, R_SEG(5) + SEG_BASE
    sub $16, %rsp
    sgdt (%rsp)
    movzwl (%rsp), %eax
    mov %ax, R_GDTLIM(%rdi)
    mov 2(%rsp), %rax
    mov %rax, R_GDT(%rdi)
    sidt (%rsp)
    movzwl (%rsp), %eax
    mov %ax, R_IDTLIM(%rdi)
    mov 2(%rsp), %rax
    mov %rax, R_IDT(%rdi)
    add $16, %rsp
    mov %es, R_SEG(0)(%rdi)
    mov %cs, R_SEG(1)(%rdi)
    mov %ss, R_SEG(2)(%rdi)
    mov %ds, R_SEG(3)(%rdi)
    mov %fs, R_SEG(4)(%rdi)
    mov %gs, R_SEG(5)(%rdi)
    sldt R_SEG(6)(%rdi)
    str R_SEG(7)(%rdi)
    mov %rdi, %r13
    cli
    call *%r12
    /* go came back: the firmware goes on as it was */
    mov R_RFLAGS(%r13), %rax
    push %rax
    popfq
    mov $1, %eax
    jmp 1f
resumed:
    xor %eax, %eax
1:  add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .data
    .align 8
abort_rsp:
    .quad 0

/* The vmm image the application loads into the VMM range. */
    .section .rodata
    .align 4096
    .global vmm_image_start, vmm_image_end
vmm_image_start:
    .incbin VMM_ELF
vmm_image_end:
