/*
 * Vendor extensions, `qRfx.*` (queries) and `QRfx.*` (settings),
 * documented in docs/protocol.md: physical and virtual memory, address
 * translation, filters on exits, step modes, LBR, status.
 */
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

#define X(v) ((unsigned long long)(v))

static uint8_t bulk[STUB_PACKET_SIZE / 2]; /* PhysRead (hex) and VirtReadBin */

/* The status of the Hg thread (after a stop: the vCPU that stopped);
 * `stopped:` names the vCPU that stopped. */
static void rfx_status(struct stub *s, struct reply *r)
{
    struct stub_status st = {0};
    s->t->status(s->ctx, s->gthread, &st);
    reply_fmt(r,
              "mode:%s;exits:%llx;cr3:%llx;rip:%llx;cpl:%x;lbr:%x;stepping:%x;ctrlc:%llx;"
              "tsc_hz:%llx;threads:%x;thread:%x;stopped:%x;backend:%s",
              st.mode, X(st.exits), X(st.cr3), X(st.rip), st.cpl, s->lbr_on, st.stepping,
              X(s->ctrlc_window), X(s->tsc_hz), s->t->nthreads(s->ctx), s->gthread + 1,
              s->stopped_thread + 1, st.backend ? st.backend : "unknown");
}

static void rfx_sysregs(struct stub *s, struct reply *r)
{
    for (unsigned i = 0; i < stub_reg_count(); i++)
        if (stub_reg_is_system(i))
            reply_fmt(r, "%s:%llx;", stub_reg_name(i), X(stub_reg_value(s, s->gthread, i)));
}

/* PhysRead[Bin]:addr,len -- all or nothing */
static void rfx_phys_read(struct stub *s, struct reply *r, const char *p, size_t n, bool binary)
{
    uint64_t a[2];
    size_t max = binary ? stub_packet_size(s) - 8 : (stub_packet_size(s) - 8) / 2;
    if (stub_parse_list(p, n, a, 2) != 2 || a[1] > max) {
        reply_str(r, "E01");
        return;
    }
    size_t at = r->len;
    if (binary) {
        /* straight into the reply: a bulk read is one copy of guest memory */
        reply_str(r, "b");
        uint8_t *dst = reply_space(r, a[1]);
        if (dst && s->t->mem_read(s->ctx, s->gthread, true, 0, a[0], dst, a[1]) == a[1]) {
            r->len += a[1];
            return;
        }
    } else if (s->t->mem_read(s->ctx, s->gthread, true, 0, a[0], bulk, a[1]) == a[1]) {
        reply_hex(r, bulk, a[1]);
        return;
    }
    if (!r->overflow) {
        r->len = at;
        reply_str(r, "E14");
    }
}

/* VirtReadBin:cr3,addr,len -- as many bytes as are mapped from addr */
static void rfx_virt_read_bin(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t a[3];
    if (stub_parse_list(p, n, a, 3) != 3 || a[2] > stub_packet_size(s) - 8) {
        reply_str(r, "E01");
        return;
    }
    size_t at = r->len;
    reply_str(r, "b");
    uint8_t *dst = reply_space(r, a[2]);
    if (!dst)
        return;
    size_t got = s->t->mem_read(s->ctx, s->gthread, false, a[0], a[1], dst, a[2]);
    if (!got && a[2]) {
        r->len = at;
        reply_str(r, "E14");
        return;
    }
    r->len += got;
}

static void rfx_v2p(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t a[2], pa;
    if (stub_parse_list(p, n, a, 2) != 2) {
        reply_str(r, "E01");
        return;
    }
    if (s->t->v2p(s->ctx, s->gthread, a[0], a[1], &pa)) {
        reply_str(r, "E14");
        return;
    }
    reply_fmt(r, "%llx", X(pa));
}

static void rfx_g2h(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t gpa, hpa, leaf;
    unsigned shift;
    if (!n || stub_parse_hex(p, n, &gpa) != n) {
        reply_str(r, "E01");
        return;
    }
    if (s->t->g2h(s->ctx, gpa, &hpa, &leaf, &shift)) {
        reply_str(r, "E14");
        return;
    }
    reply_fmt(r, "%llx", X(hpa));
}

static void rfx_lbr_read(struct stub *s, struct reply *r)
{
    uint64_t x[4];
    if (s->t->lbr(s->ctx, s->gthread, STUB_LBR_READ, x)) {
        reply_str(r, "E.LBR unsupported by this CPU");
        return;
    }
    reply_fmt(r, "%llx,%llx,%llx,%llx", X(x[0]), X(x[1]), X(x[2]), X(x[3]));
}

static void rfx_exits(struct stub *s, struct reply *r)
{
    /* The summary text carries the per-reason counters; sent verbatim. */
    r->len = s->t->text(s->ctx, s->stopped_thread, STUB_TEXT_EXITS, 0, r->buf, r->cap);
}

