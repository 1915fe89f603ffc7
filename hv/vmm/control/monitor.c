/*
 * `monitor ...` commands (qRcmd): one table, from which `monitor help` is
 * written. Each command writes text for the client's console and the
 * reply is OK.
 */
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

#define X(v) ((unsigned long long)(v))

static char text[8192];

typedef void monitor_fn(struct stub *s, struct reply *r, const char *arg, size_t n);

static void say_text(struct reply *r, unsigned long len)
{
    console_bytes(r, text, len < sizeof(text) ? len : sizeof(text));
}

static bool arg_hex(const char *arg, size_t n, uint64_t *x)
{
    return n && stub_parse_hex(arg, n, x) == n;
}

static void mon_help(struct stub *s, struct reply *r, const char *arg, size_t n);

static void mon_exits(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    say_text(r, s->t->text(s->ctx, s->gthread, STUB_TEXT_EXITS, 0, text, sizeof(text)));
}

static void mon_sysregs(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    unsigned col = 0;
    for (unsigned i = 0; i < stub_reg_count(); i++) {
        if (!stub_reg_is_system(i))
            continue;
        console_fmt(r, "%-15s 0x%016llx%s", stub_reg_name(i), X(stub_reg_value(s, s->gthread, i)),
                    ++col % 3 ? "   " : "\n");
    }
    if (col % 3)
        console_fmt(r, "\n");
}

static void mon_vmcb(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    say_text(r, s->t->text(s->ctx, s->gthread, STUB_TEXT_DUMP, 0, text, sizeof(text)));
}

static void mon_mem(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    if (n == 4 && !lib_memcmp(arg, "phys", 4)) {
        s->mem_phys = true;
        console_fmt(r, "memory packets now use physical addresses\n");
    } else if (n == 4 && !lib_memcmp(arg, "virt", 4)) {
        s->mem_phys = false;
        console_fmt(r, "memory packets now use virtual addresses\n");
    } else {
        console_fmt(r, "usage: monitor mem phys|virt\n");
    }
}

static void mon_cr3(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    uint64_t x;
    if (n == 3 && !lib_memcmp(arg, "off", 3)) {
        s->active_cr3 = 0;
        console_fmt(r, "virtual memory goes through each vCPU's current cr3\n");
    } else if (arg_hex(arg, n, &x)) {
        s->active_cr3 = x;
        console_fmt(r, "virtual memory goes through cr3 0x%llx\n", X(x));
    } else {
        console_fmt(r, "usage: monitor cr3 HEX|off\n");
    }
}

static void mon_v2p(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    uint64_t x, pa;
    if (!arg_hex(arg, n, &x))
        console_fmt(r, "usage: monitor v2p ADDR (hex)\n");
    else if (s->t->v2p(s->ctx, s->gthread, s->active_cr3, x, &pa))
        console_fmt(r, "0x%llx is not mapped\n", X(x));
    else
        console_fmt(r, "0x%llx -> 0x%llx\n", X(x), X(pa));
}

static void mon_npt(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    uint64_t x, hpa, leaf;
    unsigned shift;
    if (!n) {
        say_text(r, s->t->text(s->ctx, s->gthread, STUB_TEXT_NPT, ~0ull, text, sizeof(text)));
    } else if (!arg_hex(arg, n, &x)) {
        console_fmt(r, "usage: monitor npt [GPA] (hex)\n");
    } else if (s->t->g2h(s->ctx, x, &hpa, &leaf, &shift)) {
        console_fmt(r, "0x%llx is not mapped (the walk stopped at entry 0x%llx)\n", X(x), X(leaf));
    } else {
        console_fmt(r, "0x%llx -> 0x%llx (%s page, entry 0x%llx)\n", X(x), X(hpa),
                    shift == 30   ? "1 GiB"
                    : shift == 21 ? "2 MiB"
                                  : "4 KiB",
                    X(leaf));
    }
}

/* N (decimal) bytes of zeros as console output: the channel's line rate. */
static void mon_stream(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    uint64_t x = 0;
    size_t i;
    for (i = 0; i < n && arg[i] >= '0' && arg[i] <= '9' && x < (1ull << 40); i++)
        x = x * 10 + (uint64_t)(arg[i] - '0');
    if (!n || i != n)
        console_fmt(r, "usage: monitor stream N (decimal bytes)\n");
    else
        r->stream = x;
}

struct monitor_cmd {
    const char *name;
    monitor_fn *fn;
    const char *usage; /* arguments, then what it does */
};

static const struct monitor_cmd monitor_cmds[] = {
    {"help", mon_help, "                this list"},
    {"exits", mon_exits, "               exit counters, the VMM range, each vCPU's mode"},
    {"sysregs", mon_sysregs, "             the system registers (of the Hg thread)"},
    {"vmcb", mon_vmcb, "                dump the backend state (the VMCB; also to the VMM log)"},
    {"mem", mon_mem, " phys|virt       memory packets use physical / virtual addresses"},
    {"cr3", mon_cr3, " HEX|off         the cr3 used for virtual memory (off: each vCPU's own)"},
    {"v2p", mon_v2p, " ADDR            translate ADDR through that cr3"},
    {"npt", mon_npt, " [GPA]           nested paging: its root and layout, or GPA's host address"},
    {"stream", mon_stream, " N            send N bytes (channel line-rate benchmark)"},
};

static void mon_help(struct stub *s, struct reply *r, const char *arg, size_t n)
{
    for (size_t i = 0; i < sizeof(monitor_cmds) / sizeof(monitor_cmds[0]); i++)
        console_fmt(r, "monitor %s%s\n", monitor_cmds[i].name, monitor_cmds[i].usage);
}

void stub_monitor(struct stub *s, struct reply *r, char *cmd, size_t n)
{
    for (size_t i = 0; i < sizeof(monitor_cmds) / sizeof(monitor_cmds[0]); i++) {
        size_t l = lib_strlen(monitor_cmds[i].name);
        if (n < l || lib_memcmp(cmd, monitor_cmds[i].name, l) || (n > l && cmd[l] != ' '))
            continue;
        size_t skip = n > l ? l + 1 : l;
        monitor_cmds[i].fn(s, r, cmd + skip, n - skip);
        reply_str(r, "OK");
        return;
    }
    console_fmt(r, "unknown monitor command; try 'monitor help'\n");
    reply_str(r, "OK");
}
