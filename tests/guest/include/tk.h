/*
 * The test kernel's C library, built twice: into the 32-bit part (-m32)
 * and into the 64-bit part (-m64). Each part provides the few functions
 * marked "per part" (k32/, k64/).
 */
#ifndef TK_H
#define TK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "shared.h"
#include "x86.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* string.c */
size_t tk_strlen(const char *s);
int tk_strcmp(const char *a, const char *b);
int tk_strncmp(const char *a, const char *b, size_t n);
void *tk_memcpy(void *d, const void *s, size_t n);
void *tk_memset(void *d, int c, size_t n);
/* gcc may emit calls to these for struct copies and initializers */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);

/* serial.c: COM1, polled 16550 */
void serial_init(void);
void serial_write(const char *s, size_t n);

/* fmt.c: %s %c %d %u %x %p with l/ll, width and 0 padding, %% */
int tk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int tk_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cpu.c: what CPUID says (the part's own view; identical in both parts) */
struct cpu_features {
    char vendor[13];
    uint32_t max_leaf, max_ext;
    uint32_t l1_eax, l1_ecx, l1_edx;
    uint32_t l7_ebx, l7_ecx, l7_edx, l71_eax;
    uint32_t e1_ecx, e1_edx, e8_ebx, e21_eax;
    unsigned maxphys, maxvirt;
};
extern struct cpu_features cpu;
void cpu_probe(void);
bool cr4_bit_known(unsigned bit);  /* the CPU has the feature CR4 bit `bit` enables */
bool efer_bit_known(unsigned bit); /* the same for EFER */
void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4]);

/* A mode the operations run in. exec() runs the operation of the shared
 * page there (ops.S through the mode's switch). */
#define M_REAL   0x01 /* CR0.PE = 0 */
#define M_PROT   0x02 /* CR0.PE = 1 */
#define M_PAGING 0x04 /* CR0.PG = 1 */
#define M_LONG   0x08 /* EFER.LMA = 1 */
#define M_CODE64 0x10 /* 64-bit code: 64-bit registers, r8-r15 */
#define M_LA57   0x20 /* 5-level paging */
#define M_CODE16 0x40 /* 16-bit code */
struct mode {
    const char *name;
    unsigned flags;
    void (*exec)(void);
    /* enter/leave around a group (NULL: nothing to do); enter returns a
     * reason to skip the group, or NULL */
    const char *(*enter)(void);
    void (*leave)(void);
};

/* op.c */
struct opres {
    unsigned long long out[6]; /* long long: one printf format in both parts */
    unsigned nev;
    struct probe_event ev[P_MAX_EV];
    uint32_t len; /* bytes from the insn under test to the next one */
};
void op_run(const struct mode *m, unsigned code, unsigned flags, uint64_t a, uint64_t b, uint64_t c,
            struct opres *r);
void op_run4(const struct mode *m, unsigned code, unsigned flags, const uint64_t in[4],
             struct opres *r);
/* "ok", or the events: "#GP(0x0)@insn", "#DB@next dr6=0xffff4ff0", "int0x66@next" */
void fmt_events(char *buf, size_t size, const struct opres *r);

/* report.c: one RFXT line per check, groups, and the command line */
struct group {
    const char *name; /* "<mode>.<family>" */
    const struct mode *mode;
    void (*run)(const struct group *g);
    unsigned flags;
};
#define G_EXPLICIT 1 /* runs only when named in only= (destroys or times the machine) */
#define G_OTHER    2 /* the other part (32/64-bit) runs it */
extern const struct group *cur_group;
extern const char *cur_check;
void cmdline_parse(void);
bool cmdline_flag(const char *key); /* key=1 on the command line */
unsigned cmdline_uint(const char *key, unsigned dflt);
bool group_selected(const struct group *g);
/* The index in table of the from= group (0 without from=). */
unsigned groups_from(const struct group *table, unsigned n);
void group_run(const struct group *g);
/* Returns false (and prints "skip requested") when skip= names the check. */
bool check_begin(const char *check);
void report(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *check, const char *reason);
void report_op(const char *check, const struct opres *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
__attribute__((noreturn)) void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The --tcg-quirks option: the machine is QEMU's TCG itself; skip what it mishandles so
 * badly that it hangs or dies (docs/conformance.md). */
extern bool tcg_quirks;

/* probe.c: the exception handlers' common part. Records the event for an
 * armed probe and says where to return (ip) with which flags; false when
 * nothing expected it (the handler then stops the kernel). */
bool probe_handle(uint32_t vec, uint32_t err, uint64_t *ip, uint64_t *flags);
/* op.c: copies the outputs and the probe's events from the shared page. */
void op_collect(struct opres *r);

/* checks.c: the families shared by both parts */
void fam_cr0(const struct group *g);
void fam_cr3(const struct group *g);
void fam_cr4(const struct group *g);
void fam_efer(const struct group *g);
void fam_movcr(const struct group *g);
void fam_lmsw(const struct group *g);
void fam_tf(const struct group *g);
void fam_svm(const struct group *g);
void fam_vmx(const struct group *g);
void fam_cpuid(const struct group *g);
void fam_df(const struct group *g);
void fam_hlt(const struct group *g);
void fam_ring3(const struct group *g);

/* Per part. */
void idt_gate_present(unsigned vec, bool present);
void idt_gate_type(unsigned vec, unsigned type); /* 0: the normal interrupt gate */
void idt_limit(unsigned entries);                /* 0: all */
void user_cpuid(uint32_t leaf, bool tf, struct opres *r);
const char *part_name(void);

/* lapic.c */
void lapic_self_ipi(unsigned vec);
void lapic_eoi(void);

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline uintptr_t read_cr2(void)
{
    uintptr_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

#endif
