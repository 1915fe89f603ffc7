/*
 * Vendor extensions, `qRfx.*` (queries) and `QRfx.*` (settings): the seed
 * paper's §11.3 features, documented in docs/protocol.md.
 */
#include <stdarg.h>

#include "common/cpu.h"
#include "hw/x86.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"
#include "vmm/core/gmem.h"

#define X(v) ((unsigned long long)(v))

static uint8_t bulk[STUB_PACKET_SIZE];

static bool is(const char *p, size_t n, const char *name, size_t *rest)
{
    size_t l = lib_strlen(name);
    if (n < l || lib_memcmp(p, name, l))
        return false;
    *rest = l;
    return true;
}

/* Parses comma-separated hex numbers; returns how many (up to max). */
static unsigned parse_list(const char *p, size_t n, uint64_t *out, unsigned max)
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

static void reply_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply_fmt(const char *fmt, ...)
{
    char *r = stub_reply_buf();
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vsnprintf(r, 2 * STUB_PACKET_SIZE, fmt, ap);
    va_end(ap);
    stub_send(r, (size_t)n);
}

static void send_binary(const uint8_t *d, size_t len)
{
    char *r = stub_reply_buf();
    r[0] = 'b';
    lib_memcpy(r + 1, d, len);
    stub_send(r, len + 1);
}

static void rfx_status(struct vcpu *v)
{
    reply_fmt(
        "mode:%s;exits:%llx;cr3:%llx;rip:%llx;cpl:%x;lbr:%x;stepping:%x;ctrlc:%llx;tsc_hz:%llx",
        vcpu_mode_name(v), X(v->exits), X(v->ops->get_cr(v, 3)), X(v->ops->get_rip(v)),
        v->ops->get_cpl(v), stub.lbr_on, stub.stepping, X(stub.ctrlc_window), X(stub.tsc_hz));
}

static void rfx_sysregs(struct vcpu *v)
{
    char *r = stub_reply_buf();
    size_t len = 0;
    for (unsigned i = 0; i < stub_reg_count(); i++) {
        if (stub_reg_is_system(i))
            len += (size_t)fmt_snprintf(r + len, 2 * STUB_PACKET_SIZE - len, "%s:%llx;",
                                        stub_reg_name(i), X(stub_reg_value(v, i)));
    }
    stub_send(r, len);
}

static void rfx_phys_read(struct vcpu *v, const char *p, size_t n, bool binary)
{
    uint64_t a[2];
    size_t max = binary ? STUB_PACKET_SIZE - 8 : (STUB_PACKET_SIZE - 8) / 2;
    if (parse_list(p, n, a, 2) != 2 || a[1] > max) {
        stub_send_str("E01");
        return;
    }
    if (gmem_read(v, a[0], bulk, a[1])) {
        stub_send_str("E14");
        return;
    }
    if (binary)
        send_binary(bulk, a[1]);
    else
        stub_send(stub_reply_buf(), hex_encode(stub_reply_buf(), 2 * STUB_PACKET_SIZE, bulk, a[1]));
}

static void rfx_virt_read_bin(struct vcpu *v, const char *p, size_t n)
{
    uint64_t a[3];
    if (parse_list(p, n, a, 3) != 3 || a[2] > STUB_PACKET_SIZE - 8) {
        stub_send_str("E01");
        return;
    }
    size_t got = stub_virt_read(v, a[0], a[1], bulk, a[2]);
    if (!got && a[2]) {
        stub_send_str("E14");
        return;
    }
    send_binary(bulk, got);
}

static void rfx_v2p(struct vcpu *v, const char *p, size_t n)
{
    uint64_t a[2], pa;
    if (parse_list(p, n, a, 2) != 2) {
        stub_send_str("E01");
        return;
    }
    if (!(v->ops->get_cr(v, 0) & CR0_PG))
        pa = a[1];
    else if (stub_v2p(v, a[0], a[1], &pa)) {
        stub_send_str("E14");
        return;
    }
    reply_fmt("%llx", X(pa));
}

static void rfx_g2h(struct vcpu *v, const char *p, size_t n)
{
    uint64_t gpa;
    if (!stub_parse_hex(p, n, &gpa)) {
        stub_send_str("E01");
        return;
    }
    uint64_t hpa, leaf;
    unsigned shift;
    if (v->ops->g2h(v, gpa, &hpa, &leaf, &shift)) {
        stub_send_str("E14");
        return;
    }
    reply_fmt("%llx", X(hpa));
}

