/*
 * The 16-bit part: linked at LOW16_BASE (0x8000) and copied there by the
 * 32-bit part, because real mode reaches only the first MiB and a 16-bit
 * code segment only 64 KiB. All of it runs with CS base 0, so an offset
 * is also the linear address (what the probe records).
 *
 * Entered from 32-bit protected mode by a far jump to SEL_CODE16:LOW16_BASE
 * (call_low16 in k32/boot32.S), it runs one operation (ops.S, 16-bit
 * flavour) in real mode or in 16-bit protected mode (SH_LOW_MODE) and goes
 * back through the far pointer SH_RET_FAR.
 *
 * Real mode: CR0.PE cleared, then a far jump reloads CS (AMD APM Vol.2
 * §14.5 "Leaving Protected Mode", Intel SDM Vol.3A §10.9.2); the IVT at 0
 * keeps the BIOS's vectors except #DB, #UD, #GP and VEC_OWN, which point
 * here while the operation runs. The PIC is masked and IF is clear, so no
 * hardware interrupt comes through the borrowed vectors (0x0d is IRQ5's on
 * a PC).
 */
#include "shared.h"

    .code16
    .section .text.entry, "ax"
    .global low16_entry
low16_entry:
    movw $SEL_DATA16, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $STACK16_TOP, %esp
    cmpl $0, SH_LOW_MODE
    jne pm16

    movl %cr0, %eax
    andl $~1, %eax
    movl %eax, %cr0
    ljmp $0, $1f
1:  xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    lidtl ivt_desc
    call hook_ivt
    call run_op16
    call unhook_ivt
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl *SH_RET_FAR

pm16:
    lidtl idt16_desc
    call run_op16
    ljmpl *SH_RET_FAR

    .text
.macro HOOK v, slot
    movl \v * 4, %eax
    movl %eax, saved_ivt + 4 * \slot
    movl $rm_stub_\v, %eax /* segment 0: the dword is just the offset */
    movl %eax, \v * 4
.endm
.macro UNHOOK v, slot
    movl saved_ivt + 4 * \slot, %eax
    movl %eax, \v * 4
.endm
hook_ivt:
    HOOK 1, 0
    HOOK 6, 1
    HOOK 13, 2
    HOOK 0x66, 3
    ret
unhook_ivt:
    UNHOOK 1, 0
    UNHOOK 6, 1
    UNHOOK 13, 2
    UNHOOK 0x66, 3
    ret

/* Real mode pushes no error code: every stub pushes a zero one. */
.irp v, 1, 6, 13, 0x66
rm_stub_\v:
    pushw $0
    pushw $\v
    jmp exc16_common
.endr

/*
 * 16-bit protected mode: a 16-bit interrupt gate pushes FLAGS, CS, IP and,
 * for #DF, #TS, #NP, #SS, #GP, #PF and #AC, a 16-bit error code (APM Vol.2
 * §8.2, Table 8-1). Stubs are 8 bytes apart, so the IDT below can name them.
 */
    .balign 8
pm16_stubs:
    .set v, 0
    .rept VEC_OWN + 1
    .if (v == 8) || ((v >= 10) && (v <= 14)) || (v == 17)
    pushw $v
    .else
    pushw $0
    pushw $v
    .endif
    jmp exc16_common
    .balign 8
    .set v, v + 1
    .endr

/*
 * The frame: vec, err, ip, cs, flags (words). An armed probe records the
 * event; a fault resumes at the probe's next instruction, a #DB where it
 * was taken, both with TF cleared; INT VEC_OWN returns as it came (TF as
 * the INT saved it). An event without an armed probe is fatal.
 */
exc16_common:
    pushal
    movw %sp, %bp
    movzwl 32(%bp), %eax /* vector */
    cmpl $0, SH_P_ARMED
    je fatal16
    movl SH_P_NEV, %ebx
    cmpl $P_MAX_EV, %ebx
    jae 3f
    shlw $4, %bx
    movl %eax, SH_P_EV(%bx)
    movzwl 34(%bp), %ecx
    movl %ecx, SH_P_EV + 4(%bx)
    movzwl 36(%bp), %ecx
    subl SH_P_INSN, %ecx
    movl %ecx, SH_P_EV + 8(%bx)
    xorl %ecx, %ecx
    cmpl $1, %eax
    jne 2f
    movl %dr6, %ecx
2:  movl %ecx, SH_P_EV + 12(%bx)
    incl SH_P_NEV
3:  cmpl $VEC_OWN, %eax
    je 5f
    andw $~0x100, 40(%bp) /* TF */
    cmpl $1, %eax
    je 4f
    movw SH_P_NEXT, %cx
    movw %cx, 36(%bp)
    jmp 5f
4:  movl $0xffff0ff0, %ecx /* DR6: clear B0-B3, BS (APM Vol.2 §13.1.1.3) */
    movl %ecx, %dr6
5:  popal
    addw $4, %sp
    iret

fatal16:
    pushl %eax
    movw $msg_fatal, %si
    call puts16
    popl %eax
    call hex16
    movw $msg_ip, %si
    call puts16
    movzwl 36(%bp), %eax
    call hex16
    movw $msg_nl, %si
    call puts16
1:  cli
    hlt
    jmp 1b

puts16:
    lodsb
    testb %al, %al
    jz 1f
    call putc16
    jmp puts16
1:  ret

hex16: /* eax, 8 digits */
    movw $8, %cx
1:  roll $4, %eax
    pushl %eax
    andb $0xf, %al
    addb $'0', %al
    cmpb $'9', %al
    jbe 2f
    addb $('a' - '9' - 1), %al
2:  call putc16
    popl %eax
    loop 1b
    ret

putc16: /* COM1, polled (16550: LSR bit 5, transmitter holding register empty) */
    pushw %dx
    pushw %ax
    movw $0x3fd, %dx
1:  inb %dx, %al
    testb $0x20, %al
    jz 1b
    popw %ax
    movw $0x3f8, %dx
    outb %al, %dx
    popw %dx
    ret

    .section .rodata
msg_fatal: .asciz "\r\nRFXT-FATAL 16-bit mode: unexpected vector 0x"
msg_ip:    .asciz " at ip 0x"
msg_nl:    .asciz "\r\n"

    .balign 8
idt16:
    .set v, 0
    .rept VEC_OWN + 1
    .word pm16_stubs + 8 * v, SEL_CODE16, 0x8600, 0 /* present, DPL 0, 16-bit interrupt gate */
    .set v, v + 1
    .endr
idt16_end:
idt16_desc:
    .word idt16_end - idt16 - 1
    .long idt16
ivt_desc:
    .word 0x3ff
    .long 0

    .data
saved_ivt:
    .long 0, 0, 0, 0
