/*
 * Unit tests for the stub's command layer (vmm/control/commands.c, rfx.c,
 * monitor.c, regs.c, reply.c): every packet handler, on a fake target of
 * two threads with their own registers and a small memory, good packets
 * and malformed ones (truncated, oversize, bad hex, unknown). Built with
 * ASan and UBSan: a handler that reads past a packet fails here.
 */
#include "check.h"
#include "vmm/control/stub.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 2
#define MEM_SIZE 0x10000
#define NREG_MAX 128

/* --- the fake target --- */

static uint8_t regs[NTHREADS][NREG_MAX][16];
static uint8_t mem[MEM_SIZE];
static int filters_calls, bp_inserted, lbr_supported;
static uint64_t last_bp_addr;

static unsigned f_nthreads(void *ctx) { return NTHREADS; }

static unsigned f_reg_read(void *ctx, unsigned t, unsigned n, uint8_t *out)
{
    unsigned sz = stub_reg_size(n);
    if (t >= NTHREADS || !sz)
        return 0;
    memcpy(out, regs[t][n], sz);
    return sz;
}

static int f_reg_write(void *ctx, unsigned t, unsigned n, const uint8_t *in)
{
    unsigned sz = stub_reg_size(n);
    if (t >= NTHREADS || !sz)
        return -1;
    if (n == 60 && in[1] & 0x80) /* cr4 with bit 15 set: "the CPU refuses it" */
        return -1;
    memcpy(regs[t][n], in, sz);
    return 0;
}

/* Virtual addresses through a non-zero cr3 are physical + cr3. */
static size_t f_mem(uint64_t addr, bool phys, uint64_t cr3, uint8_t *buf, size_t len, bool write)
{
    uint64_t pa = phys ? addr : addr + cr3;
    size_t n = 0;
    for (; n < len && pa + n < MEM_SIZE; n++) {
        if (write)
            mem[pa + n] = buf[n];
        else
            buf[n] = mem[pa + n];
    }
    return n;
}

static size_t f_mem_read(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr,
                         uint8_t *buf, size_t len)
{
    return f_mem(addr, phys, cr3, buf, len, false);
}

static size_t f_mem_write(void *ctx, unsigned t, bool phys, uint64_t cr3, uint64_t addr,
                          const uint8_t *buf, size_t len)
{
    return f_mem(addr, phys, cr3, (uint8_t *)buf, len, true);
}

static int f_v2p(void *ctx, unsigned t, uint64_t cr3, uint64_t va, uint64_t *pa)
{
    if (va >= MEM_SIZE)
        return -1;
    *pa = va + cr3;
    return 0;
}

static int f_g2h(void *ctx, uint64_t gpa, uint64_t *hpa, uint64_t *leaf, unsigned *shift)
{
    *leaf = 0x83;
    *shift = 21;
    if (gpa >= 0x8000)
        return -1; /* "the VMM's range" */
    *hpa = gpa;
    return 0;
}

static int f_bp_insert(void *ctx, unsigned type, uint64_t addr, unsigned len)
{
    bp_inserted++;
    last_bp_addr = addr;
    return 0;
}

static int f_bp_remove(void *ctx, unsigned type, uint64_t addr, unsigned len)
{
    return addr == 0x1000 || addr == last_bp_addr ? 0 : -1;
}

static void f_filters_changed(void *ctx, const struct filters *old) { filters_calls++; }
/* As a backend without an INT n intercept would answer, for vector 0x99. */
static const char *f_filters_unsupported(void *ctx, const struct filters *want)
{
    return want->intn[0x99 / 8] & (1u << (0x99 % 8)) ? "this CPU cannot intercept INT n" : 0;
}

static int f_lbr(void *ctx, unsigned t, enum stub_lbr op, uint64_t out[4])
{
    if (!lbr_supported)
        return -1;
    if (op == STUB_LBR_READ)
        out[0] = 1, out[1] = 2, out[2] = 3, out[3] = 4;
    return 0;
}

static unsigned long f_text(void *ctx, unsigned t, enum stub_text what, uint64_t arg, char *buf,
                            unsigned long size)
{
    static const char *const texts[] = {"exits: 42 total\n", "--- VMCB ---\n", "npt on\n",
                                        "CPU %u: fake"};
    return (unsigned long)snprintf(buf, size, texts[what], t);
}

