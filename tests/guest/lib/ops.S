/*
 * The instructions under test, one snippet per operation of ops.h.
 *
 * This file is assembled three times: OPS_BITS=16 (runs in real mode and in
 * 16-bit protected mode, from the 16-bit part at LOW16_BASE), 32 (32-bit
 * protected mode, PAE paging, and compatibility mode, from the 32-bit part)
 * and 64 (long mode, 4- and 5-level paging, from the 64-bit part). Every
 * address it uses is absolute and below 64 KiB or identity-mapped, so one
 * text serves every mode of a flavour.
 *
 * run_op runs the operation in the shared page (shared.h) and returns. A
 * snippet:
 *   1. computes its inputs from the shared page;
 *   2. arms the probe with the linear addresses of its instruction under
 *      test (label 1) and of the instruction after it (label 2);
 *   3. sets RFLAGS.TF when asked: POPF sets it, so the single-step trap is
 *      taken after the instruction that follows POPF, the one under test
 *      (Intel SDM Vol.3A §2.3, EFLAGS.TF; AMD APM Vol.2 §13.1.4);
 *   4. runs the instruction; a fault resumes at label 2 (the handler of
 *      the mode moves the saved instruction pointer there), a #DB returns
 *      where it was taken with TF cleared;
 *   5. lands on three NOPs, so that a single-step trap that comes one
 *      instruction late is seen late and not lost, and clears TF;
 *   6. disarms the probe, stores its outputs, restores what it changed.
 */
#include "ops.h"
#include "shared.h"

#if OPS_BITS == 64
    .code64
#define AX     %rax
#define BX     %rbx
#define CX     %rcx
#define SP     %rsp
#define DI     %rdi
#define SI     %rsi
#define PTR    .quad
#define PUSHF  pushfq
#define POPF   popfq
#define RUN_OP run_op64
#define REGS   rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15
#define NREGS  16
#define STOREW(n, r) movq r, SH_OUT0 + 8 * (n)
#define JMPTAB(tab) jmp *tab(, %rbx, 8)
#elif OPS_BITS == 32
    .code32
#define AX     %eax
#define BX     %ebx
#define CX     %ecx
#define SP     %esp
#define DI     %edi
#define SI     %esi
#define PTR    .long
#define PUSHF  pushfl
#define POPF   popfl
#define RUN_OP run_op32
#define REGS   eax, ecx, edx, ebx, esp, ebp, esi, edi
#define NREGS  8
#define STOREW(n, r) STORE32(n, r)
#define JMPTAB(tab) jmp *tab(, %ebx, 4)
#elif OPS_BITS == 16
    .code16
#define AX     %eax
#define BX     %bx
#define CX     %ecx
#define SP     %esp
#define DI     %di
#define SI     %si
#define PTR    .word
#define PUSHF  pushfl
#define POPF   popfl
#define RUN_OP run_op16
#define REGS   eax, ecx, edx, ebx, esp, ebp, esi, edi
#define NREGS  8
#define STOREW(n, r) STORE32(n, r)
#define JMPTAB(tab) shl $1, %bx; jmp *tab(%bx)
#else
#error "OPS_BITS must be 16, 32 or 64"
#endif

#define STORE32(n, r) movl r, SH_OUT0 + 8 * (n); movl $0, SH_OUT0 + 8 * (n) + 4
#define ARM                                                                                        \
    movl $1f, SH_P_INSN; movl $2f, SH_P_NEXT; movl $0, SH_P_NEV; movl $1, SH_P_ARMED
#define DISARM   movl $0, SH_P_ARMED
#define TF_MAYBE PUSHF; movl SH_TFOR, %ebp; orl %ebp, (SP); POPF
#define LANDING  nop; nop; nop; PUSHF; andl $0xfffffeff, (SP); POPF
/* AX holds the old value; make it (old | in1) & ~in2, or in1 with F_ABS. */
#define VALUE                                                                                      \
    testl $F_ABS, SH_OP_FLAGS; jz 5f; mov SH_IN1, AX; jmp 6f;                                    \
    5: or SH_IN1, AX; mov SH_IN2, CX; not CX; and CX, AX;                                        \
    6:

    .text
    .global RUN_OP
/* void run_op(void): runs the operation in the shared page. */
RUN_OP:
#if OPS_BITS == 64
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movl $0, SH_OP_BAD
    movl SH_OP_CODE, %ebx
    cmpl $((optab_end - optab) / 8), %ebx
    jae 1f
    call *optab(, %rbx, 8)
    jmp 2f
