/*
 * What lldb asks a gdb-remote stub before it trusts the target.xml layout:
 * qHostInfo and qProcessInfo (the target's triple, pointer size and byte
 * order: without them lldb guesses, and scans memory for a kernel image),
 * and qRegisterInfoN (one register per query, the same layout as
 * target.xml, with the DWARF numbers and generic roles lldb's unwinder
 * uses). The keys are lldb's gdb-remote extensions (lldb's
 * docs/resources/lldbgdbremote.md); docs/protocol.md lists our replies.
 */
#include "lib/mem.h"
#include "vmm/control/regs.h"
#include "vmm/control/stub.h"

/* The VM is a bare machine: no OS the debugger should assume. Hex, as
 * qHostInfo's "triple" key is sent. */
#define TRIPLE "x86_64-unknown-unknown"

static void put_triple(struct reply *r)
{
    reply_str(r, "triple:");
    reply_hex(r, (const uint8_t *)TRIPLE, sizeof(TRIPLE) - 1);
    reply_str(r, ";ptrsize:8;endian:little;");
}

enum stub_action stub_lldb_host_info(struct stub *s, struct reply *r, char *p, size_t n)
{
    put_triple(r);
    reply_str(r, "ostype:unknown;vendor:unknown;hostname:");
    reply_hex(r, (const uint8_t *)"ramooflax", 9);
    reply_str(r, ";");
    return STUB_STAY;
}

/* One "process": the VM (pid 1, as qC and the stop replies' threads say). */
enum stub_action stub_lldb_process_info(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, "pid:1;parent-pid:0;");
    put_triple(r);
    reply_str(r, "ostype:unknown;vendor:unknown;");
    return STUB_STAY;
}

/*
 * qShlibInfoAddr: where the OS keeps its list of loaded images. A bare
 * machine has no such list: its address is null. Answered rather than
 * refused: on a target whose OS is unknown, lldb looks for a Darwin kernel
 * at that address, and only when the stub gives none does it scan memory
 * for one -- hundreds of reads down from the pc, seconds over a UART. At 0
 * it finds no Mach-O header (nothing, or the real-mode IVT) and stops.
 */
enum stub_action stub_lldb_shlib_info_addr(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, "0");
    return STUB_STAY;
}

/* DWARF numbers of the x86-64 registers: System V AMD64 psABI, "DWARF
 * Register Number Mapping" (rax 0, rdx 1, rcx 2, rbx 3, rsi 4, rdi 5,
 * rbp 6, rsp 7, r8-r15 8-15, rip 16, xmm0-15 17-32, st0-7 33-40,
 * rflags 49, es cs ss ds fs gs 50-55, fs.base 58, gs.base 59). -1: none. */
static int dwarf_of(unsigned n, const struct reg_desc *d)
{
    static const int gpr[] = {0, 3, 2, 1, 4, 5, 6, 7}; /* rax rbx rcx rdx rsi rdi rbp rsp */
    static const int sel[] = {51, 52, 53, 50, 54, 55}; /* cs ss ds es fs gs, as numbered */
    if (n < 8)
        return gpr[n];
    if (n < 16)
        return (int)n;
    switch (d->kind) {
    case R_RIP:
        return 16;
    case R_RFLAGS:
        return 49;
    case R_SEL:
        return n >= 18 && n < 24 ? sel[n - 18] : -1;
    case R_ST:
        return 33 + d->arg;
    case R_XMM:
        return 17 + d->arg;
    default:
        return -1;
    }
}

static const char *generic_of(const struct reg_desc *d)
{
    if (d->kind == R_RIP)
        return "pc";
    if (d->kind == R_RFLAGS)
        return "flags";
    if (d->kind == R_GPR && d->arg == RG_RSP)
        return "sp";
    if (d->kind == R_GPR && d->arg == RG_RBP)
        return "fp";
    return 0;
}

static const char *set_of(unsigned n, const struct reg_desc *d)
{
    if (stub_reg_is_system(n))
        return "System Registers";
    if (d->kind == R_ST || d->kind == R_FPU)
        return "Floating Point Registers";
    if (d->kind == R_XMM || d->kind == R_MXCSR)
        return "SSE Registers";
    return "General Purpose Registers";
}

/* qRegisterInfoN: register N as target.xml numbers it, at its offset in
 * the g packet; past the last, E45 ends lldb's loop. The "system" summary
 * (regs.c) is the last, after every g register. */
enum stub_action stub_lldb_register_info(struct stub *s, struct reply *r, char *p, size_t n)
{
    size_t k = sizeof("qRegisterInfo") - 1;
    uint64_t reg;
    if (n <= k || stub_parse_hex(p + k, n - k, &reg) != n - k || reg > stub_reg_summary()) {
        reply_str(r, "E45");
        return STUB_STAY;
    }
    unsigned offset = 0;
    for (unsigned i = 0; i < reg && i < stub_reg_count(); i++)
        offset += stub_reg_size(i);
    if (reg == stub_reg_summary()) {
        reply_fmt(r,
                  "name:system;bitsize:%u;offset:%u;encoding:vector;format:vector-uint8;"
                  "set:System Registers;",
                  8 * stub_reg_summary_size(), offset);
        return STUB_STAY;
    }
    const struct reg_desc *d = stub_reg_desc((unsigned)reg);
    reply_fmt(r, "name:%s;", d->name);
    if (d->kind == R_RFLAGS)
        reply_str(r, "alt-name:rflags;");
    const char *encoding = d->kind == R_ST    ? "encoding:ieee754;format:float;"
                           : d->kind == R_XMM ? "encoding:vector;format:vector-uint8;"
                                              : "encoding:uint;format:hex;";
    reply_fmt(r, "bitsize:%u;offset:%u;%sset:%s;", d->bits, offset, encoding,
              set_of((unsigned)reg, d));
    int dwarf = dwarf_of((unsigned)reg, d);
    if (dwarf >= 0)
        reply_fmt(r, "gcc:%d;dwarf:%d;", dwarf, dwarf);
    const char *generic = generic_of(d);
    if (generic)
        reply_fmt(r, "generic:%s;", generic);
    return STUB_STAY;
}