static void f_status(void *ctx, unsigned t, struct stub_status *out)
{
    *out = (struct stub_status){"long", 42 + t, 0x1000, 0xffffffff81000000ull, 0, false, "vmx"};
}

static const struct stub_target_ops fake = {
    f_nthreads,
    f_reg_read,
    f_reg_write,
    f_mem_read,
    f_mem_write,
    f_v2p,
    f_g2h,
    f_bp_insert,
    f_bp_remove,
    f_filters_unsupported,
    f_filters_changed,
    f_lbr,
    f_text,
    f_status,
};

/* --- the harness --- */

static char rbuf[2 * STUB_PACKET_SIZE + 8], cbuf[8192];
static struct stub s;
static struct reply r = {rbuf, sizeof(rbuf), 0, cbuf, sizeof(cbuf), 0, 0, false};

static void fresh(void)
{
    memset(&s, 0, sizeof(s));
    s.t = &fake;
    memset(regs, 0, sizeof(regs));
    for (unsigned t = 0; t < NTHREADS; t++)
        for (unsigned n = 0; n < NREG_MAX; n++)
            regs[t][n][0] = (uint8_t)(0x10 * t + n);
    for (unsigned i = 0; i < MEM_SIZE; i++)
        mem[i] = (uint8_t)i;
    filters_calls = bp_inserted = lbr_supported = 0;
    last_bp_addr = ~0ull;
}

/* Dispatches a packet given with its length (binary data may hold NULs). */
static enum stub_action run_n(const char *pkt, size_t n)
{
    static char copy[STUB_PACKET_SIZE * 2 + 1];
    memcpy(copy, pkt, n);
    copy[n] = 0;
    return stub_dispatch(&s, &r, copy, n);
}

static enum stub_action run(const char *pkt) { return run_n(pkt, strlen(pkt)); }

static bool reply_is(const char *want)
{
    return r.len == strlen(want) && !memcmp(r.buf, want, r.len);
}

static bool console_has(const char *want)
{
    cbuf[r.console_len < sizeof(cbuf) ? r.console_len : sizeof(cbuf) - 1] = 0;
    return strstr(cbuf, want) != 0;
}

static const char *shown(void)
{
    static char out[80];
    size_t n = r.len < 70 ? r.len : 70;
    memcpy(out, r.buf, n);
    out[n] = 0;
    return out;
}

static void hexstr(char *out, const char *text)
{
    for (; *text; text++, out += 2)
        sprintf(out, "%02x", (unsigned char)*text);
    *out = 0;
}

/* want, with '*' matching any run of bytes, against the reply. */
static bool glob(const char *want, const char *got, size_t len)
{
    if (!*want)
        return len == 0;
    if (*want == '*') {
        for (size_t skip = 0; skip <= len; skip++)
            if (glob(want + 1, got + skip, len - skip))
                return true;
        return false;
    }
    return len && *want == *got && glob(want + 1, got + 1, len - 1);
}

/* Table rows: packet, wanted reply ('*' matches anything), wanted
 * action. */
