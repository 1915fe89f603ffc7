/*
 * The command table: packet prefix -> handler. Unknown packets get the
 * empty reply the protocol asks for. Handlers parse defensively: a bad
 * packet gets an error reply, never a crash, and never resumes the VM.
 */
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

#define X(v) ((unsigned long long)(v))

static char reply[2 * STUB_PACKET_SIZE + 8];
static uint8_t data[STUB_PACKET_SIZE];

char *stub_reply_buf(void) { return reply; }

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

/* Parses "ADDR,LEN" and returns the offset just past LEN, or 0. */
static size_t parse_addr_len(const char *p, size_t n, uint64_t *addr, uint64_t *len)
{
    size_t a = stub_parse_hex(p, n, addr);
    if (!a || a >= n || p[a] != ',')
        return 0;
    size_t l = stub_parse_hex(p + a + 1, n - a - 1, len);
    return l ? a + 1 + l : 0;
}

static enum stub_action gdb_cmd_qsupported(struct vcpu *v, char *p, size_t n)
{
    char r[160];
    fmt_snprintf(r, sizeof(r),
                 "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;"
                 "QStartNoAckMode+",
                 STUB_PACKET_SIZE);
    stub_send_str(r);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_noack(struct vcpu *v, char *p, size_t n)
{
    stub_send_str("OK");
    stub.noack = true;
    return STUB_STAY;
}

/* qXfer:features:read:target.xml:OFFSET,LENGTH */
static enum stub_action gdb_cmd_qxfer(struct vcpu *v, char *p, size_t n)
{
    static const char prefix[] = "qXfer:features:read:target.xml:";
    uint64_t off, len;
    unsigned long xlen;
    const char *xml = stub_target_xml_get(&xlen);