1:  movl $1, SH_OP_BAD
2:  pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
#elif OPS_BITS == 32
    pushal
    movl $0, SH_OP_BAD
    movl SH_OP_CODE, %ebx
    cmpl $((optab_end - optab) / 4), %ebx
    jae 1f
    call *optab(, %ebx, 4)
    jmp 2f
1:  movl $1, SH_OP_BAD
2:  popal
    ret
#else
    pushal
    movl $0, SH_OP_BAD
    movl SH_OP_CODE, %ebx
    cmpl $((optab_end - optab) / 2), %ebx
    jae 1f
    shl $1, %bx
    call *optab(%bx)
    jmp 2f
1:  movl $1, SH_OP_BAD
2:  popal
    ret
#endif

op_bad:
    movl $1, SH_OP_BAD
    ret

op_nop:
    ARM
    TF_MAYBE
1:  nop
2:  LANDING
    DISARM
    ret

op_ud2:
    ARM
    TF_MAYBE
1:  ud2
2:  LANDING
    DISARM
    ret

op_cpuid:
    movl SH_IN0, %eax
    movl SH_IN1, %ecx
    ARM
    TF_MAYBE
1:  cpuid
2:  LANDING
    DISARM
    STORE32(0, %eax)
    STORE32(1, %ebx)
    STORE32(2, %ecx)
    STORE32(3, %edx)
    ret

/* MOV CRn, reg (0F 22 /r), through the accumulator. */
.macro DEF_WRCR n
op_wrcr\n:
    mov %cr\n, AX
    mov AX, SH_SAVE0
    STOREW(1, AX)
    VALUE
    ARM
    TF_MAYBE
1:  mov AX, %cr\n
2:  LANDING
    DISARM
    mov %cr\n, AX
    STOREW(0, AX)
    testl $F_KEEP, SH_OP_FLAGS
    jnz 3f
    mov SH_SAVE0, AX
    mov AX, %cr\n
3:  ret
.endm
    DEF_WRCR 0
    DEF_WRCR 3
    DEF_WRCR 4

op_wrmsr:
    movl SH_IN0, %ecx
    rdmsr
    movl %eax, SH_SAVE0
    movl %edx, SH_SAVE0 + 4
    movl %eax, SH_OUT0 + 8
    movl %edx, SH_OUT0 + 12
    testl $F_ABS, SH_OP_FLAGS
    jz 5f
    movl SH_IN1, %eax
    movl SH_IN1 + 4, %edx
    jmp 6f
5:  orl SH_IN1, %eax
    orl SH_IN1 + 4, %edx
    movl SH_IN2, %ebx
    notl %ebx
    andl %ebx, %eax
    movl SH_IN2 + 4, %ebx
    notl %ebx
    andl %ebx, %edx
6:  ARM
    TF_MAYBE
1:  wrmsr
2:  LANDING
    DISARM
    rdmsr
    movl %eax, SH_OUT0
    movl %edx, SH_OUT0 + 4
    testl $F_KEEP, SH_OP_FLAGS
    jnz 3f
    movl SH_SAVE0, %eax
    movl SH_SAVE0 + 4, %edx
    wrmsr
3:  ret

op_rdmsr:
    movl SH_IN0, %ecx
    xorl %eax, %eax
    xorl %edx, %edx
    ARM
    TF_MAYBE
1:  rdmsr
2:  LANDING
    DISARM
    movl %eax, SH_OUT0
    movl %edx, SH_OUT0 + 4
    ret

/* LMSW (0F 01 /6): register and memory forms. base: a register set to
 * SH_MEM first, for the forms that address through it. */
.macro DEF_LMSW name, operand, base
op_\name:
    mov %cr0, AX
    mov AX, SH_SAVE0
    STOREW(1, AX)
    VALUE
    movw %ax, SH_MEM
#if OPS_BITS == 64
    movw %ax, lmsw_word(%rip) /* the RIP-relative form's operand */
#endif
.ifnb \base
    mov $SH_MEM, \base
.endif
    ARM
    TF_MAYBE
1:  lmsw \operand
2:  LANDING
    DISARM
    mov %cr0, AX
    STOREW(0, AX)
    testl $F_KEEP, SH_OP_FLAGS
    jnz 3f
    mov SH_SAVE0, AX
    mov AX, %cr0
3:  ret
.endm
    DEF_LMSW lmsw_r, %ax
    DEF_LMSW lmsw_m, SH_MEM
    DEF_LMSW lmsw_mb, (BX), BX
#if OPS_BITS == 64
    DEF_LMSW lmsw_mr8, (%r8), %r8
    DEF_LMSW lmsw_mrip, lmsw_word(%rip)