static void rfx_lbr_read(struct vcpu *v)
{
    uint64_t r[4];
    if (!v->ops->lbr_supported(v)) {
        stub_send_str("E.LBR unsupported by this CPU");
        return;
    }
    v->ops->lbr_read(v, r);
    reply_fmt("%llx,%llx,%llx,%llx", X(r[0]), X(r[1]), X(r[2]), X(r[3]));
}

static void rfx_exits(struct vcpu *v)
{
    /* The summary text carries the per-reason counters; send it verbatim. */
    char *r = stub_reply_buf();
    unsigned long len = v->ops->summary(v, r, 2 * STUB_PACKET_SIZE);
    stub_send(r, len);
}

enum stub_action stub_rfx_query(struct vcpu *v, char *p, size_t n)
{
    size_t k;
    p += 5, n -= 5; /* "qRfx." */
    if (is(p, n, "Status", &k))
        rfx_status(v);
    else if (is(p, n, "SysRegs", &k))
        rfx_sysregs(v);
    else if (is(p, n, "PhysReadBin:", &k))
        rfx_phys_read(v, p + k, n - k, true);
    else if (is(p, n, "PhysRead:", &k))
        rfx_phys_read(v, p + k, n - k, false);
    else if (is(p, n, "VirtReadBin:", &k))
        rfx_virt_read_bin(v, p + k, n - k);
    else if (is(p, n, "V2P:", &k))
        rfx_v2p(v, p + k, n - k);
    else if (is(p, n, "G2H:", &k))
        rfx_g2h(v, p + k, n - k);
    else if (is(p, n, "Lbr", &k))
        rfx_lbr_read(v);
    else if (is(p, n, "Exits", &k))
        rfx_exits(v);
    else
        stub_send_str("");
    return STUB_STAY;
}

/* --- filters --- */

static int list_add32(uint32_t *list, unsigned *count, unsigned max, uint32_t x, bool on)
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

static bool policy_io_port(struct vcpu *v, uint16_t port)
{
    const struct log_target *c = &v->info->ctrl, *l = &v->info->log;
    return port == 0x60 || port == 0x64 || port == 0x92 || port == 0xcf9 ||
           (port >= c->port && port < c->port + 8) || (port >= l->port && port < l->port + 8);
}

static bool policy_msr(uint32_t msr)
{
    return msr == MSR_EFER || msr == MSR_VM_CR || msr == MSR_VM_HSAVE_PA;
}

/* KIND,args,on */
static int rfx_filter(struct vcpu *v, const char *p, size_t n)
{
    uint64_t a[2];
    size_t k;
    unsigned got;
    struct filters *f = &stub.f;

    if (is(p, n, "npf,", &k) && parse_list(p + k, n - k, a, 1) == 1) {
        f->npf = a[0];
        return 0;
    }
    if (is(p, n, "reset,", &k) && parse_list(p + k, n - k, a, 1) == 1) {
        f->reset = a[0];
        return 0;
    }
    if (is(p, n, "cpuid,all,", &k) && parse_list(p + k, n - k, a, 1) == 1) {
        f->cpuid_all = a[0];
        return 0;
    }
    const char *kinds[] = {"cr_write,", "cr_read,", "excp,", "cpuid,", "msr,", "io,", "intn,"};
    for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!is(p, n, kinds[i], &k))
            continue;
        if ((got = parse_list(p + k, n - k, a, 2)) != 2)
            return -1;
        bool on = a[1];
        uint64_t x = a[0];
        switch (i) {
        case 0: /* CR0, CR3, CR4 writes always exit (policy) */
            if (x != 0 && x != 3 && x != 4)
                return -1;
            f->cr_write = (uint16_t)(on ? f->cr_write | (1u << x) : f->cr_write & ~(1u << x));
            return 0;
        case 1:
            if (x != 0 && x != 2 && x != 3 && x != 4)
                return -1;
            f->cr_read = (uint16_t)(on ? f->cr_read | (1u << x) : f->cr_read & ~(1u << x));
            break;
        case 2:
            if (x > 31)
                return -1;
            f->excp = on ? f->excp | (1u << x) : f->excp & ~(1u << x);
            break;
        case 3:
            return list_add32(f->cpuid, &f->ncpuid, STUB_CPUID_FILTERS, (uint32_t)x, on);
        case 4:
            if (list_add32(f->msr, &f->nmsr, STUB_MSR_FILTERS, (uint32_t)x, on))
                return -1;
            if (!policy_msr((uint32_t)x)) {
                v->ops->set_intercept(v, ICPT_MSR_READ, (uint32_t)x, on);
                v->ops->set_intercept(v, ICPT_MSR_WRITE, (uint32_t)x, on);
            }
            return 0;
        case 5: {
            uint32_t tmp[STUB_IO_FILTERS];
            if (x > 0xffff)
                return -1;
            for (unsigned j = 0; j < f->nio; j++)
                tmp[j] = f->io[j];
            unsigned cnt = f->nio;
            if (list_add32(tmp, &cnt, STUB_IO_FILTERS, (uint32_t)x, on))
                return -1;
            for (unsigned j = 0; j < cnt; j++)
                f->io[j] = (uint16_t)tmp[j];
            f->nio = cnt;
            if (!policy_io_port(v, (uint16_t)x))
                v->ops->set_intercept(v, ICPT_IO, (uint32_t)x, on);
            return 0;
        }
        default:
            if (x > 255)
                return -1;
            f->intn[x / 8] = (uint8_t)(on ? f->intn[x / 8] | (1u << (x % 8))
                                          : f->intn[x / 8] & ~(1u << (x % 8)));
            return 0;
        }
        stub_sync_intercepts(v);
        return 0;
    }
    return -1;
}

