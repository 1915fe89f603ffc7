/*
 * The command table: packet prefix -> handler (GDB manual, "Remote
 * Protocol", "Packets"). Unknown packets get the empty reply the protocol
 * asks for. Handlers parse defensively: a bad packet gets an error reply,
 * never a crash, and never resumes the VM. Each one writes its reply into
 * `r` and reaches the machine only through the target ops.
 */
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

/* Big enough for the largest register (a 16-byte XMM) and the system
 * summary. */
#define REG_BUF 512

size_t stub_parse_hex(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < n && i < 16; i++) {
        int d = hex_digit((uint8_t)s[i]);
        if (d < 0)
            break;
        v = (v << 4) | (uint64_t)d;
    }
    if (i < n && i == 16 && hex_digit((uint8_t)s[i]) >= 0)
        return 0; /* more than 64 bits */
    *out = v;
    return i;
}

unsigned stub_parse_list(const char *p, size_t n, uint64_t *out, unsigned max)
{
    unsigned k = 0;
    size_t i = 0;
    while (k < max && i < n) {
        size_t used = stub_parse_hex(p + i, n - i, &out[k]);
        if (!used)
            return k;
        k++;
        i += used;
        if (i < n && p[i] != ',')
            return k;
        i++;
    }
    return k;
}

bool stub_is(const char *p, size_t n, const char *name, size_t *rest)
{
    size_t l = lib_strlen(name);
    if (n < l || lib_memcmp(p, name, l))
        return false;
    *rest = l;
    return true;
}

uint64_t stub_reg_value(struct stub *s, unsigned t, unsigned n)
{
    uint8_t buf[16] = {0};
    unsigned sz = s->t->reg_read(s->ctx, t, n, buf);
    uint64_t v = 0;
    for (unsigned i = 0; i < sz && i < 8; i++)
        v |= (uint64_t)buf[i] << (8 * i);
    return v;
}

void stub_session_reset(struct stub *s)
{
    s->noack = false;
    s->mem_phys = false;
    if (!s->active_cr3_keep)
        s->active_cr3 = 0;
    s->gthread = s->cthread = s->stopped_thread;
}

/* Parses "ADDR,LEN" and returns the offset just past LEN, or 0. */
static size_t parse_addr_len(const char *p, size_t n, uint64_t *addr, uint64_t *len)
{
    size_t a = stub_parse_hex(p, n, addr);
    if (!a || a >= n || p[a] != ',')
        return 0;
    size_t l = stub_parse_hex(p + a + 1, n - a - 1, len);
    return l ? a + 1 + l : 0;
}

/* A thread id of H, T, vCont or qThreadExtraInfo: a gdb id (1..n), 0 for
 * any, -1 for all. Returns 0 with the 0-based thread (any and all: the one
 * that stopped), or -1 for a bad or unknown id. */
static int parse_thread(struct stub *s, const char *p, size_t n, unsigned *t)
{
    uint64_t id;
    if (n == 2 && p[0] == '-' && p[1] == '1') {
        *t = s->stopped_thread;
        return 0;
    }
    if (!n || stub_parse_hex(p, n, &id) != n)
        return -1;
    if (id == 0) {
        *t = s->stopped_thread;
        return 0;
    }
    if (id > s->t->nthreads(s->ctx))
        return -1;
    *t = (unsigned)id - 1;
    return 0;
}

static enum stub_action gdb_cmd_qsupported(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_fmt(r,
              "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;"
              "QStartNoAckMode+%s",
              (unsigned)stub_packet_size(s), s->pipeline ? ";rfx.pipeline+" : "");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_noack(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, "OK");
    s->noack = true;
    return STUB_STAY;
}

/* qXfer:features:read:target.xml:OFFSET,LENGTH */
static enum stub_action gdb_cmd_qxfer(struct stub *s, struct reply *r, char *p, size_t n)
{
    static const char prefix[] = "qXfer:features:read:target.xml:";
    uint64_t off, len;
    unsigned long xlen;
    const char *xml = stub_target_xml(&xlen);

