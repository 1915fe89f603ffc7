/* The instructions a continue from an int3 may run in the VMM (lib/stepover.h). */
#include "lib/stepover.h"

enum stepover_op stepover_classify(const struct insn *in, struct stepover *so)
{
    unsigned b = INSN_REX_B(in->rex) ? 8 : 0, r = INSN_REX_R(in->rex) ? 8 : 0;

    /* LOCK makes every one of them #UD; VEX/XOP/EVEX are other instructions. */
    if (in->mode != 64 || in->lock || in->vex)
        return STEPOVER_STEP;
    if (in->map == INSN_MAP_1BYTE) {
        /* 90 is XCHG eAX with REX.B (r8); F3 90 is PAUSE, a NOP for the VM. */
        if (in->opcode == 0x90 && !b)
            return STEPOVER_NOP;
        /* PUSH r64 (50+rd); with 66 it pushes 16 bits, left to the step. */
        if (in->opcode >= 0x50 && in->opcode <= 0x57 && !in->opsize_prefix) {
            so->src = (uint8_t)((in->opcode & 7) | b);
            so->size = 8;
            return STEPOVER_PUSH;
        }
        /* MOV r/m, r (88, 89) and MOV r, r/m (8A, 8B), register forms only. */
        if (in->opcode >= 0x88 && in->opcode <= 0x8b && in->has_modrm &&
            INSN_MODRM_MOD(in->modrm) == 3) {
            unsigned reg = INSN_MODRM_REG(in->modrm) | r, rm = INSN_MODRM_RM(in->modrm) | b;
            bool to_rm = in->opcode <= 0x89;
            so->dst = (uint8_t)(to_rm ? rm : reg);
            so->src = (uint8_t)(to_rm ? reg : rm);
            so->size = !(in->opcode & 1) ? 1 : INSN_REX_W(in->rex) ? 8 : in->opsize_prefix ? 2 : 4;
            return STEPOVER_MOV;
        }
        return STEPOVER_STEP;
    }
    if (in->map != INSN_MAP_0F || !in->has_modrm)
        return STEPOVER_STEP;
    /* 0F 1F /0: NOP r/m, which reads nothing (SDM Vol.2 "NOP"). */
    if (in->opcode == 0x1f && INSN_MODRM_REG(in->modrm) == 0 && !in->rep)
        return STEPOVER_NOP;
    /* F3 0F 1E FA / FB: ENDBR64 / ENDBR32. */
    if (in->opcode == 0x1e && in->rep == 0xf3 && (in->modrm == 0xfa || in->modrm == 0xfb))
        return STEPOVER_ENDBR;
    /* 0F 01 F8: SWAPGS. */
    if (in->opcode == 0x01 && in->modrm == 0xf8 && !in->rep && !in->opsize_prefix)
        return STEPOVER_SWAPGS;
    return STEPOVER_STEP;
}
