/* Unit tests for lib/elf.c: an ELF64 PIE image built in memory. */
#include "check.h"
#include "lib/elf.h"
#include <stdlib.h>
#include <string.h>

/*
 * File layout (IMG_SIZE bytes):
 *   0x000 ehdr, 0x040 phdrs (3)
 *   0x100 text: 0x100 bytes of 0xcc, RELA table at 0x180 (vaddr 0x180)
 *   0x200 data: dynamic section (0x50), 0x5a filler, pointer slots at
 *         0x260 (4 x u64, 0); loaded at vaddr 0x2000, filesz 0x100,
 *         memsz 0x1000 (bss after 0x100)
 * Loaded span: [0, 0x3000).
 */
#define IMG_SIZE 0x300
#define DATA_VA  0x2000
#define RELA_VA  0x180
#define NRELA    4

static uint8_t img[IMG_SIZE] __attribute__((aligned(8)));

static struct elf64_ehdr *ehdr(void) { return (struct elf64_ehdr *)img; }

static struct elf64_phdr *phdr(int i) { return (struct elf64_phdr *)(img + 0x40) + i; }

static void build_image(uint32_t bad_type_at)
{
    struct elf64_ehdr *eh = ehdr();
    struct elf64_dyn *dyn = (struct elf64_dyn *)(img + 0x200);
    struct elf64_rela *rela = (struct elf64_rela *)(img + 0x180);

    memset(img, 0, sizeof(img));
    memcpy(eh->e_ident,
           "\x7f"
           "ELF",
           4);
    eh->e_ident[ELF_EI_CLASS] = ELF_CLASS64;
    eh->e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    eh->e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    eh->e_type = ELF_ET_DYN;
    eh->e_machine = ELF_EM_X86_64;
    eh->e_version = 1;
    eh->e_entry = 0x100;
    eh->e_phoff = 0x40;
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(struct elf64_phdr);
    eh->e_phnum = 3;

    *phdr(0) = (struct elf64_phdr){ELF_PT_LOAD, ELF_PF_R | ELF_PF_X, 0, 0, 0, 0x200, 0x200, 0x1000};
    *phdr(1) = (struct elf64_phdr){
        ELF_PT_LOAD, ELF_PF_R | ELF_PF_W, 0x200, DATA_VA, DATA_VA, 0x100, 0x1000, 0x1000};
    *phdr(2) = (struct elf64_phdr){
        ELF_PT_DYNAMIC, ELF_PF_R | ELF_PF_W, 0x200, DATA_VA, DATA_VA, 0x50, 0x50, 8};

    memset(img + 0x100, 0xcc, 0x80);
    memset(img + 0x250, 0x5a, 0x10); /* pointer slots 0x260-0x27f stay 0 */
    memset(img + 0x280, 0x5a, 0x80);

    dyn[0] = (struct elf64_dyn){ELF_DT_RELA, RELA_VA};
    dyn[1] = (struct elf64_dyn){ELF_DT_RELASZ, NRELA * sizeof(*rela)};
    dyn[2] = (struct elf64_dyn){ELF_DT_RELAENT, sizeof(*rela)};
    dyn[3] = (struct elf64_dyn){ELF_DT_RELACOUNT, NRELA};
    dyn[4] = (struct elf64_dyn){ELF_DT_NULL, 0};

    /* pointers stored in the data segment, after the dynamic section */
    for (uint32_t i = 0; i < NRELA; i++) {
        uint32_t type = i == 2 ? ELF_R_X86_64_NONE : ELF_R_X86_64_RELATIVE;

        if (i == bad_type_at)
            type = ELF_R_X86_64_64;
        rela[i] =
            (struct elf64_rela){DATA_VA + 0x60 + i * 8, ELF64_R_INFO(0, type), 0x100 + i * 0x10};
    }
}

static void test_check(void)
{
    static const struct {
        const char *name;
        size_t off;
        uint64_t val;
        unsigned width;
        uint64_t size;
        int want;
    } rows[] = {
        {"valid PIE", 0, 0, 0, IMG_SIZE, 0},
        {"ET_EXEC ok", 16, ELF_ET_EXEC, 2, IMG_SIZE, 0},
        {"too small", 0, 0, 0, 63, ELF_ERR_SIZE},
        {"bad magic", 1, 'e', 1, IMG_SIZE, ELF_ERR_MAGIC},
        {"ELF32", ELF_EI_CLASS, 1, 1, IMG_SIZE, ELF_ERR_CLASS},
        {"big endian", ELF_EI_DATA, 2, 1, IMG_SIZE, ELF_ERR_CLASS},
        {"ET_REL", 16, 1, 2, IMG_SIZE, ELF_ERR_TYPE},
        {"i386", 18, 3, 2, IMG_SIZE, ELF_ERR_MACHINE},
        {"phdrs past the end", 32, IMG_SIZE - 0x40, 8, IMG_SIZE, ELF_ERR_PHDR},
        {"phoff huge", 32, ~0ULL - 8, 8, IMG_SIZE, ELF_ERR_PHDR},
        {"image cut in phdrs", 0, 0, 0, 0x40 + 2 * 56, ELF_ERR_PHDR},
        {"phentsize", 54, 32, 2, IMG_SIZE, ELF_ERR_PHDR},
        {"no phdrs", 56, 0, 2, IMG_SIZE, ELF_ERR_PHDR},
    };

    for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
        int ret;

        build_image(~0U);
        memcpy(img + rows[r].off, &rows[r].val, rows[r].width);
        ret = elf64_check(img, rows[r].size);
        CHECK(ret == rows[r].want, "check '%s': %d want %d", rows[r].name, ret, rows[r].want);
    }
}