    if (n < sizeof(prefix) - 1 || lib_memcmp(p, prefix, sizeof(prefix) - 1) ||
        !parse_addr_len(p + sizeof(prefix) - 1, n - (sizeof(prefix) - 1), &off, &len)) {
        stub_send_str("E00");
        return STUB_STAY;
    }
    if (len > STUB_PACKET_SIZE - 8)
        len = STUB_PACKET_SIZE - 8;
    if (off >= xlen) {
        stub_send_str("l");
        return STUB_STAY;
    }
    uint64_t chunk = xlen - off < len ? xlen - off : len;
    reply[0] = off + chunk < xlen ? 'm' : 'l';
    lib_memcpy(reply + 1, xml + off, chunk);
    stub_send(reply, chunk + 1);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_stop_reason(struct vcpu *v, char *p, size_t n)
{
    stub_send_str(stub.last_stop[0] ? stub.last_stop : "T05");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_regs(struct vcpu *v, char *p, size_t n)
{
    size_t len = 0;
    uint8_t buf[16];
    for (unsigned i = 0; i < stub_reg_count(); i++) {
        unsigned sz = stub_reg_read(v, i, buf);
        len += hex_encode(reply + len, sizeof(reply) - len, buf, sz);
    }
    stub_send(reply, len);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_regs(struct vcpu *v, char *p, size_t n)
{
    size_t pos = 1;
    uint8_t buf[16];
    for (unsigned i = 0; i < stub_reg_count() && pos < n; i++) {
        unsigned sz = stub_reg_read(v, i, buf); /* its size */
        if (pos + 2 * sz > n || hex_decode(buf, sizeof(buf), p + pos, 2 * sz) < 0) {
            stub_send_str("E01");
            return STUB_STAY;
        }
        stub_reg_write(v, i, buf);
        pos += 2 * sz;
    }
    stub_send_str("OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_reg(struct vcpu *v, char *p, size_t n)
{
    uint64_t r;
    uint8_t buf[16];
    unsigned sz;
    if (!stub_parse_hex(p + 1, n - 1, &r)) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    if (r == stub_reg_summary()) {
        sz = stub_reg_summary_read(v, data, sizeof(data));
        stub_send(reply, hex_encode(reply, sizeof(reply), data, sz));
        return STUB_STAY;
    }
    if (!(sz = stub_reg_read(v, (unsigned)r, buf))) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    stub_send(reply, hex_encode(reply, sizeof(reply), buf, sz));
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_reg(struct vcpu *v, char *p, size_t n)
{
    uint64_t r;
    uint8_t buf[16] = {0}, probe[16];
    size_t k = stub_parse_hex(p + 1, n - 1, &r);
    unsigned sz = k ? stub_reg_read(v, (unsigned)r, probe) : 0;
    if (!sz || p[1 + k] != '=' || n - 2 - k != 2 * sz ||
        hex_decode(buf, sizeof(buf), p + 2 + k, 2 * sz) < 0 ||
        stub_reg_write(v, (unsigned)r, buf)) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    stub_send_str("OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_read_mem(struct vcpu *v, char *p, size_t n)
{
    uint64_t addr, len;
    if (!parse_addr_len(p + 1, n - 1, &addr, &len)) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    if (len > (STUB_PACKET_SIZE - 8) / 2)
        len = (STUB_PACKET_SIZE - 8) / 2;
    size_t got = stub_mem_read(v, addr, data, len);
    if (!got && len) {
        stub_send_str("E14");
        return STUB_STAY;
    }
    stub_send(reply, hex_encode(reply, sizeof(reply), data, got));
    return STUB_STAY;
}

/* M addr,len:hex  and  X addr,len:binary */
static enum stub_action write_mem(struct vcpu *v, char *p, size_t n, bool binary)
{
    uint64_t addr, len;
    size_t k = parse_addr_len(p + 1, n - 1, &addr, &len);
    if (!k || p[1 + k] != ':' || len > sizeof(data)) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    const char *src = p + 2 + k;
    size_t srclen = n - 2 - k;
    if (binary) {
        if (srclen != len) {
            stub_send_str("E01");
            return STUB_STAY;
        }
        lib_memcpy(data, src, len);
    } else if (srclen != 2 * len || hex_decode(data, sizeof(data), src, srclen) < 0) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    stub_send_str(stub_mem_write(v, addr, data, len) == len ? "OK" : "E14");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_write_mem(struct vcpu *v, char *p, size_t n)
{
    return write_mem(v, p, n, false);
}
static enum stub_action gdb_cmd_write_mem_bin(struct vcpu *v, char *p, size_t n)
{
    return write_mem(v, p, n, true);
}

/* c [addr] / s [addr]: resuming at another address is refused (E01). */
static enum stub_action resume(struct vcpu *v, char *p, size_t n, bool step)
{
    uint64_t addr;
    if (n > 1) {
        if (!stub_parse_hex(p + 1, n - 1, &addr)) {
            stub_send_str("E01");
            return STUB_STAY;
        }
        v->ops->set_rip(v, addr);
    }
    return step ? STUB_STEP : STUB_RESUME;
}

static enum stub_action gdb_cmd_continue(struct vcpu *v, char *p, size_t n)
{
    return resume(v, p, n, false);
}
static enum stub_action gdb_cmd_step(struct vcpu *v, char *p, size_t n)
{
    return resume(v, p, n, true);
}

static enum stub_action gdb_cmd_vcont(struct vcpu *v, char *p, size_t n)
{
    if (n == 6 && !lib_memcmp(p, "vCont?", 6)) {
        stub_send_str("vCont;c;C;s;S");
        return STUB_STAY;
    }
    /* One thread: the first action decides (vCont;s:1;c is a step). */
    if (n >= 7 && !lib_memcmp(p, "vCont;", 6)) {
        char a = p[6];
        if (a == 's' || a == 'S')
            return STUB_STEP;
        if (a == 'c' || a == 'C')
            return STUB_RESUME;
    }
    stub_send_str("");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_breakpoint(struct vcpu *v, char *p, size_t n)
{
    uint64_t type, addr, kind;
    size_t k = stub_parse_hex(p + 1, n - 1, &type);
    if (k != 1 || p[2] != ',' || !parse_addr_len(p + 3, n - 3, &addr, &kind) || type > 4) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    int r = p[0] == 'Z' ? stub_bp_insert(v, (unsigned)type, addr, (unsigned)kind)
                        : stub_bp_remove(v, (unsigned)type, addr, (unsigned)kind);
    stub_send_str(r ? "E0e" : "OK");
    return STUB_STAY;
}

static enum stub_action gdb_cmd_detach(struct vcpu *v, char *p, size_t n)
{
    stub_send_str("OK");
    return STUB_DETACH;
}

static enum stub_action gdb_cmd_monitor(struct vcpu *v, char *p, size_t n)
{
    static uint8_t cmd[STUB_PACKET_SIZE / 2 + 1];
    long k = hex_decode(cmd, sizeof(cmd) - 1, p + 6, n - 6);
    if (k < 0) {
        stub_send_str("E01");
        return STUB_STAY;
    }
    cmd[k] = 0;
    stub_monitor(v, (char *)cmd, (size_t)k);
    return STUB_STAY;
}

static enum stub_action gdb_cmd_thread(struct vcpu *v, char *p, size_t n)
{
    if (n >= 2 && p[1] == 'C')
        stub_send_str("QC1");
    else if (n >= 12 && !lib_memcmp(p, "qfThreadInfo", 12))
        stub_send_str("m1");
    else if (n >= 12 && !lib_memcmp(p, "qsThreadInfo", 12))
        stub_send_str("l");
    else
        stub_send_str("OK"); /* Hg / Hc / T: the one thread */
    return STUB_STAY;
}

static enum stub_action gdb_cmd_attached(struct vcpu *v, char *p, size_t n)
{
    stub_send_str("1"); /* we attached to a running VM: detach, never kill */
    return STUB_STAY;
}

typedef enum stub_action stub_cmd_fn(struct vcpu *v, char *p, size_t n);

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
    {"qfThreadInfo", gdb_cmd_thread},
    {"qsThreadInfo", gdb_cmd_thread},
    {"qC", gdb_cmd_thread},
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
    {"H", gdb_cmd_thread},
    {"T", gdb_cmd_thread},
};

enum stub_action stub_dispatch(struct vcpu *v, char *pkt, size_t len)
{
    for (size_t i = 0; i < sizeof(stub_cmds) / sizeof(stub_cmds[0]); i++) {
        size_t pl = lib_strlen(stub_cmds[i].prefix);
        if (len >= pl && !lib_memcmp(pkt, stub_cmds[i].prefix, pl))
            return stub_cmds[i].fn(v, pkt, len);
    }
    stub_send_str("");
    return STUB_STAY;
}