static const struct {
    const char *pkt, *want;
    enum stub_action action;
} rows[] = {
    {"qSupported:multiprocess+;xmlRegisters=i386", "PacketSize=20000;*", STUB_STAY},
    {"QStartNoAckMode", "OK", STUB_STAY},
    {"?", "T05", STUB_STAY},
    {"qAttached", "1", STUB_STAY},
    {"qAttached:1", "1", STUB_STAY},
    {"qHostInfo", "triple:7838365f36342d756e6b6e6f776e2d756e6b6e6f776e;ptrsize:8;endian:little;*",
     STUB_STAY},
    {"qProcessInfo", "pid:1;parent-pid:0;triple:*", STUB_STAY},
    {"qRegisterInfo0",
     "name:rax;bitsize:64;offset:0;encoding:uint;format:hex;set:General Purpose Registers;gcc:0;"
     "dwarf:0;",
     STUB_STAY},
    {"qRegisterInfo1", "name:rbx;bitsize:64;offset:8;*;dwarf:3;", STUB_STAY},
    {"qRegisterInfo7", "name:rsp;bitsize:64;offset:56;*;dwarf:7;generic:sp;", STUB_STAY},
    {"qRegisterInfo10", "name:rip;bitsize:64;offset:128;*;dwarf:16;generic:pc;", STUB_STAY},
    {"qRegisterInfo11", "name:eflags;alt-name:rflags;bitsize:32;offset:136;*generic:flags;",
     STUB_STAY},
    {"qRegisterInfo15", "name:es;bitsize:32;offset:152;*;dwarf:50;", STUB_STAY},
    {"qRegisterInfo18", "name:st0;bitsize:80;offset:164;encoding:ieee754;*;dwarf:33;", STUB_STAY},
    {"qRegisterInfo6d", "name:system;bitsize:3328;*", STUB_STAY},
    {"qRegisterInfo6e", "E45", STUB_STAY},
    {"qRegisterInfo", "E45", STUB_STAY},
    {"qRegisterInfozz", "E45", STUB_STAY},
    {"qfThreadInfo", "m1,2", STUB_STAY},
    {"qsThreadInfo", "l", STUB_STAY},
    {"qC", "QC1", STUB_STAY},
    {"Hg2", "OK", STUB_STAY},
    {"Hc-1", "OK", STUB_STAY},
    {"Hg0", "OK", STUB_STAY},
    {"Hg3", "E01", STUB_STAY},
    {"Hx1", "E01", STUB_STAY},
    {"H", "E01", STUB_STAY},
    {"Hgzz", "E01", STUB_STAY},
    {"T1", "OK", STUB_STAY},
    {"T2", "OK", STUB_STAY},
    {"T3", "E01", STUB_STAY},
    {"T", "E01", STUB_STAY},
    {"p0", "0000000000000000", STUB_STAY},
    {"p10", "1000000000000000", STUB_STAY}, /* rip, register 16 */
    {"p11", "11000000", STUB_STAY},         /* eflags: 32 bits */
    {"p6e", "E01", STUB_STAY},
    {"p", "E01", STUB_STAY},
    {"pzz", "E01", STUB_STAY},
    {"p1z", "E01", STUB_STAY},
    {"p10000000000000000", "E01", STUB_STAY},
    {"P0=1122334455667788", "OK", STUB_STAY},
    {"P0=11", "E01", STUB_STAY},
    {"P0", "E01", STUB_STAY},
    {"P0=zz22334455667788", "E01", STUB_STAY},
    {"P6e=00", "E01", STUB_STAY},
    {"P3c=0080000000000000", "E01", STUB_STAY}, /* cr4 the fake CPU refuses */
    {"m1000,4", "00010203", STUB_STAY},
    {"m1000", "E01", STUB_STAY},
    {"mzz,4", "E01", STUB_STAY},
    {"m1000,", "E01", STUB_STAY},
    {"m1000,4,5", "E01", STUB_STAY},
    {"mffff0,4", "E14", STUB_STAY},
    {"mfffe,4", "feff", STUB_STAY}, /* short: stops where memory ends */
    {"m1000,0", "", STUB_STAY},
    {"M1000,2:abcd", "OK", STUB_STAY},
    {"M1000,2:ab", "E01", STUB_STAY},
    {"M1000,2:zzzz", "E01", STUB_STAY},
    {"M1000,2", "E01", STUB_STAY},
    {"M1000,100000:00", "E01", STUB_STAY},
    {"Mffff0,1:00", "E14", STUB_STAY},
    {"X1000,0:", "OK", STUB_STAY},
    {"X1000,2:a", "E01", STUB_STAY},
    {"Z0,1000,1", "OK", STUB_STAY},
    {"z0,1000,1", "OK", STUB_STAY},
    {"z0,2000,1", "E0e", STUB_STAY},
    {"Z5,1000,1", "E01", STUB_STAY},
    {"Z0,1000", "E01", STUB_STAY},
    {"Z0", "E01", STUB_STAY},
    {"Z", "E01", STUB_STAY},
    {"Z1,zz,1", "E01", STUB_STAY},
    {"c", "", STUB_RESUME},
    {"s", "", STUB_STEP},
    {"c1234", "", STUB_RESUME},
    {"cxyz", "E01", STUB_STAY},
    {"vCont?", "vCont;c;C;s;S", STUB_STAY},
    {"vCont;c", "", STUB_RESUME},
    {"vCont;s", "", STUB_STEP},
    {"vCont;s:2;c", "", STUB_STEP},
    {"vCont;c:1", "", STUB_RESUME},
    {"vCont;C05", "", STUB_RESUME},
    {"vCont;x", "E01", STUB_STAY},
    {"vCont;s:9", "E01", STUB_STAY},
    {"vCont;", "", STUB_STAY},
    {"vCont", "", STUB_STAY},
    {"vMustReplyEmpty", "", STUB_STAY},
    {"qXfer:features:read:target.xml:0,20", "m<?xml*", STUB_STAY},
    {"qXfer:features:read:target.xml:ffffff,10", "l", STUB_STAY},
    {"qXfer:features:read:foo.xml:0,10", "E00", STUB_STAY},
    {"qXfer:features:read:target.xml:0", "E00", STUB_STAY},
    {"qRcmd,zz", "E01", STUB_STAY},
    {"qRcmd,6", "E01", STUB_STAY},
    {"qRfx.Status", "mode:long;exits:2a;*", STUB_STAY},
    {"qRfx.PhysRead:1000,4", "00010203", STUB_STAY},
    {"qRfx.PhysRead:1000", "E01", STUB_STAY},
    {"qRfx.PhysRead:1000,fffd", "E01", STUB_STAY},
    {"qRfx.PhysRead:ffff0,4", "E14", STUB_STAY},
    {"qRfx.PhysReadBin:1000,4", "b\x00\x01\x02\x03", STUB_STAY},
    {"qRfx.VirtReadBin:100,1000,2", "b\x00\x01", STUB_STAY},
    {"qRfx.VirtReadBin:100,1000", "E01", STUB_STAY},
    {"qRfx.V2P:10,1000", "1010", STUB_STAY},
    {"qRfx.V2P:10", "E01", STUB_STAY},
    {"qRfx.V2P:0,ffffff", "E14", STUB_STAY},
    {"qRfx.G2H:1000", "1000", STUB_STAY},
    {"qRfx.G2H:9000", "E14", STUB_STAY},
    {"qRfx.G2H:", "E01", STUB_STAY},
    {"qRfx.G2H:12zz", "E01", STUB_STAY},
    {"qRfx.Lbr", "E.LBR unsupported by this CPU", STUB_STAY},
    {"qRfx.Exits", "exits: 42 total\n", STUB_STAY},
    {"qRfx.Nonsense", "", STUB_STAY},
    {"QRfx.Filter:cr_write,3,1", "OK", STUB_STAY},
    {"QRfx.Filter:cr_write,5,1", "E01", STUB_STAY},
    {"QRfx.Filter:cr_read,2,1", "OK", STUB_STAY},
    {"QRfx.Filter:excp,20,1", "E01", STUB_STAY},
    {"QRfx.Filter:excp,e,1", "OK", STUB_STAY},
    {"QRfx.Filter:io,70,1", "OK", STUB_STAY},
    {"QRfx.Filter:io,10000,1", "E01", STUB_STAY},
    {"QRfx.Filter:msr,c0000080,1", "OK", STUB_STAY},
    {"QRfx.Filter:cpuid,all,1", "OK", STUB_STAY},
    {"QRfx.Filter:intn,100,1", "E01", STUB_STAY},
    {"QRfx.Filter:npf,1", "OK", STUB_STAY},
    {"QRfx.Filter:bogus,1,1", "E01", STUB_STAY},
    {"QRfx.Filter:io,70", "E01", STUB_STAY},
    {"QRfx.SysReg:cr3:1000", "OK", STUB_STAY},
    {"QRfx.SysReg:rax:1", "E01", STUB_STAY},
    {"QRfx.SysReg:cr3:zz", "E01", STUB_STAY},
    {"QRfx.SysReg:cr3", "E01", STUB_STAY},
    {"QRfx.SysReg:nosuch:1", "E01", STUB_STAY},
    {"QRfx.PhysWrite:1000:aabb", "OK", STUB_STAY},
    {"QRfx.PhysWrite:1000:aab", "E01", STUB_STAY},
    {"QRfx.PhysWrite:ffff0:aa", "E14", STUB_STAY},
    {"QRfx.ActiveCr3:1000", "OK", STUB_STAY},
    {"QRfx.ActiveCr3:", "E01", STUB_STAY},
    {"QRfx.Step:cr3,1000", "OK", STUB_STAY},
    {"QRfx.Step:global", "OK", STUB_STAY},
    {"QRfx.Step:globalx", "", STUB_STAY},
    {"QRfx.Lbr:1", "E.LBR unsupported by this CPU", STUB_STAY},
    {"D", "OK", STUB_DETACH},
    {"k", "OK", STUB_DETACH},
    {"", "", STUB_STAY},
    {"\x01\x02garbage", "", STUB_STAY},
};