void stub_filters_clear(struct vcpu *v)
{
    for (unsigned i = 0; i < stub.f.nmsr; i++)
        if (!policy_msr(stub.f.msr[i])) {
            v->ops->set_intercept(v, ICPT_MSR_READ, stub.f.msr[i], false);
            v->ops->set_intercept(v, ICPT_MSR_WRITE, stub.f.msr[i], false);
        }
    for (unsigned i = 0; i < stub.f.nio; i++)
        if (!policy_io_port(v, stub.f.io[i]))
            v->ops->set_intercept(v, ICPT_IO, stub.f.io[i], false);
    lib_memset(&stub.f, 0, sizeof(stub.f));
    if (stub.lbr_on)
        v->ops->lbr_enable(v, false);
    stub.lbr_on = false;
    stub_sync_intercepts(v);
}

enum stub_action stub_rfx_set(struct vcpu *v, char *p, size_t n)
{
    size_t k;
    uint64_t a[2];
    p += 5, n -= 5; /* "QRfx." */
    if (is(p, n, "Filter:", &k)) {
        stub_send_str(rfx_filter(v, p + k, n - k) ? "E01" : "OK");
    } else if (is(p, n, "SysReg:", &k)) {
        p += k, n -= k;
        size_t name = 0;
        while (name < n && p[name] != ':')
            name++;
        int r = stub_reg_by_name(p, name);
        uint8_t buf[16] = {0};
        if (r < 0 || !stub_reg_is_system((unsigned)r) || name + 1 >= n ||
            !stub_parse_hex(p + name + 1, n - name - 1, &a[0])) {
            stub_send_str("E01");
        } else {
            for (int b = 0; b < 8; b++)
                buf[b] = (uint8_t)(a[0] >> (8 * b));
            stub_send_str(stub_reg_write(v, (unsigned)r, buf) ? "E01" : "OK");
        }
    } else if (is(p, n, "PhysWrite:", &k)) {
        p += k, n -= k;
        size_t c = stub_parse_hex(p, n, &a[0]);
        long len =
            c && c < n && p[c] == ':' ? hex_decode(bulk, sizeof(bulk), p + c + 1, n - c - 1) : -1;
        if (len < 0)
            stub_send_str("E01");
        else
            stub_send_str(gmem_write(v, a[0], bulk, (size_t)len) ? "E14" : "OK");
    } else if (is(p, n, "ActiveCr3:", &k)) {
        unsigned got = parse_list(p + k, n - k, a, 1);
        if (!got) {
            stub_send_str("E01");
        } else {
            stub.active_cr3 = a[0];
            stub.active_cr3_keep = n - k > 5 && !lib_memcmp(p + n - 5, ",keep", 5);
            stub_send_str("OK");
        }
    } else if (is(p, n, "Step:global", &k)) {
        stub.step_cr3_mode = false;
        stub_send_str("OK");
    } else if (is(p, n, "Step:cr3,", &k) && parse_list(p + k, n - k, a, 1) == 1) {
        stub.step_cr3_mode = true;
        stub.step_cr3 = a[0];
        stub_send_str("OK");
    } else if (is(p, n, "Lbr:", &k) && parse_list(p + k, n - k, a, 1) == 1) {
        if (!v->ops->lbr_supported(v)) {
            stub_send_str("E.LBR unsupported by this CPU");
        } else {
            stub.lbr_on = a[0];
            v->ops->lbr_enable(v, stub.lbr_on);
            stub_send_str("OK");
        }
    } else {
        stub_send_str("");
    }
    return STUB_STAY;
}