#else
    .set op_lmsw_mr8, op_bad
    .set op_lmsw_mrip, op_bad
#endif

/* SMSW (0F 01 /4): the destination preset from in1. */
.macro DEF_SMSW name, dest, preset, base
op_\name:
    mov SH_IN1, AX
    mov AX, \preset
#if OPS_BITS != 64
    movl $0, SH_MEM + 4
#endif
.ifnb \base
    mov $SH_MEM, \base
.endif
    ARM
    TF_MAYBE
1:  smsw \dest
2:  LANDING
    DISARM
    mov \preset, AX
    STOREW(0, AX)
    ret
.endm
    DEF_SMSW smsw_r16, %ax, AX
    DEF_SMSW smsw_r32, %eax, AX
#if OPS_BITS == 64
    DEF_SMSW smsw_r64, %rax, AX
#else
    .set op_smsw_r64, op_bad
#endif
    DEF_SMSW smsw_m, SH_MEM, SH_MEM
    DEF_SMSW smsw_mb, (BX), SH_MEM, BX

op_clts:
    mov %cr0, AX
    mov AX, SH_SAVE0
    STOREW(1, AX)
    or $8, AX /* CR0.TS */
    mov AX, %cr0
    ARM
    TF_MAYBE
1:  clts
2:  LANDING
    DISARM
    mov %cr0, AX
    STOREW(0, AX)
    mov SH_SAVE0, AX
    mov AX, %cr0
    ret

.macro DEF_IN name, insn
op_\name:
    movl SH_IN0, %edx
    mov SH_IN1, AX
    ARM
    TF_MAYBE
1:  \insn
2:  LANDING
    DISARM
    STOREW(0, AX)
    ret
.endm
    DEF_IN in8, "inb %dx, %al"
    DEF_IN in16, "inw %dx, %ax"
    DEF_IN in32, "inl %dx, %eax"

.macro DEF_OUT name, insn
op_\name:
    movl SH_IN0, %edx
    movl SH_IN1, %eax
    ARM
    TF_MAYBE
1:  \insn
2:  LANDING
    DISARM
    ret
.endm
    DEF_OUT out8, "outb %al, %dx"
    DEF_OUT out16, "outw %ax, %dx"
    DEF_OUT out32, "outl %eax, %dx"

op_ins8:
    movl SH_IN0, %edx
    movl SH_IN1, %eax
    movl %eax, SH_MEM
    movl $0, SH_MEM + 4
    mov $SH_MEM, DI
    cld
    ARM
    TF_MAYBE
1:  insb
2:  LANDING
    DISARM
    movl SH_MEM, %eax
    STORE32(0, %eax)
#if OPS_BITS == 16
    movzwl %di, %edi
    STORE32(1, %edi)
#else
    STOREW(1, DI)
#endif
    ret

op_outs8:
    movl SH_IN0, %edx
    movl SH_IN1, %eax
    movl %eax, SH_MEM
    mov $SH_MEM, SI
    cld
    ARM
    TF_MAYBE
1:  outsb
2:  LANDING
    DISARM
#if OPS_BITS == 16
    movzwl %si, %esi
    STORE32(1, %esi)
#else
    STOREW(1, SI)
#endif
    ret

op_int_own:
    mov SH_IN1, AX
    ARM
    TF_MAYBE
1:  int $VEC_OWN
2:  LANDING
    DISARM
    STOREW(0, AX)
    ret

#if OPS_BITS == 16
/* INT 15h in real mode, ES:DI = SCRATCH (ES = 0). */
op_int15:
    movl SH_IN0, %eax
    movl SH_IN1, %ebx
    movl SH_IN2, %ecx
    movl SH_IN3, %edx
    movl $SCRATCH, %edi
    ARM
    TF_MAYBE
1:  int $0x15
2:  LANDING
    DISARM
    pushfl
    popl %ebp
    STORE32(4, %ebp)
    STORE32(0, %eax)
    STORE32(1, %ebx)
    STORE32(2, %ecx)
    STORE32(3, %edx)
    ret
    .set op_hlt, op_bad
    .set op_pfread, op_bad
#else
    .set op_int15, op_bad

/* STI; HLT with an interrupt already pending: STI's shadow covers HLT, the
 * interrupt wakes it and is taken with the address after HLT. */
op_hlt:
    ARM
    sti
1:  hlt
2:  LANDING
    cli
    DISARM
    ret

op_pfread:
    mov SH_IN0, AX
    xorl %ebx, %ebx
    ARM
    TF_MAYBE
1:  movl (AX), %ebx
2:  LANDING
    DISARM
    STORE32(0, %ebx)
    ret
#endif

