/* `monitor ...` commands (qRcmd), listed by `monitor help`. */
#include <stdarg.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

#define TEXT_MAX 8192

static char text[TEXT_MAX];

static bool word(const char *cmd, size_t n, const char *w, size_t *rest)
{
    size_t l = lib_strlen(w);
    if (n < l || lib_memcmp(cmd, w, l) || (n > l && cmd[l] != ' '))
        return false;
    *rest = n > l ? l + 1 : l;
    return true;
}

static void say(const char *s, size_t n)
{
    stub_send_console(s, n);
    stub_send_str("OK");
}

static void sayf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sayf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    say(text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

/* Streams n bytes of zeros as console packets: the channel's line rate. */
static void stream(uint64_t n)
{
    static char zeros[256];
    while (n) {
        size_t chunk = n < sizeof(zeros) ? n : sizeof(zeros);
        stub_send_console(zeros, chunk);
        n -= chunk;
    }
    stub_send_str("OK");
}

void stub_monitor(struct vcpu *v, char *cmd, size_t n)
{
    size_t k;
    uint64_t x, pa;

    if (word(cmd, n, "help", &k)) {
        sayf("monitor help          this list\n"
             "monitor exits         exit counters, the VMM range, the VM's mode\n"
             "monitor sysregs       the system registers\n"
             "monitor vmcb          dump the VMCB (also to the VMM log)\n"
             "monitor mem phys|virt memory packets use physical / virtual addresses\n"
             "monitor cr3 HEX|off   the cr3 used for virtual memory (off: the VM's)\n"
             "monitor v2p ADDR      translate ADDR through that cr3\n"
             "monitor npt [GPA]     nested paging: its root and layout, or GPA's host address\n"
             "monitor stream N      send N bytes (channel line-rate benchmark)\n");
    } else if (word(cmd, n, "exits", &k)) {
        unsigned long len = v->ops->summary(v, text, sizeof(text));
        log_write(text, len);
        say(text, len);
    } else if (word(cmd, n, "sysregs", &k)) {
        size_t len = 0;
        unsigned col = 0;
        for (unsigned i = 0; i < stub_reg_count(); i++) {
            if (!stub_reg_is_system(i))
                continue;
            len += (size_t)fmt_snprintf(text + len, sizeof(text) - len, "%-15s 0x%016llx%s",
                                        stub_reg_name(i), (unsigned long long)stub_reg_value(v, i),
                                        ++col % 3 ? "   " : "\n");
            if (len >= sizeof(text))
                len = sizeof(text) - 1;
        }
        if (col % 3 && len + 1 < sizeof(text))
            text[len++] = '\n';
        say(text, len);
    } else if (word(cmd, n, "vmcb", &k)) {
        unsigned long len = v->ops->dump(v, text, sizeof(text));
        log_write(text, len);
        say(text, len);
    } else if (word(cmd, n, "mem", &k) && n - k == 4 && !lib_memcmp(cmd + k, "phys", 4)) {
        stub.mem_phys = true;
        sayf("memory packets now use physical addresses\n");
    } else if (word(cmd, n, "mem", &k) && n - k == 4 && !lib_memcmp(cmd + k, "virt", 4)) {
        stub.mem_phys = false;
        sayf("memory packets now use virtual addresses\n");
    } else if (word(cmd, n, "cr3", &k) && n - k == 3 && !lib_memcmp(cmd + k, "off", 3)) {
        stub.active_cr3 = 0;
        sayf("virtual memory goes through the VM's current cr3\n");
    } else if (word(cmd, n, "cr3", &k) && stub_parse_hex(cmd + k, n - k, &x) == n - k && n > k) {
        stub.active_cr3 = x;
        sayf("virtual memory goes through cr3 0x%llx\n", (unsigned long long)x);
    } else if (word(cmd, n, "v2p", &k) && n > k && stub_parse_hex(cmd + k, n - k, &x) == n - k) {
        if (stub_v2p(v, stub.active_cr3, x, &pa))
            sayf("0x%llx is not mapped\n", (unsigned long long)x);
        else
            sayf("0x%llx -> 0x%llx\n", (unsigned long long)x, (unsigned long long)pa);
    } else if (word(cmd, n, "npt", &k) && n == k) {
        const struct boot_info *bi = v->info;
        uint64_t root = v->ops->nested_root(v);
        if (!root)
            sayf("nested paging is off\n");
        else
            sayf("nested paging on, root 0x%llx (4 levels, long-mode format)\n"
                 "set up as guest-physical = host-physical over 0-0x%llx, without the VMM's "
                 "0x%llx-0x%llx\n",
                 (unsigned long long)root, (unsigned long long)bi->npt_limit,
                 (unsigned long long)bi->vmm_base,
                 (unsigned long long)(bi->vmm_base + bi->vmm_size));
    } else if (word(cmd, n, "npt", &k) && stub_parse_hex(cmd + k, n - k, &x) == n - k) {
        uint64_t hpa, leaf;
        unsigned shift;
        if (v->ops->g2h(v, x, &hpa, &leaf, &shift))
            sayf("0x%llx is not mapped (the walk stopped at entry 0x%llx)\n", (unsigned long long)x,
                 (unsigned long long)leaf);
        else
            sayf("0x%llx -> 0x%llx (%s page, entry 0x%llx)\n", (unsigned long long)x,
                 (unsigned long long)hpa,
                 shift == 30   ? "1 GiB"
                 : shift == 21 ? "2 MiB"
                               : "4 KiB",
                 (unsigned long long)leaf);
    } else if (word(cmd, n, "stream", &k) && n > k && !cmdline_parse_u64(cmd + k, &x)) {
        stream(x);
    } else {
        sayf("unknown monitor command; try 'monitor help'\n");
    }
}