static void test_rows(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        fresh();
        size_t n = strlen(rows[i].pkt);
        /* The binary rows: their packets hold no NUL, their replies may. */
        enum stub_action a = run_n(rows[i].pkt, n);
        const char *want = rows[i].want;
        bool ok;
        if (!strncmp(rows[i].pkt, "qRfx.PhysReadBin", 16))
            ok = r.len == 5 && !memcmp(r.buf, "b\x00\x01\x02\x03", 5);
        else if (!strncmp(rows[i].pkt, "qRfx.VirtReadBin:100,1000,2", 27))
            ok = r.len == 3 && !memcmp(r.buf, "b\x00\x01", 3);
        else
            ok = glob(want, (const char *)r.buf, r.len);
        CHECK(ok && a == rows[i].action, "%s: reply \"%s\" action %d; want \"%s\" %d", rows[i].pkt,
              shown(), a, want, rows[i].action);
    }
}

/* What the handlers do to the state and the target, not only what they say. */
static void test_effects(void)
{
    fresh();
    run("QStartNoAckMode");
    CHECK(s.noack, "QStartNoAckMode sets no-ack mode");

    fresh();
    run("P0=1122334455667788");
    CHECK(regs[0][0][0] == 0x11 && regs[0][0][7] == 0x88, "P writes the register, little-endian");
    run("Hg2");
    run("P0=0102030405060708");
    CHECK(regs[1][0][0] == 0x01 && regs[0][0][0] == 0x11, "Hg2 makes P write thread 2's register");
    run("p0");
    CHECK(reply_is("0102030405060708"), "Hg2 makes p read thread 2: %s", shown());
    run("g");
    CHECK(r.len > 2 * 500 && !memcmp(r.buf, "0102030405060708", 16), "g reads thread 2 (%zu)",
          r.len);
    run("qRfx.Status");
    char status[256] = {0};
    memcpy(status, r.buf, r.len < sizeof(status) - 1 ? r.len : sizeof(status) - 1);
    CHECK(strstr(status, "exits:2b;") && strstr(status, ";thread:2;stopped:1;backend:vmx"),
          "qRfx.Status after Hg2 describes thread 2 and names the stopped one: %s", status);

    fresh();
    run("M1000,2:abcd");
    CHECK(mem[0x1000] == 0xab && mem[0x1001] == 0xcd, "M writes memory");
    run_n("X1010,3:\x01}\x02", 11); /* the framer unescaped nothing: '}' is data here */
    CHECK(mem[0x1010] == 0x01 && mem[0x1011] == '}' && mem[0x1012] == 0x02, "X writes binary");
    run("QRfx.ActiveCr3:100");
    run("m1000,2");
    CHECK(s.active_cr3 == 0x100, "the active cr3 is kept");
    run("m0f00,2");
    CHECK(reply_is("abcd"), "virtual memory goes through the active cr3: %s", shown());

    fresh();
    run("c1234");
    CHECK(regs[0][16][0] == 0x34 && regs[0][16][1] == 0x12, "c ADDR moves rip first");
    run("vCont;s:2;c");
    CHECK(s.step_thread == 1, "vCont;s:2 steps thread 2 (index 1), got %u", s.step_thread);

    fresh();
    run("Z0,1000,1");
    CHECK(bp_inserted == 1 && last_bp_addr == 0x1000, "Z0 reaches the target");

    fresh();
    run("QRfx.Filter:cr_write,3,1");
    CHECK(filters_calls == 1 && (s.f.cr_write & 8), "a filter is set and the target told");
    run("QRfx.Filter:cr_write,5,1");
    CHECK(filters_calls == 1 && !(s.f.cr_write & 0x20), "a refused filter changes nothing");
    run("QRfx.Filter:intn,99,1");
    CHECK(reply_is("E.this CPU cannot intercept INT n") && filters_calls == 1 &&
              !(s.f.intn[0x99 / 8] & (1u << (0x99 % 8))) && (s.f.cr_write & 8),
          "a filter the hardware cannot serve is refused with the reason, the others kept: %s",
          shown());
    run("QRfx.Filter:io,70,1");
    run("QRfx.Filter:io,71,1");
    run("QRfx.Filter:io,70,0");
    CHECK(s.f.nio == 1 && s.f.io[0] == 0x71, "I/O filters are a set");
    for (int i = 0; i < STUB_IO_FILTERS + 2; i++) {
        char pkt[64];
        snprintf(pkt, sizeof(pkt), "QRfx.Filter:io,%x,1", 0x100 + i);
        run(pkt);
    }
    CHECK(reply_is("E01") && s.f.nio == STUB_IO_FILTERS, "a full filter list refuses more");
    stub_filters_clear(&s);
    CHECK(s.f.nio == 0 && s.f.cr_write == 0, "stub_filters_clear clears them");

    fresh();
    lbr_supported = 1;
    run("QRfx.Lbr:1");
    CHECK(reply_is("OK") && s.lbr_on, "LBR on where the CPU has it");
    run("qRfx.Lbr");
    CHECK(reply_is("1,2,3,4"), "LBR records: %s", shown());

    fresh();
    run("QRfx.Step:cr3,1234");
    CHECK(s.step_cr3_mode && s.step_cr3 == 0x1234, "the cr3 step mode");
    run("QRfx.ActiveCr3:5,keep");
    CHECK(s.active_cr3 == 5 && s.active_cr3_keep, "ActiveCr3 with keep");
    stub_session_reset(&s);
    CHECK(s.active_cr3 == 5, "a kept cr3 survives a new session");
}