typedef void rfx_query_fn(struct stub *s, struct reply *r, const char *p, size_t n);

static void q_status(struct stub *s, struct reply *r, const char *p, size_t n) { rfx_status(s, r); }
static void q_sysregs(struct stub *s, struct reply *r, const char *p, size_t n)
{
    rfx_sysregs(s, r);
}
static void q_phys_read_bin(struct stub *s, struct reply *r, const char *p, size_t n)
{
    rfx_phys_read(s, r, p, n, true);
}
static void q_phys_read(struct stub *s, struct reply *r, const char *p, size_t n)
{
    rfx_phys_read(s, r, p, n, false);
}
static void q_lbr(struct stub *s, struct reply *r, const char *p, size_t n) { rfx_lbr_read(s, r); }
static void q_exits(struct stub *s, struct reply *r, const char *p, size_t n) { rfx_exits(s, r); }

/* qRfx.NAME[ARGS]: longest names first where one is the prefix of another. */
static const struct {
    const char *name;
    rfx_query_fn *fn;
} rfx_queries[] = {
    {"Status", q_status},
    {"SysRegs", q_sysregs},
    {"PhysReadBin:", q_phys_read_bin},
    {"PhysRead:", q_phys_read},
    {"VirtReadBin:", rfx_virt_read_bin},
    {"V2P:", rfx_v2p},
    {"G2H:", rfx_g2h},
    {"Lbr", q_lbr},
    {"Exits", q_exits},
};

enum stub_action stub_rfx_query(struct stub *s, struct reply *r, char *p, size_t n)
{
    size_t k;
    p += 5, n -= 5; /* "qRfx." */
    for (size_t i = 0; i < sizeof(rfx_queries) / sizeof(rfx_queries[0]); i++)
        if (stub_is(p, n, rfx_queries[i].name, &k)) {
            rfx_queries[i].fn(s, r, p + k, n - k);
            break;
        }
    return STUB_STAY;
}

/* --- filters --- */

static int list_set32(uint32_t *list, unsigned *count, unsigned max, uint32_t x, bool on)
{
    for (unsigned i = 0; i < *count; i++) {
        if (list[i] == x) {
            if (!on)
                list[i] = list[--*count];
            return 0;
        }
    }
    if (!on)
        return 0;
    if (*count == max)
        return -1;
    list[(*count)++] = x;
    return 0;
}

static int list_set16(uint16_t *list, unsigned *count, unsigned max, uint16_t x, bool on)
{
    for (unsigned i = 0; i < *count; i++) {
        if (list[i] == x) {
            if (!on)
                list[i] = list[--*count];
            return 0;
        }
    }
    if (!on)
        return 0;
    if (*count == max)
        return -1;
    list[(*count)++] = x;
    return 0;
}

static uint32_t set_bit(uint32_t word, unsigned bit, bool on)
{
    return on ? word | (1u << bit) : word & ~(1u << bit);
}

/* KIND,args,on into f. Returns 0 / -1 (a bad kind or argument, or a list full). */
static int filter_set(struct filters *f, const char *p, size_t n)
{
    uint64_t a[2];
    size_t k;

    if (stub_is(p, n, "npf,", &k) && stub_parse_list(p + k, n - k, a, 1) == 1) {
        f->npf = a[0];
        return 0;
    }
    if (stub_is(p, n, "reset,", &k) && stub_parse_list(p + k, n - k, a, 1) == 1) {
        f->reset = a[0];
        return 0;
    }
    if (stub_is(p, n, "cpuid,all,", &k) && stub_parse_list(p + k, n - k, a, 1) == 1) {
        f->cpuid_all = a[0];
        return 0;
    }
    static const char *const kinds[] = {"cr_write,", "cr_read,", "excp,", "cpuid,",
                                        "msr,",      "io,",      "intn,"};
    for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!stub_is(p, n, kinds[i], &k))
            continue;
        if (stub_parse_list(p + k, n - k, a, 2) != 2)
            return -1;
        bool on = a[1];
        uint64_t x = a[0];
        switch (i) {
        case 0: /* MOV to CR0, CR3, CR4 (CR8 is the TPR: not filtered) */
            if (x != 0 && x != 3 && x != 4)
                return -1;
            f->cr_write = (uint16_t)set_bit(f->cr_write, (unsigned)x, on);
            return 0;
        case 1:
            if (x != 0 && x != 2 && x != 3 && x != 4)
                return -1;
            f->cr_read = (uint16_t)set_bit(f->cr_read, (unsigned)x, on);
            return 0;
        case 2:
            if (x > 31)
                return -1;
            f->excp = set_bit(f->excp, (unsigned)x, on);
            return 0;
        case 3:
            return list_set32(f->cpuid, &f->ncpuid, STUB_CPUID_FILTERS, (uint32_t)x, on);
        case 4:
            if (x > 0xffffffffull)
                return -1;
            return list_set32(f->msr, &f->nmsr, STUB_MSR_FILTERS, (uint32_t)x, on);
        case 5:
            if (x > 0xffff)
                return -1;
            return list_set16(f->io, &f->nio, STUB_IO_FILTERS, (uint16_t)x, on);
        default:
            if (x > 255)
                return -1;
            f->intn[x / 8] = (uint8_t)set_bit(f->intn[x / 8], (unsigned)(x % 8), on);
            return 0;
        }
    }
    return -1;
}

