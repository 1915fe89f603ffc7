/*
 * ELF64 definitions and a minimal loader for the kernels.
 *
 * Our own names (elf64_* / ELF_*) so that host tests never clash with the
 * system <elf.h>. Layouts from the System V ABI "ELF-64 Object File Format"
 * v1.5 and the x86-64 psABI §4.4 (relocation types).
 */
#ifndef LIB_ELF_H
#define LIB_ELF_H

#include <stdint.h>

#define ELF_EI_NIDENT  16
#define ELF_EI_MAG0    0
#define ELF_EI_CLASS   4
#define ELF_EI_DATA    5
#define ELF_EI_VERSION 6
#define ELF_MAG0       0x7f
#define ELF_MAG1       'E'
#define ELF_MAG2       'L'
#define ELF_MAG3       'F'
#define ELF_CLASS64    2
#define ELF_DATA2LSB   1
#define ELF_EV_CURRENT 1

#define ELF_ET_EXEC   2
#define ELF_ET_DYN    3
#define ELF_EM_X86_64 62

#define ELF_PT_NULL      0
#define ELF_PT_LOAD      1
#define ELF_PT_DYNAMIC   2
#define ELF_PT_INTERP    3
#define ELF_PT_NOTE      4
#define ELF_PT_PHDR      6
#define ELF_PT_GNU_STACK 0x6474e551
#define ELF_PT_GNU_RELRO 0x6474e552

#define ELF_PF_X 1
#define ELF_PF_W 2
#define ELF_PF_R 4

#define ELF_DT_NULL      0
#define ELF_DT_RELA      7
#define ELF_DT_RELASZ    8
#define ELF_DT_RELAENT   9
#define ELF_DT_REL       17
#define ELF_DT_TEXTREL   22
#define ELF_DT_FLAGS     30
#define ELF_DT_RELACOUNT 0x6ffffff9

#define ELF_R_X86_64_NONE     0
#define ELF_R_X86_64_64       1
#define ELF_R_X86_64_RELATIVE 8

#define ELF64_R_SYM(i)     ((uint32_t)((i) >> 32))
#define ELF64_R_TYPE(i)    ((uint32_t)((i)&0xffffffffU))
#define ELF64_R_INFO(s, t) (((uint64_t)(s) << 32) + (uint32_t)(t))

/* Error codes of elf64_check */
#define ELF_ERR_SIZE    (-1) /* image smaller than a header */
#define ELF_ERR_MAGIC   (-2)
#define ELF_ERR_CLASS   (-3) /* not ELF64 little-endian version 1 */
#define ELF_ERR_TYPE    (-4) /* not ET_EXEC / ET_DYN */
#define ELF_ERR_MACHINE (-5) /* not x86-64 */
#define ELF_ERR_PHDR    (-6) /* program headers outside the image */

struct elf64_ehdr {
    uint8_t e_ident[ELF_EI_NIDENT];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint64_t e_entry;
    uint64_t e_phoff;
    uint64_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "Elf64_Ehdr is 64 bytes");

struct elf64_phdr {
    uint32_t p_type;
    uint32_t p_flags;
    uint64_t p_offset;
    uint64_t p_vaddr;
    uint64_t p_paddr;
    uint64_t p_filesz;
    uint64_t p_memsz;
    uint64_t p_align;
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "Elf64_Phdr is 56 bytes");

struct elf64_dyn {
    int64_t d_tag;
    uint64_t d_val; /* d_un: d_val or d_ptr */
};
_Static_assert(sizeof(struct elf64_dyn) == 16, "Elf64_Dyn is 16 bytes");

struct elf64_rela {
    uint64_t r_offset;
    uint64_t r_info;
    int64_t r_addend;
};
_Static_assert(sizeof(struct elf64_rela) == 24, "Elf64_Rela is 24 bytes");

/* Checks that img (size bytes) is an ELF64 little-endian x86-64 ET_EXEC or
 * ET_DYN with its program headers inside the image. Returns 0 or one of
 * the negative ELF_ERR_* codes. */
int elf64_check(const void *img, uint64_t size);
/* Sets *lo / *hi to the lowest p_vaddr and highest p_vaddr + p_memsz over
 * the PT_LOAD segments, rounded down / up to 4 KiB. Returns 0, or -1 if
 * there is no PT_LOAD segment. img must have passed elf64_check. */
int elf64_load_span(const void *img, uint64_t *lo, uint64_t *hi);
/* Copies every PT_LOAD segment to dest + (p_vaddr - bias) and zeroes its
 * bss part (p_memsz > p_filesz). Returns 0, or -1 if a segment lies
 * outside dest_size, below bias, or its file part outside the image
 * (segments before it are already copied). */
int elf64_load(const void *img, uint64_t size, uint8_t *dest, uint64_t dest_size, uint64_t bias);
/* Applies the relocations of a PIE linked at 0 and loaded at base, given
 * its dynamic section (already at its loaded place). Only
 * R_X86_64_RELATIVE (*(u64 *)(base + r_offset) = base + r_addend) and
 * R_X86_64_NONE are accepted. Returns 0, or -1 at the first other type
 * (nothing after it applied) or a DT_RELAENT other than 24. Needs no
 * relocation itself: it uses no global data holding addresses. */
int elf64_apply_relative(uint64_t base, const struct elf64_dyn *dyn);

#endif /* LIB_ELF_H */
