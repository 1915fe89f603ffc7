/* The 32-bit part's own declarations. */
#ifndef TK_K32_H
#define TK_K32_H

#include "tk.h"

#define USER_PAGE 0x600000u /* a 2 MiB page user code may run in */
#define HOLE      0x800000u /* a 4 KiB page that is not present */

/* boot32.S */
void gdt_load(const void *desc);
extern const uint8_t isr32_stubs[];
void call_low16(void);
void call_long(void);
void enter_user32(uint32_t eip, uint32_t esp, uint32_t eax, uint32_t ebp);
extern const uint8_t user32_code[], user32_insn[], user32_next[];
extern const uint8_t low16_image[], low16_image_end[];
/* ops.S, 32-bit flavour */
void run_op32(void);

/* sys32.c */
void sys32_init(void);
void paging_init(void);
uint32_t cr3_pd32(void);
uint32_t cr3_pae(void);

/* main32.c */
extern const struct mode mode_real, mode_pm16, mode_pm32, mode_pae;
struct mb_saved {
    uint32_t magic, flags, mem_lower, mem_upper;
    uint32_t cr0, cr4;
    uint64_t efer;
    unsigned mmap_count;
    struct {
        uint64_t addr, len;
        uint32_t type;
    } mmap[32];
};
extern struct mb_saved boot;

/* fam32.c: the families only the 32-bit part has */
void fam_boot(const struct group *g);
void fam_int(const struct group *g);
void fam_io(const struct group *g);
void fam_a20(const struct group *g);
void fam_triple_np(const struct group *g);
void fam_triple_gp(const struct group *g);
void fam_reset_92(const struct group *g);
void fam_reset_cf9(const struct group *g);
void fam_reset_kbd(const struct group *g);
void fam_bench(const struct group *g);
void fam_smp(const struct group *g);
void fam_tscfreq(const struct group *g);
void fam_tscdl(const struct group *g);

#endif