static void test_monitor(void)
{
    char pkt[256] = "qRcmd,";
    fresh();
    hexstr(pkt + 6, "help");
    run(pkt);
    CHECK(reply_is("OK") && console_has("monitor exits") && console_has("monitor npt"),
          "monitor help lists the commands");
    hexstr(pkt + 6, "bogus");
    run(pkt);
    CHECK(reply_is("OK") && console_has("unknown monitor command"), "unknown monitor command");
    hexstr(pkt + 6, "mem phys");
    run(pkt);
    CHECK(s.mem_phys && console_has("physical"), "monitor mem phys");
    hexstr(pkt + 6, "mem bogus");
    run(pkt);
    CHECK(s.mem_phys && console_has("usage"), "monitor mem with a bad argument");
    hexstr(pkt + 6, "cr3 1000");
    run(pkt);
    CHECK(s.active_cr3 == 0x1000, "monitor cr3");
    hexstr(pkt + 6, "cr3 zz");
    run(pkt);
    CHECK(s.active_cr3 == 0x1000 && console_has("usage"), "monitor cr3 with bad hex");
    hexstr(pkt + 6, "v2p 20");
    run(pkt);
    CHECK(console_has("0x20 -> 0x1020"), "monitor v2p through the active cr3");
    hexstr(pkt + 6, "npt 9000");
    run(pkt);
    CHECK(console_has("not mapped"), "monitor npt GPA outside the map");
    hexstr(pkt + 6, "npt");
    run(pkt);
    CHECK(console_has("npt on"), "monitor npt");
    hexstr(pkt + 6, "stream 1000");
    run(pkt);
    CHECK(r.stream == 1000 && reply_is("OK"), "monitor stream asks the session for N bytes");
    hexstr(pkt + 6, "stream 10x");
    run(pkt);
    CHECK(r.stream == 0 && console_has("usage"), "monitor stream with a bad count");
    hexstr(pkt + 6, "sysregs");
    run(pkt);
    CHECK(console_has("cr0") && console_has("efer"), "monitor sysregs");
    hexstr(pkt + 6, "exitsx");
    run(pkt);
    CHECK(console_has("unknown"), "a command's name must end at a space");
}

