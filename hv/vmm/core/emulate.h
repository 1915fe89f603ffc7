/*
 * The VM's current instruction, as the few instructions the VMM emulates
 * need it: fetched and decoded at CS:rip (QEMU's TCG has no decode assists
 * and no NRIP save), its register operands, and its memory operand read or
 * written as the CPU would: segmentation, paging and its access rights,
 * with the architectural fault queued (vcpu_fault) when the access is not
 * allowed.
 */
#ifndef VMM_CORE_EMULATE_H
#define VMM_CORE_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/insn.h"
#include "vmm/core/vm.h"

/* Reads the bytes at CS:rip, up to INSN_MAX_LEN or the first page that is
 * not mapped. Returns how many (0: rip itself is not mapped). */
size_t emu_fetch(struct vcpu *v, uint8_t bytes[INSN_MAX_LEN]);

/* Decodes the instruction at CS:rip. Returns 0, or -1 if it cannot be
 * fetched or decoded (silent: the caller decides what that means). */
int emu_decode(struct vcpu *v, struct insn *in);

/* Register operand n (ModRM numbering, REX applied by the caller) of
 * `size` bytes; with no REX prefix, byte registers 4-7 are AH, CH, DH, BH. */
uint64_t emu_get_reg(struct vcpu *v, const struct insn *in, unsigned n, unsigned size);
/* Writes it as a MOV would: a 32-bit write zero-extends to 64 bits, 8- and
 * 16-bit writes merge. */
void emu_set_reg(struct vcpu *v, const struct insn *in, unsigned n, unsigned size, uint64_t val);
/* The register numbers in ModRM.reg and ModRM.rm, with REX.R / REX.B. */
unsigned emu_modrm_reg(const struct insn *in);
unsigned emu_modrm_rm(const struct insn *in);

/* The segment an override prefix names, else dflt. */
enum seg emu_segment(const struct insn *in, enum seg dflt);
/* The linear address of the instruction's ModRM memory operand of `size`
 * bytes (SDM Vol.2 §2.1.5, §2.2.1.6 RIP-relative). Segment limits are
 * checked outside 64-bit mode. Returns 0, or -1 with #GP/#SS queued. */
int emu_operand_la(struct vcpu *v, const struct insn *in, unsigned size, uint64_t *la);
/* Reads / writes `size` bytes at linear address la with the VM's paging
 * and the access rights of its CPL (APM Vol.2 §5.6). Returns 0, or -1
 * with #PF queued. The VMM's range reads as all ones and drops writes. */
int emu_read(struct vcpu *v, uint64_t la, void *buf, unsigned size);
int emu_write(struct vcpu *v, uint64_t la, const void *buf, unsigned size);

#endif