static void test_load_and_relocate(void)
{
    uint64_t lo = 1, hi = 0;
    uint8_t *dest = aligned_alloc(4096, 0x3000);
    uint64_t base = (uint64_t)(uintptr_t)dest;
    uint64_t *ptrs = (uint64_t *)(dest + DATA_VA + 0x60);

    build_image(~0U);
    CHECK(elf64_check(img, IMG_SIZE) == 0, "image valid");
    CHECK(elf64_load_span(img, &lo, &hi) == 0 && lo == 0 && hi == 0x3000, "span [%#llx, %#llx)",
          (unsigned long long)lo, (unsigned long long)hi);

    memset(dest, 0xee, 0x3000);
    CHECK(elf64_load(img, IMG_SIZE, dest, 0x3000, 0) == 0, "load");
    CHECK(dest[0x100] == 0xcc && dest[0x17f] == 0xcc && dest[0x1ff] == 0, "text copied");
    CHECK(dest[0x200] == 0xee, "gap between segments untouched");
    CHECK(dest[DATA_VA + 0x50] == 0x5a && dest[DATA_VA + 0xff] == 0x5a, "data copied");
    {
        int zero = 1;

        for (int i = 0x100; i < 0x1000; i++)
            zero &= dest[DATA_VA + i] == 0;
        CHECK(zero, "bss zeroed");
    }
    CHECK(elf64_load(img, IMG_SIZE, dest, 0x2fff, 0) < 0, "segment past dest_size rejected");
    CHECK(elf64_load(img, IMG_SIZE, dest, 0x3000, 0x1000) < 0, "segment below bias rejected");

    CHECK(elf64_apply_relative(base, (const struct elf64_dyn *)(dest + DATA_VA)) == 0,
          "apply relative");
    CHECK(ptrs[0] == base + 0x100 && ptrs[1] == base + 0x110 && ptrs[3] == base + 0x130,
          "RELATIVE = base + addend");
    CHECK(ptrs[2] == 0, "R_X86_64_NONE skipped");

    /* A non-relative relocation stops at once. */
    build_image(1);
    memset(dest, 0, 0x3000);
    CHECK(elf64_load(img, IMG_SIZE, dest, 0x3000, 0) == 0, "reload");
    CHECK(elf64_apply_relative(base, (const struct elf64_dyn *)(dest + DATA_VA)) < 0,
          "R_X86_64_64 rejected");
    CHECK(ptrs[0] == base + 0x100 && ptrs[1] == 0 && ptrs[3] == 0,
          "applied up to the bad one, nothing after");

    /* Bad RELAENT is rejected; no RELA at all is fine. */
    {
        struct elf64_dyn d[] = {
            {ELF_DT_RELA, RELA_VA},
            {ELF_DT_RELASZ, 24},
            {ELF_DT_RELAENT, 16},
            {ELF_DT_NULL, 0},
        };
        struct elf64_dyn none[] = {{ELF_DT_FLAGS, 0}, {ELF_DT_NULL, 0}};

        CHECK(elf64_apply_relative(base, d) < 0, "RELAENT 16 rejected");
        CHECK(elf64_apply_relative(base, none) == 0, "no RELA: ok");
    }

    /* Executable linked high: bias shifts the destination. */
    build_image(~0U);
    ehdr()->e_type = ELF_ET_EXEC;
    phdr(0)->p_vaddr = 0x200000;
    phdr(1)->p_vaddr = 0x202000;
    CHECK(elf64_load_span(img, &lo, &hi) == 0 && lo == 0x200000 && hi == 0x203000,
          "span of an ET_EXEC");
    memset(dest, 0, 0x3000);
    CHECK(elf64_load(img, IMG_SIZE, dest, 0x3000, 0x200000) == 0 && dest[0x100] == 0xcc &&
              dest[0x2050] == 0x5a,
          "load with bias");

    /* No PT_LOAD at all */
    phdr(0)->p_type = ELF_PT_NOTE;
    phdr(1)->p_type = ELF_PT_NOTE;
    CHECK(elf64_load_span(img, &lo, &hi) < 0, "no PT_LOAD: span fails");
    free(dest);
}

int main(void)
{
    test_check();
    test_load_and_relocate();
    return check_report();
}