static void rfx_filter(struct stub *s, struct reply *r, const char *p, size_t n)
{
    struct filters old = s->f;
    if (filter_set(&s->f, p, n)) {
        s->f = old;
        reply_str(r, "E01");
        return;
    }
    const char *why = s->t->filters_unsupported(s->ctx, &s->f);
    if (why) {
        s->f = old;
        reply_fmt(r, "E.%s", why);
        return;
    }
    s->t->filters_changed(s->ctx, &old);
    reply_str(r, "OK");
}

void stub_filters_clear(struct stub *s)
{
    struct filters old = s->f;
    lib_memset(&s->f, 0, sizeof(s->f));
    s->t->filters_changed(s->ctx, &old);
    if (s->lbr_on)
        s->t->lbr(s->ctx, s->gthread, STUB_LBR_OFF, 0);
    s->lbr_on = false;
}

/* SysReg:name:hex -- a system register of the Hg thread */
static void rfx_set_sysreg(struct stub *s, struct reply *r, const char *p, size_t n)
{
    size_t name = 0;
    uint64_t val;
    while (name < n && p[name] != ':')
        name++;
    int reg = stub_reg_by_name(p, name);
    uint8_t buf[16] = {0};
    if (reg < 0 || !stub_reg_is_system((unsigned)reg) || name + 1 >= n ||
        stub_parse_hex(p + name + 1, n - name - 1, &val) != n - name - 1) {
        reply_str(r, "E01");
        return;
    }
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)(val >> (8 * b));
    reply_str(r, s->t->reg_write(s->ctx, s->gthread, (unsigned)reg, buf) ? "E01" : "OK");
}

static void rfx_phys_write(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t pa;
    size_t c = stub_parse_hex(p, n, &pa);
    long len =
        c && c < n && p[c] == ':' ? hex_decode(bulk, sizeof(bulk), p + c + 1, n - c - 1) : -1;
    if (len < 0) {
        reply_str(r, "E01");
        return;
    }
    size_t done = s->t->mem_write(s->ctx, s->gthread, true, 0, pa, bulk, (size_t)len);
    reply_str(r, done == (size_t)len ? "OK" : "E14");
}

static void s_active_cr3(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t a[1];
    if (!stub_parse_list(p, n, a, 1)) {
        reply_str(r, "E01");
        return;
    }
    s->active_cr3 = a[0];
    s->active_cr3_keep = n > 5 && !lib_memcmp(p + n - 5, ",keep", 5);
    reply_str(r, "OK");
}

static void s_step_global(struct stub *s, struct reply *r, const char *p, size_t n)
{
    if (n)
        return; /* an unknown setting: the empty reply */
    s->step_cr3_mode = false;
    reply_str(r, "OK");
}

static void s_step_cr3(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t a[1];
    if (stub_parse_list(p, n, a, 1) != 1) {
        reply_str(r, "E01");
        return;
    }
    s->step_cr3_mode = true;
    s->step_cr3 = a[0];
    reply_str(r, "OK");
}

static void s_lbr(struct stub *s, struct reply *r, const char *p, size_t n)
{
    uint64_t a[1];
    if (stub_parse_list(p, n, a, 1) != 1) {
        reply_str(r, "E01");
    } else if (s->t->lbr(s->ctx, s->gthread, a[0] ? STUB_LBR_ON : STUB_LBR_OFF, 0)) {
        reply_str(r, "E.LBR unsupported by this CPU");
    } else {
        s->lbr_on = a[0];
        reply_str(r, "OK");
    }
}

/* QRfx.NAME:ARGS */
static const struct {
    const char *name;
    rfx_query_fn *fn;
} rfx_settings[] = {
    {"Filter:", rfx_filter},
    {"SysReg:", rfx_set_sysreg},
    {"PhysWrite:", rfx_phys_write},
    {"ActiveCr3:", s_active_cr3},
    {"Step:global", s_step_global},
    {"Step:cr3,", s_step_cr3},
    {"Lbr:", s_lbr},
};

enum stub_action stub_rfx_set(struct stub *s, struct reply *r, char *p, size_t n)
{
    size_t k;
    p += 5, n -= 5; /* "QRfx." */
    for (size_t i = 0; i < sizeof(rfx_settings) / sizeof(rfx_settings[0]); i++)
        if (stub_is(p, n, rfx_settings[i].name, &k)) {
            rfx_settings[i].fn(s, r, p + k, n - k);
            break;
        }
    return STUB_STAY;
}
