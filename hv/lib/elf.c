/*
 * ELF64 checks, loading and self-relocation (see lib/elf.h).
 *
 * elf64_apply_relative() runs in the VMM before its own relocations are
 * applied, so this file holds no initialized pointers and no tables.
 */
#include "lib/elf.h"
#include "lib/mem.h"
#include <stdbool.h>
#include <stddef.h>

#define ELF_PAGE_MASK 0xfffULL

static const struct elf64_phdr *elf64_phdrs(const void *img)
{
    const struct elf64_ehdr *eh = img;

    return (const struct elf64_phdr *)((const uint8_t *)img + eh->e_phoff);
}

/* Returns 0 if img is an x86-64 ELF64 executable / PIE we can load, or a
 * negative ELF_ERR_* code. */
int elf64_check(const void *img, uint64_t size)
{
    const struct elf64_ehdr *eh = img;
    uint64_t phsz;

    if (size < sizeof(*eh))
        return ELF_ERR_SIZE;
    if (eh->e_ident[ELF_EI_MAG0] != ELF_MAG0 || eh->e_ident[1] != ELF_MAG1 ||
        eh->e_ident[2] != ELF_MAG2 || eh->e_ident[3] != ELF_MAG3)
        return ELF_ERR_MAGIC;
    if (eh->e_ident[ELF_EI_CLASS] != ELF_CLASS64 || eh->e_ident[ELF_EI_DATA] != ELF_DATA2LSB ||
        eh->e_ident[ELF_EI_VERSION] != ELF_EV_CURRENT)
        return ELF_ERR_CLASS;
    if (eh->e_type != ELF_ET_EXEC && eh->e_type != ELF_ET_DYN)
        return ELF_ERR_TYPE;
    if (eh->e_machine != ELF_EM_X86_64)
        return ELF_ERR_MACHINE;
    if (eh->e_phnum == 0 || eh->e_phentsize != sizeof(struct elf64_phdr))
        return ELF_ERR_PHDR;
    if (eh->e_phoff & 7)
        return ELF_ERR_PHDR; /* we read them in place */
    phsz = (uint64_t)eh->e_phnum * sizeof(struct elf64_phdr);
    if (eh->e_phoff > size || phsz > size - eh->e_phoff)
        return ELF_ERR_PHDR;
    return 0;
}

/* Returns 0 with the page-rounded span of the PT_LOAD segments, -1 if
 * there are none (or one wraps the address space). */
int elf64_load_span(const void *img, uint64_t *lo, uint64_t *hi)
{
    const struct elf64_ehdr *eh = img;
    const struct elf64_phdr *ph = elf64_phdrs(img);
    uint64_t l = UINT64_MAX, h = 0;
    bool found = false;

    for (unsigned i = 0; i < eh->e_phnum; i++) {
        uint64_t end;

        if (ph[i].p_type != ELF_PT_LOAD)
            continue;
        end = ph[i].p_vaddr + ph[i].p_memsz;
        if (end < ph[i].p_vaddr || end > UINT64_MAX - ELF_PAGE_MASK)
            return -1;
        found = true;
        if (ph[i].p_vaddr < l)
            l = ph[i].p_vaddr;
        if (end > h)
            h = end;
    }
    if (!found)
        return -1;
    *lo = l & ~ELF_PAGE_MASK;
    *hi = (h + ELF_PAGE_MASK) & ~ELF_PAGE_MASK;
    return 0;
}

/* Returns 0 once every PT_LOAD segment is at dest + (p_vaddr - bias) with
 * its bss zeroed; -1 if one does not fit. */
int elf64_load(const void *img, uint64_t size, uint8_t *dest, uint64_t dest_size, uint64_t bias)
{
    const struct elf64_ehdr *eh = img;
    const struct elf64_phdr *ph = elf64_phdrs(img);

    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const struct elf64_phdr *p = &ph[i];
        uint64_t off;

        if (p->p_type != ELF_PT_LOAD)
            continue;
        if (p->p_vaddr < bias || p->p_filesz > p->p_memsz)
            return -1;
        off = p->p_vaddr - bias;
        if (off > dest_size || p->p_memsz > dest_size - off)
            return -1;
        if (p->p_offset > size || p->p_filesz > size - p->p_offset)
            return -1;
        lib_memcpy(dest + off, (const uint8_t *)img + p->p_offset, p->p_filesz);
        lib_memset(dest + off + p->p_filesz, 0, p->p_memsz - p->p_filesz);
    }
    return 0;
}

/* Returns 0 once all R_X86_64_RELATIVE relocations are applied, -1 at the
 * first unsupported one (x86-64 psABI §4.4.1: RELATIVE is B + A). */
int elf64_apply_relative(uint64_t base, const struct elf64_dyn *dyn)
{
    uint64_t rela = 0, relasz = 0, relaent = sizeof(struct elf64_rela);

    for (; dyn->d_tag != ELF_DT_NULL; dyn++) {
        if (dyn->d_tag == ELF_DT_RELA)
            rela = dyn->d_val;
        else if (dyn->d_tag == ELF_DT_RELASZ)
            relasz = dyn->d_val;
        else if (dyn->d_tag == ELF_DT_RELAENT)
            relaent = dyn->d_val;
    }
    if (!rela || !relasz)
        return 0;
    if (relaent != sizeof(struct elf64_rela))
        return -1;

    for (uint64_t i = 0; i < relasz / relaent; i++) {
        const struct elf64_rela *r = (const struct elf64_rela *)(uintptr_t)(base + rela) + i;
        uint32_t type = ELF64_R_TYPE(r->r_info);

        if (type == ELF_R_X86_64_NONE)
            continue;
        if (type != ELF_R_X86_64_RELATIVE)
            return -1;
        *(uint64_t *)(uintptr_t)(base + r->r_offset) = base + (uint64_t)r->r_addend;
    }
    return 0;
}
