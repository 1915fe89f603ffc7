/*
 * The operations the snippets of ops.S run: one instruction under test
 * each. One list, expanded into the C enum and into the snippet table of
 * every flavour of ops.S (16-, 32- and 64-bit code). An operation a flavour
 * cannot run (a 64-bit register in 32-bit code, INT 15h outside real mode)
 * maps to a snippet that sets SH_OP_BAD.
 *
 * Inputs and outputs (struct shared in[], out[]):
 *   nop, ud2                               -
 *   cpuid       in0 leaf, in1 subleaf      out0-3 eax, ebx, ecx, edx
 *   wrcr0/3/4   value (see F_ABS)          out0 the CR read back, out1 its old value
 *   wrmsr       in0 msr, value (F_ABS)     out0 the MSR read back, out1 its old value
 *   rdmsr       in0 msr                    out0 edx:eax
 *   lmsw_*      value (F_ABS), low 16 bits out0 CR0 after, out1 CR0 before
 *   smsw_*      in1 preset of the destination   out0 the destination after
 *   clts        -                          out0 CR0 after (TS was set before)
 *   in8/16/32   in0 port, in1 preset of eax     out0 eax
 *   out8/16/32  in0 port, in1 value
 *   ins8, outs8 in0 port, in1 memory byte  out0 the memory dword, out1 (e/r)di or si after
 *   int_own     in1 eax                    out0 eax (INT VEC_OWN)
 *   int15       in0-3 eax, ebx, ecx, edx; es:di = SCRATCH
 *                                          out0-3 eax, ebx, ecx, edx, out4 flags
 *   hlt         -                          (STI; HLT; the interrupt records the event)
 *   svm         in0 index 0-7: VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA
 *   vmx         in0 index 0-5: VMCALL VMLAUNCH VMRESUME VMXOFF VMREAD VMWRITE
 *               (register forms)
 *   movcr       in0 0/1/2 = CR0/CR3/CR4, in1 GPR number (x86 encoding; 8-15 in 64-bit)
 *                                          out0 the CR read back through the same GPR,
 *                                          out1 the value written (old ^ a harmless bit)
 *   gpsel       -                          loads SEL_BAD into FS: a #GP(selector)
 *   pfread      in0 address                out0 the dword read
 *   pfstack     in0 address, in1 stack     (64-bit) a read with the stack pointer on
 *   gpstack     in1 stack                  a not-present page; a #GP with it
 *
 * A value is (old | in1) & ~in2, or in1 with F_ABS. After the probe the
 * register is restored to its old value unless F_KEEP.
 */
#ifndef TK_OPS_H
#define TK_OPS_H

#define OPS_LIST(X)                                                                                \
    X(nop)                                                                                         \
    X(ud2)                                                                                         \
    X(cpuid)                                                                                       \
    X(wrcr0)                                                                                       \
    X(wrcr3)                                                                                       \
    X(wrcr4)                                                                                       \
    X(wrmsr)                                                                                       \
    X(rdmsr)                                                                                       \
    X(lmsw_r)                                                                                      \
    X(lmsw_m)                                                                                      \
    X(lmsw_mb)                                                                                     \
    X(lmsw_mr8)                                                                                    \
    X(lmsw_mrip)                                                                                   \
    X(smsw_r16)                                                                                    \
    X(smsw_r32)                                                                                    \
    X(smsw_r64)                                                                                    \
    X(smsw_m)                                                                                      \
    X(smsw_mb)                                                                                     \
    X(clts)                                                                                        \
    X(in8)                                                                                         \
    X(in16)                                                                                        \
    X(in32)                                                                                        \
    X(out8)                                                                                        \
    X(out16)                                                                                       \
    X(out32)                                                                                       \
    X(ins8)                                                                                        \
    X(outs8)                                                                                       \
    X(int_own)                                                                                     \
    X(int15)                                                                                       \
    X(hlt)                                                                                         \
    X(svm)                                                                                         \
    X(vmx)                                                                                         \
    X(movcr)                                                                                       \
    X(gpsel)                                                                                       \
    X(pfread)                                                                                      \
    X(pfstack)                                                                                     \
    X(gpstack)

#define F_TF   0x01 /* RFLAGS.TF set just before the instruction under test */
#define F_ABS  0x02 /* the value is in1 (else (old | in1) & ~in2) */
#define F_KEEP 0x04 /* leave the new value in place */

#ifndef __ASSEMBLER__
#define OP_ENUM(name) OP_##name,
enum op { OPS_LIST(OP_ENUM) OP_COUNT };
#undef OP_ENUM
#endif

#endif
