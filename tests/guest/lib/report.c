/*
 * The output protocol (docs/conformance.md), groups and the command line.
 *
 *   RFXT-START <part>            the kernel runs
 *   RFXT-PLAN <group> ...        the groups it will run, in order
 *   RFXT-BEGIN <group>
 *   RFXT <group>.<check> <result>
 *   RFXT-END <group>
 *   RFXB <name> <value>          timings (not compared)
 *   RFXT-DONE <count of RFXT lines>
 *   RFXT-FATAL <part> <group>.<check>: <what>   and the kernel stops
 *
 * Command line (multiboot), space-separated:
 *   only=P,...   run the groups P names: a group ("pm32.cr4"), a mode
 *                ("pm32"), a family ("cr4"), or a prefix ending in '*'.
 *                Groups that end the machine or time it (G_EXPLICIT) run
 *                only when named by group or family.
 *   from=G       start at group G (in the order of groups.def): the harness
 *                goes on after a group that killed the machine
 *   skip=C,...   checks not to run ("pm32.cr4.bit12", or a prefix and '*')
 *   tcg_quirks=1 the machine is QEMU's TCG itself: skip what it mishandles
 *                so badly that it hangs or dies
 *   bench_runs=N samples of the timing group
 */
#include "tk.h"

#define MAX_PAT 48

const struct group *cur_group;
const char *cur_check = "";
bool tcg_quirks;

static char cmd[SH_CMDLINE_MAX];
static char only_buf[SH_CMDLINE_MAX], skip_buf[SH_CMDLINE_MAX], from_buf[64];
static const char *only_pat[MAX_PAT], *skip_pat[MAX_PAT];
static unsigned n_only, n_skip;
static char check_name[96];

/* The value of key=value in the command line, copied to out; false if absent. */
static bool cmdline_value(const char *key, char *out, size_t size)
{
    size_t klen = tk_strlen(key);
    const char *p = cmd;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && !tk_strncmp(tok, key, klen) && tok[klen] == '=') {
            size_t n = (size_t)(p - tok) - klen - 1;
            if (n >= size)
                n = size - 1;
            tk_memcpy(out, tok + klen + 1, n);
            out[n] = 0;
            return true;
        }
    }
    return false;
}

static unsigned split(char *buf, const char **pat)
{
    unsigned n = 0;
    char *p = buf;
    while (*p && n < MAX_PAT) {
        pat[n++] = p;
        while (*p && *p != ',')
            p++;
        if (*p)
            *p++ = 0;
    }
    return n;
}

void cmdline_parse(void)
{
    for (unsigned i = 0; i < SH_CMDLINE_MAX - 1; i++)
        cmd[i] = SH->cmdline[i];
    cmd[SH_CMDLINE_MAX - 1] = 0;
    n_only = cmdline_value("only", only_buf, sizeof(only_buf)) ? split(only_buf, only_pat) : 0;
    n_skip = cmdline_value("skip", skip_buf, sizeof(skip_buf)) ? split(skip_buf, skip_pat) : 0;
    tcg_quirks = cmdline_flag("tcg_quirks");
    if (!cmdline_value("from", from_buf, sizeof(from_buf)))
        from_buf[0] = 0;
}

unsigned groups_from(const struct group *table, unsigned n)
{
    if (!from_buf[0])
        return 0;
    for (unsigned i = 0; i < n; i++)
        if (!tk_strcmp(table[i].name, from_buf))
            return i;
    fatal("from=%s names no group", from_buf);
}

bool cmdline_flag(const char *key) { return cmdline_uint(key, 0) != 0; }

unsigned cmdline_uint(const char *key, unsigned dflt)
{
    char v[16];
    if (!cmdline_value(key, v, sizeof(v)))
        return dflt;
    unsigned n = 0;
    for (const char *p = v; *p >= '0' && *p <= '9'; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return n;
}

static bool pat_match(const char *pat, const char *name)
{
    size_t n = tk_strlen(pat);
    if (n && pat[n - 1] == '*')
        return !tk_strncmp(pat, name, n - 1);
    return !tk_strcmp(pat, name);
}

bool group_selected(const struct group *g)
{
    const char *dot = g->name;
    while (*dot && *dot != '.')
        dot++;
    size_t mlen = (size_t)(dot - g->name);
    const char *family = *dot ? dot + 1 : dot;
    bool explicit_only = g->flags & G_EXPLICIT;
    if (!n_only)
        return !explicit_only;
    for (unsigned i = 0; i < n_only; i++) {
        const char *p = only_pat[i];
        if (!tk_strcmp(p, g->name) || !tk_strcmp(p, family))
            return true;
        if (explicit_only)
            continue;
        if (pat_match(p, g->name) || (tk_strlen(p) == mlen && !tk_strncmp(p, g->name, mlen)))
            return true;
    }
    return false;
}

void group_run(const struct group *g)
{
    cur_group = g;
    cur_check = "(enter)";
    tk_printf("RFXT-BEGIN %s\n", g->name);
    const char *why = g->mode->enter ? g->mode->enter() : 0;
    if (why) {
        report_skip("mode", why);
    } else {
        g->run(g);
        cur_check = "(leave)";
        if (g->mode->leave)
            g->mode->leave();
    }
    tk_printf("RFXT-END %s\n", g->name);
    cur_group = 0;
}

static void line(const char *check, const char *fmt, va_list ap)
{
    char buf[1024];
    size_t n = (size_t)tk_snprintf(buf, sizeof(buf), "RFXT %s.%s ", cur_group->name, check);
    if (n < sizeof(buf))
        n += (size_t)tk_vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    serial_write(buf, n);
    SH->lines++;
}

bool check_begin(const char *check)
{
    char full[128];
    size_t n = tk_strlen(check);
    if (n >= sizeof(check_name))
        n = sizeof(check_name) - 1;
    tk_memcpy(check_name, check, n);
    check_name[n] = 0;
    cur_check = check_name;
    tk_snprintf(full, sizeof(full), "%s.%s", cur_group->name, check);
    for (unsigned i = 0; i < n_skip; i++) {
        if (pat_match(skip_pat[i], full)) {
            report_skip(check, "requested");
            return false;
        }
    }
    return true;
}

void report(const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(check, fmt, ap);
    va_end(ap);
}

void report_skip(const char *check, const char *reason) { report(check, "skip %s", reason); }

void report_op(const char *check, const struct opres *r, const char *fmt, ...)
{
    char ev[256], rest[512];
    va_list ap;
    fmt_events(ev, sizeof(ev), r);
    va_start(ap, fmt);
    tk_vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    report(check, rest[0] ? "%s %s" : "%s%s", ev, rest);
}

void fatal(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    tk_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    tk_printf("\nRFXT-FATAL %s %s.%s: %s\n", part_name(), cur_group ? cur_group->name : "-",
              cur_check, buf);
    for (;;)
        __asm__ volatile("cli; hlt");
}
