/*
 * The 32-bit part: the multiboot (v1) entry, its interrupt stubs, and the
 * switches to the other modes the checks run in.
 *
 * GRUB's `multiboot` enters _start in 32-bit protected mode with paging
 * off, flat segments and interrupts disabled; EAX holds the magic and EBX
 * the multiboot information (Multiboot Specification 0.6.96, §3.2).
 */
#include "shared.h"
#include "x86.h"

#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000002 /* memory information (mem_*, mmap_*) */
#define K64_BASE 0x400000

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .balign 16
boot_stack:
    .space 16384
boot_stack_top:

    .text
    .code32
    .global _start
_start:
    cli
    cld
    movl $boot_stack_top, %esp
    pushl %ebx
    pushl %eax
    call kmain32
1:  cli
    hlt
    jmp 1b

/* void gdt_load(const void *desc): LGDT, then reload every segment register. */
    .global gdt_load
gdt_load:
    movl 4(%esp), %eax
    lgdt (%eax)
    ljmp $SEL_CODE32, $1f
1:  movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    ret

/*
 * Interrupt stubs, 16 bytes apart: vector v at isr32_stubs + 16 * v. The
 * CPU pushes an error code for #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC,
 * #SX (APM Vol.2 §8.2); the others push a zero, so every frame is alike.
 */
    .balign 16
    .global isr32_stubs
isr32_stubs:
    .set v, 0
    .rept 256
    .if v == VEC_USER_RET
    jmp user_return32
    .else
    .if (v == 8) || ((v >= 10) && (v <= 14)) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
    .else
    pushl $0
    .endif
    pushl $v
    jmp isr32_common
    .endif
    .balign 16
    .set v, v + 1
    .endr

/* The frame trap32 gets: es, ds, the PUSHAL registers, vector, error code,
 * eip, cs, eflags (and esp, ss from ring 3). DS and ES are reloaded: the
 * interrupted code may be ring 3 or 16-bit. */
isr32_common:
    pushal
    pushl %ds
    pushl %es
    movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    pushl %esp
    call trap32
    addl $4, %esp
    popl %es
    popl %ds
    popal
    addl $8, %esp
    iret

/*
 * void call_low16(void): runs the operation of the shared page in real
 * mode or 16-bit protected mode (SH_LOW_MODE) through the 16-bit part
 * (low16/low16.S), which comes back to low16_return.
 */
    .global call_low16
call_low16:
    pushal
    movl %esp, SH_ESP32
    movl $low16_return, SH_RET_FAR
    movl $SEL_CODE32, SH_RET_FAR + 4
    ljmp $SEL_CODE16, $LOW16_BASE
low16_return:
    movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl SH_ESP32, %esp
    lidt idt32_desc
    popal
    ret

/*
 * void call_long(void): long mode, the 64-bit part's entry at K64_BASE,
 * and back. AMD APM Vol.2 §14.6.1 "Activating Long Mode": CR4.PAE, CR3,
 * EFER.LME, then CR0.PG; then a far jump to a 64-bit code segment. Back
 * (§14.7 "Leaving Long Mode"): to compatibility mode by a far return,
 * CR0.PG off (which clears EFER.LMA), EFER.LME off.
 */
    .global call_long
call_long:
    pushal
    movl %esp, SH_ESP32
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl SH_CR3_LONG, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG, %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $1f
    .code64
1:  movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl SH_STACK64, %esp
    movl $K64_BASE, %eax
    call *%rax
    pushq $SEL_CODE32
    movl $2f, %eax /* a 32-bit ELF has no sign-extended 32-bit relocation */
    pushq %rax
    lretq
    .code32
2:  movl %cr0, %eax
    andl $~CR0_PG, %eax
    movl %eax, %cr0
    movl $MSR_EFER, %ecx
    rdmsr
    andl $~EFER_LME, %eax
    wrmsr
    movl %cr4, %eax
    andl $~CR4_PAE, %eax
    movl %eax, %cr4
    movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl SH_ESP32, %esp
    lidt idt32_desc
    popal
    ret

/*
 * void enter_user32(uint32_t eip, uint32_t esp, uint32_t eax, uint32_t ebp):
 * runs ring-3 code at eip (with eax, ebp set) until it executes INT
 * VEC_USER_RET, whose stub comes to user_return32 on the TSS's ring-0
 * stack; that stores EAX-EDX in out[0..3] and returns from enter_user32.
 */
    .global enter_user32
enter_user32:
    pushal
    movl %esp, user_ksp
    movl 36(%esp), %edi /* eip */
    movl 40(%esp), %esi /* esp */
    movl 44(%esp), %eax
    movl 48(%esp), %ebp
    movw $SEL_UDATA, %cx
    movw %cx, %ds
    movw %cx, %es
    pushl $SEL_UDATA
    pushl %esi
    pushl $0x2 /* RFLAGS: IF clear, IOPL 0 */
    pushl $SEL_UCODE32
    pushl %edi
    xorl %ecx, %ecx
    iret
user_return32:
    movl %eax, %ss:SH_OUT0
    movl %ebx, %ss:SH_OUT0 + 8
    movl %ecx, %ss:SH_OUT0 + 16
    movl %edx, %ss:SH_OUT0 + 24
    movw $SEL_DATA32, %ax
    movw %ax, %ds
    movw %ax, %es
    movl user_ksp, %esp
    popal
    ret

/* The ring-3 code of the ring3 checks: CPUID (leaf in EAX), RFLAGS.TF set
 * from EBP first (0 or TF). */
    .global user32_code, user32_insn, user32_next
user32_code:
    pushfl
    orl %ebp, (%esp)
    popfl
user32_insn:
    cpuid
user32_next:
    nop
    nop
    nop
    pushfl
    andl $~RFLAGS_TF, (%esp)
    popfl
    int $VEC_USER_RET

    .data
user_ksp:
    .long 0

/* The 16-bit and 64-bit parts, assembled and linked on their own. */
    .section .rodata
    .balign 16
    .global low16_image, low16_image_end
low16_image:
    .incbin LOW16_BIN
low16_image_end:

    .section .k64, "a"
    .incbin K64_BIN