    if (n < sizeof(prefix) - 1 || lib_memcmp(p, prefix, sizeof(prefix) - 1) ||
        !parse_addr_len(p + sizeof(prefix) - 1, n - (sizeof(prefix) - 1), &off, &len)) {
        reply_str(r, "E00");
        return STUB_STAY;
    }
    if (len > stub_packet_size(s) - 8)
        len = stub_packet_size(s) - 8;
    if (off >= xlen) {
        reply_str(r, "l");
        return STUB_STAY;
    }
    uint64_t chunk = xlen - off < len ? xlen - off : len;
    reply_str(r, off + chunk < xlen ? "m" : "l");
    reply_bytes(r, xml + off, chunk);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_stop_reason(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, s->last_stop[0] ? s->last_stop : "T05");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_regs(struct stub *s, struct reply *r, char *p, size_t n)
{
    uint8_t buf[16];
    for (unsigned i = 0; i < stub_reg_count(); i++) {
        unsigned sz = s->t->reg_read(s->ctx, s->gthread, i, buf);
        reply_hex(r, buf, sz);
    }
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_regs(struct stub *s, struct reply *r, char *p, size_t n)
{
    size_t pos = 1;
    uint8_t buf[16];
    for (unsigned i = 0; i < stub_reg_count() && pos < n; i++) {
        unsigned sz = stub_reg_size(i);
        if (pos + 2 * sz > n || hex_decode(buf, sizeof(buf), p + pos, 2 * sz) < 0) {
            reply_str(r, "E01");
            return STUB_STAY;
        }
        /* A value the CPU refuses (a reserved CR4 bit, say) keeps the old one. */
        s->t->reg_write(s->ctx, s->gthread, i, buf);
        pos += 2 * sz;
    }
    reply_str(r, "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_reg(struct stub *s, struct reply *r, char *p, size_t n)
{
    uint64_t reg;
    uint8_t buf[REG_BUF];
    if (stub_parse_hex(p + 1, n - 1, &reg) != n - 1 || n < 2) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    if (reg == stub_reg_summary()) {
        unsigned k = 0;
        for (unsigned i = 0; i < stub_reg_count(); i++) {
            if (!stub_reg_is_system(i))
                continue;
            uint64_t v = stub_reg_value(s, s->gthread, i);
            for (unsigned b = 0; b < 8; b++)
                buf[k++] = (uint8_t)(v >> (8 * b));
        }
        reply_hex(r, buf, k);
        return STUB_STAY;
    }
    unsigned sz =
        reg < stub_reg_count() ? s->t->reg_read(s->ctx, s->gthread, (unsigned)reg, buf) : 0;
    if (!sz) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    reply_hex(r, buf, sz);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_reg(struct stub *s, struct reply *r, char *p, size_t n)
{
    uint64_t reg;
    uint8_t buf[16] = {0};
    size_t k = stub_parse_hex(p + 1, n - 1, &reg);
    unsigned sz = k && reg < stub_reg_count() ? stub_reg_size((unsigned)reg) : 0;
    if (!sz || p[1 + k] != '=' || n - 2 - k != 2 * sz ||
        hex_decode(buf, sizeof(buf), p + 2 + k, 2 * sz) < 0 ||
        s->t->reg_write(s->ctx, s->gthread, (unsigned)reg, buf)) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    reply_str(r, "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_mem(struct stub *s, struct reply *r, char *p, size_t n)
{
    static uint8_t data[STUB_PACKET_SIZE / 2];
    uint64_t addr, len;
    if (parse_addr_len(p + 1, n - 1, &addr, &len) != n - 1) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    if (len > (stub_packet_size(s) - 8) / 2)
        len = (stub_packet_size(s) - 8) / 2;
    size_t got = s->t->mem_read(s->ctx, s->gthread, s->mem_phys, s->active_cr3, addr, data, len);
    if (!got && len) {
        reply_str(r, "E14");
        return STUB_STAY;
    }
    reply_hex(r, data, got);
    return STUB_STAY;
}

/* M addr,len:hex  and  X addr,len:binary */
static enum stub_action write_mem(struct stub *s, struct reply *r, char *p, size_t n, bool binary)
{
    static uint8_t data[STUB_PACKET_SIZE];
    uint64_t addr, len;
    size_t k = parse_addr_len(p + 1, n - 1, &addr, &len);
    if (!k || 1 + k >= n || p[1 + k] != ':' || len > sizeof(data)) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    const char *src = p + 2 + k;
    size_t srclen = n - 2 - k;
    if (binary) {
        if (srclen != len) {
            reply_str(r, "E01");
            return STUB_STAY;
        }
        lib_memcpy(data, src, len);
    } else if (srclen != 2 * len || hex_decode(data, sizeof(data), src, srclen) < 0) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    size_t done = s->t->mem_write(s->ctx, s->gthread, s->mem_phys, s->active_cr3, addr, data, len);
    reply_str(r, done == len ? "OK" : "E14");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_mem(struct stub *s, struct reply *r, char *p, size_t n)
{
    return write_mem(s, r, p, n, false);
}

static enum stub_action gdb_cmd_write_mem_bin(struct stub *s, struct reply *r, char *p, size_t n)
{
    return write_mem(s, r, p, n, true);
}

/* The rip register of thread t, written for "c ADDR" / "s ADDR". */
static int set_pc(struct stub *s, unsigned t, uint64_t addr)
{
    uint8_t buf[8];
    for (unsigned b = 0; b < 8; b++)
        buf[b] = (uint8_t)(addr >> (8 * b));
    return s->t->reg_write(s->ctx, t, 16, buf);
}

/* c [addr] / s [addr] */
static enum stub_action resume(struct stub *s, struct reply *r, char *p, size_t n, bool step)
{
    uint64_t addr;
    if (n > 1) {
        if (stub_parse_hex(p + 1, n - 1, &addr) != n - 1 || set_pc(s, s->cthread, addr)) {
            reply_str(r, "E01");
            return STUB_STAY;
        }
    }
    s->step_thread = s->cthread;
    return step ? STUB_STEP : STUB_RESUME;
}

static enum stub_action gdb_cmd_continue(struct stub *s, struct reply *r, char *p, size_t n)
{
    return resume(s, r, p, n, false);
}

static enum stub_action gdb_cmd_step(struct stub *s, struct reply *r, char *p, size_t n)
{
    return resume(s, r, p, n, true);
}

/*
 * vCont;ACTION[:TID];... -- all-stop: a step in the list makes it a step of
 * that thread (the others stay where they are: the stepped vCPU alone
 * runs); otherwise every vCPU continues. Signals (C/S) are ignored.
 */
static enum stub_action gdb_cmd_vcont(struct stub *s, struct reply *r, char *p, size_t n)
{
    size_t k;
    if (stub_is(p, n, "vCont?", &k) && k == n) {
        reply_str(r, "vCont;c;C;s;S");
        return STUB_STAY;
    }
    if (!stub_is(p, n, "vCont;", &k) || k == n) {
        reply_str(r, "");
        return STUB_STAY;
    }
    bool step = false, any = false;
    unsigned step_t = s->cthread;
    for (size_t i = k; i < n;) {
        size_t end = i;
        while (end < n && p[end] != ';')
            end++;
        char a = p[i];
        if (a != 'c' && a != 'C' && a != 's' && a != 'S') {
            reply_str(r, "E01");
            return STUB_STAY;
        }
        size_t colon = i + 1;
        while (colon < end && p[colon] != ':')
            colon++;
        unsigned t = s->cthread;
        if (colon < end && parse_thread(s, p + colon + 1, end - colon - 1, &t)) {
            reply_str(r, "E01");
            return STUB_STAY;
        }
        if ((a == 's' || a == 'S') && !step) {
            step = true;
            step_t = t;
        }
        any = true;
        i = end + 1;
    }
    if (!any) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    s->step_thread = step_t;
    return step ? STUB_STEP : STUB_RESUME;
}

static enum stub_action gdb_cmd_breakpoint(struct stub *s, struct reply *r, char *p, size_t n)
{
    uint64_t type, addr, kind;
    size_t k = stub_parse_hex(p + 1, n - 1, &type);
    if (k != 1 || n < 3 || p[2] != ',' || parse_addr_len(p + 3, n - 3, &addr, &kind) != n - 3 ||
        type > 4) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    int ret = p[0] == 'Z' ? s->t->bp_insert(s->ctx, (unsigned)type, addr, (unsigned)kind)
                          : s->t->bp_remove(s->ctx, (unsigned)type, addr, (unsigned)kind);
    reply_str(r, ret ? "E0e" : "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_detach(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, "OK");
    return STUB_DETACH;
}

static enum stub_action gdb_cmd_monitor(struct stub *s, struct reply *r, char *p, size_t n)
{
    static uint8_t cmd[STUB_PACKET_SIZE / 2 + 1];
    long k = hex_decode(cmd, sizeof(cmd) - 1, p + 6, n - 6);
    if (k < 0) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    cmd[k] = 0;
    stub_monitor(s, r, (char *)cmd, (size_t)k);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_thread_list(struct stub *s, struct reply *r, char *p, size_t n)
{
    if (p[1] == 's') {
        reply_str(r, "l"); /* qsThreadInfo: qfThreadInfo gave them all */
        return STUB_STAY;
    }
    unsigned count = s->t->nthreads(s->ctx);
    reply_str(r, "m");
    for (unsigned t = 0; t < count; t++)
        reply_fmt(r, t ? ",%x" : "%x", t + 1);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_current_thread(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_fmt(r, "QC%x", s->stopped_thread + 1);
    return STUB_STAY;
}

/* Hg<tid> (registers and memory) / Hc<tid> (step and continue) */
static enum stub_action gdb_cmd_set_thread(struct stub *s, struct reply *r, char *p, size_t n)
{
    unsigned t;
    if (n < 3 || (p[1] != 'g' && p[1] != 'c') || parse_thread(s, p + 2, n - 2, &t)) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    if (p[1] == 'g')
        s->gthread = t;
    else
        s->cthread = t;
    reply_str(r, "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_thread_alive(struct stub *s, struct reply *r, char *p, size_t n)
{
    unsigned t;
    reply_str(r, parse_thread(s, p + 1, n - 1, &t) ? "E01" : "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_thread_info(struct stub *s, struct reply *r, char *p, size_t n)
{
    static char text[256];
    size_t k;
    unsigned t;
    if (!stub_is(p, n, "qThreadExtraInfo,", &k) || parse_thread(s, p + k, n - k, &t)) {
        reply_str(r, "E01");
        return STUB_STAY;
    }
    unsigned long len = s->t->text(s->ctx, t, STUB_TEXT_THREAD, 0, text, sizeof(text));
    reply_hex(r, (const uint8_t *)text, len);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_attached(struct stub *s, struct reply *r, char *p, size_t n)
{
    reply_str(r, "1"); /* we attached to a running VM: detach, never kill */
    return STUB_STAY;
}

typedef enum stub_action stub_cmd_fn(struct stub *s, struct reply *r, char *p, size_t n);

struct stub_cmd {
    const char *prefix;
    stub_cmd_fn *fn;
};

/* Longest prefixes first where one is the prefix of another. */
static const struct stub_cmd stub_cmds[] = {
    {"qSupported", gdb_cmd_qsupported},
    {"QStartNoAckMode", gdb_cmd_noack},
    {"qXfer:features:read:", gdb_cmd_qxfer},
    {"qRcmd,", gdb_cmd_monitor},
    {"qRfx.", stub_rfx_query},
    {"QRfx.", stub_rfx_set},
    {"qAttached", gdb_cmd_attached},
    {"qHostInfo", stub_lldb_host_info},
    {"qProcessInfo", stub_lldb_process_info},
    {"qShlibInfoAddr", stub_lldb_shlib_info_addr},
    {"qRegisterInfo", stub_lldb_register_info},
    {"qfThreadInfo", gdb_cmd_thread_list},
    {"qsThreadInfo", gdb_cmd_thread_list},
    {"qThreadExtraInfo,", gdb_cmd_thread_info},
    {"qC", gdb_cmd_current_thread},
    {"vCont", gdb_cmd_vcont},
    {"?", gdb_cmd_stop_reason},
    {"g", gdb_cmd_read_regs},
    {"G", gdb_cmd_write_regs},
    {"p", gdb_cmd_read_reg},
    {"P", gdb_cmd_write_reg},
    {"m", gdb_cmd_read_mem},
    {"M", gdb_cmd_write_mem},
    {"X", gdb_cmd_write_mem_bin},
    {"c", gdb_cmd_continue},
    {"s", gdb_cmd_step},
    {"Z", gdb_cmd_breakpoint},
    {"z", gdb_cmd_breakpoint},
    {"D", gdb_cmd_detach},
    {"k", gdb_cmd_detach},
    {"H", gdb_cmd_set_thread},
    {"T", gdb_cmd_thread_alive},
};

enum stub_action stub_dispatch(struct stub *s, struct reply *r, char *pkt, size_t len)
{
    reply_reset(r);
    for (size_t i = 0; i < sizeof(stub_cmds) / sizeof(stub_cmds[0]); i++) {
        size_t pl = lib_strlen(stub_cmds[i].prefix);
        if (len >= pl && !lib_memcmp(pkt, stub_cmds[i].prefix, pl)) {
            enum stub_action a = stub_cmds[i].fn(s, r, pkt, len);
            if (r->overflow) { /* a reply that does not fit is refused whole */
                reply_reset(r);
                reply_str(r, "E0f");
                return STUB_STAY;
            }
            return a;
        }
    }
    return STUB_STAY; /* the empty reply: an unknown packet */
}