/* 0F 01 D8-DF: VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA,
 * with rAX = 0 and ECX = 0. */
op_svm:
    movl SH_IN0, %ebx
    andl $7, %ebx
    JMPTAB(svm_tab)
.irp b, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf
svm_\b:
    xor %eax, %eax
    xor %ecx, %ecx
    ARM
    TF_MAYBE
1:  .byte 0x0f, 0x01, \b
2:  LANDING
    DISARM
    ret
.endr

/* VMCALL VMLAUNCH VMRESUME VMXOFF (0F 01 C1-C4), VMREAD ECX, EAX and
 * VMWRITE EAX, ECX (0F 78/79 C1): outside VMX operation, or with CR4.VMXE
 * clear, every one is #UD (SDM Vol.3C ch.31, each instruction's
 * exceptions). (VMFUNC is left out: Bochs 2.7 runs it outside VMX.) */
op_vmx:
    movl SH_IN0, %ebx
    andl $7, %ebx
    JMPTAB(vmx_tab)
.irp n, 0, 1, 2, 3, 4, 5
vmx_\n:
    xor %eax, %eax
    xor %ecx, %ecx
    ARM
    TF_MAYBE
.if \n < 4
1:  .byte 0x0f, 0x01, 0xc1 + \n
.else
1:  .byte 0x0f, 0x78 + \n - 4, 0xc1
.endif
2:  LANDING
    DISARM
    ret
.endr

/* MOV CRn, reg and MOV reg, CRn through every general register: write the
 * old value with one harmless bit flipped (CR0.TS, CR3.PWT, CR4.TSD), read
 * it back through the same register, restore. The stack pointer is one of
 * them, so nothing here may use the stack between the two moves. */
.macro DEF_MOVCR cr, bit, reg
movcr_\cr\()_\reg:
    movl $0, SH_OUT0 + 4
    mov %cr\cr, AX
    mov AX, SH_SAVE0
    xor $\bit, AX
    mov AX, SH_SAVE1
    STOREW(1, AX)
    mov SP, SH_SPSAVE
    ARM
    mov SH_SAVE1, %\reg
1:  mov %\reg, %cr\cr
2:  mov %cr\cr, %\reg
    mov %\reg, SH_OUT0
    mov SH_SPSAVE, SP
    DISARM
    mov SH_SAVE0, AX
    mov AX, %cr\cr
    ret
.endm
.irp reg, REGS
    DEF_MOVCR 0, 8, \reg
    DEF_MOVCR 3, 8, \reg
    DEF_MOVCR 4, 4, \reg
.endr

op_movcr:
    movl SH_IN0, %ebx
    shll $4, %ebx
    addl SH_IN1, %ebx
    cmpl $48, %ebx
    jae op_bad
    JMPTAB(movcr_tab)

op_gpsel:
    movw %fs, %bx
    movl $SEL_BAD, %eax
    ARM
    TF_MAYBE
1:  movw %ax, %fs
2:  LANDING
    DISARM
    movw %bx, %fs
    ret

#if OPS_BITS == 64
/* A read with the stack pointer in a not-present page: the #PF cannot be
 * delivered (its frame faults too), which is a #DF (APM Vol.2 §8.2.9,
 * Table 8-7): the #DF handler has its own stack (IST). */
op_pfstack:
    mov SH_IN0, %rax
    mov %rsp, SH_SPSAVE
    mov SH_IN1, %rsp
    ARM
1:  movl (%rax), %ebx
2:  mov SH_SPSAVE, %rsp
    DISARM
    ret

/* A #GP with the stack pointer in a not-present page. */
op_gpstack:
    movw %fs, %bx
    movl $SEL_BAD, %eax
    mov %rsp, SH_SPSAVE
    mov SH_IN1, %rsp
    ARM
1:  movw %ax, %fs
2:  mov SH_SPSAVE, %rsp
    DISARM
    movw %bx, %fs
    ret
#else
    .set op_pfstack, op_bad
    .set op_gpstack, op_bad
#endif

#if OPS_BITS == 64
    .data
lmsw_word:
    .word 0
#endif

    .section .rodata
    .balign 8
#define OPTAB(name) PTR op_##name;
optab:
    OPS_LIST(OPTAB)
optab_end:

svm_tab:
.irp b, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf
    PTR svm_\b
.endr

vmx_tab:
.irp n, 0, 1, 2, 3, 4, 5, 5, 5
    PTR vmx_\n
.endr

movcr_tab:
.irp cr, 0, 3, 4
.irp reg, REGS
    PTR movcr_\cr\()_\reg
.endr
.rept 16 - NREGS
    PTR op_bad
.endr
.endr