static void test_summary_and_xml(void)
{
    unsigned long len;
    const char *xml = stub_target_xml(&len);
    CHECK(len > 1000 && strstr(xml, "<architecture>i386:x86-64</architecture>") &&
              strstr(xml, "name=\"cr3\"") && strstr(xml, "name=\"system\""),
          "target.xml describes the layout");
    fresh();
    char pkt[16];
    snprintf(pkt, sizeof(pkt), "p%x", stub_reg_summary());
    run(pkt);
    CHECK(r.len == 2 * stub_reg_summary_size(), "the system summary register: %zu hex digits",
          r.len);
    CHECK(stub_reg_by_name("cr3", 3) >= 0 &&
              stub_reg_is_system((unsigned)stub_reg_by_name("cr3", 3)) &&
              !stub_reg_is_system((unsigned)stub_reg_by_name("rax", 3)),
          "registers by name");
}

/* A reply that does not fit is refused whole, not cut. */
/* The packet size follows the channel: 16 KiB on a UART (the default of
 * the table above is STUB_PACKET_SIZE, the network's), with no
 * rfx.pipeline; requests past it are refused, an `m` is cut to it. */
static bool reply_has(const char *want)
{
    static char text[512];
    size_t n = r.len < sizeof(text) - 1 ? r.len : sizeof(text) - 1;
    memcpy(text, r.buf, n);
    text[n] = 0;
    return strstr(text, want) != 0;
}

static void test_small_packets(void)
{
    fresh();
    s.packet_size = STUB_PACKET_SMALL;
    run("qSupported");
    CHECK(r.len > 15 && !memcmp(r.buf, "PacketSize=4000;", 16) && !reply_has("rfx"),
          "a UART's qSupported: %s", shown());
    run("qRfx.PhysReadBin:0,3ff9");
    CHECK(reply_is("E01"), "PhysReadBin past 0x3ff8: E01 (%s)", shown());
    run("qRfx.PhysReadBin:0,3ff8");
    CHECK(r.len == 0x3ff9 && r.buf[0] == 'b', "0x3ff8 bytes fit (%zu)", r.len);
    run("qRfx.PhysRead:0,1ffd");
    CHECK(reply_is("E01"), "hex PhysRead past 0x1ffc: E01");
    run("m0,8000");
    CHECK(r.len == 2 * 0x1ffc, "m is cut to the packet (%zu hex digits)", r.len);
    s.pipeline = true;
    s.packet_size = 0;
    run("qSupported");
    CHECK(!memcmp(r.buf, "PacketSize=20000;", 17) && reply_has(";rfx.pipeline+"),
          "the network's: %s", shown());
}

static void test_overflow(void)
{
    char small[64];
    struct reply tiny = {small, sizeof(small), 0, cbuf, sizeof(cbuf), 0, 0, false};
    char pkt[] = "g";
    fresh();
    enum stub_action a = stub_dispatch(&s, &tiny, pkt, 1);
    CHECK(a == STUB_STAY && tiny.len == 3 && !memcmp(small, "E0f", 3),
          "an oversize reply becomes E0f");
}

/* Random packets: nothing crashes, and only packets that ask to run
 * (c, s, vCont, D, k) ever leave the VM stopped state. */
static void test_fuzz(void)
{
    static const char alphabet[] = "0123456789abcdefgzZmMpPgGqQRfxX.:,;?-=cskDvCont";
    static const char *const starts[] = {
        "qRfx.",  "QRfx.Filter:", "m", "M", "Z", "p", "P", "H", "qXfer:features:read:target.xml:",
        "vCont;", "qRcmd,"};
    unsigned seed = 12345;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        char pkt[96];
        seed = seed * 1103515245 + 12345;
        size_t n =
            (size_t)snprintf(pkt, sizeof(pkt), "%s", starts[(seed >> 16) % ARRAY_SIZE(starts)]);
        size_t extra = (seed >> 8) % 40;
        for (size_t k = 0; k < extra && n < sizeof(pkt) - 1; k++) {
            seed = seed * 1103515245 + 12345;
            pkt[n++] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        pkt[n] = 0;
        fresh();
        enum stub_action a = run_n(pkt, n);
        bool may_run = !strncmp(pkt, "vCont;", 6);
        if (a != STUB_STAY && !may_run)
            bad++;
    }
    CHECK(bad == 0, "%d random packets resumed or detached the VM", bad);
}

int main(void)
{
    test_rows();
    test_effects();
    test_monitor();
    test_summary_and_xml();
    test_small_packets();
    test_overflow();
    test_fuzz();
    return check_report();
}
