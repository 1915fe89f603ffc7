/*
 * The boot options (include/common/cmdline.h): the same words whether they
 * come from the multiboot command line or, for the UEFI application, its
 * load options or ramooflax.cfg (docs/uefi.md). A bad value is a clear
 * error through setup_fail.
 */
#include "common/cmdline.h"
#include "lib/mem.h"
#include "lib/netopt.h"
#include "setup/setup.h"

const char *setup_parse_options(struct boot_info *info, const char *cmdline)
{
    char val[64];
    uint64_t n;
    const char *ctrl_error = 0;

    info->log = (struct log_target){LOG_UART, 0x3e8};
    info->ctrl = (struct log_target){LOG_UART, 0x2f8};
    info->boot_disk = 0x80;
    if (!cmdline_get(cmdline, "log", val, sizeof(val)) && log_parse(val, &info->log))
        setup_fail("bad log= option; use log=uart:0x3e8 or log=debugcon:0xe9");
    /* ctrl=: a bad value is logged and the channel stays on the default
     * UART -- the machine still boots, and its log says why. */
    if (!cmdline_get(cmdline, "ctrl", val, sizeof(val))) {
        struct log_target t;
        if (!lib_strncmp(val, "net:", 4)) {
            if (!netopt_parse(val + 4, &info->net, &ctrl_error))
                info->ctrl.kind = LOG_NONE;
        } else if (log_parse(val, &t) || t.kind != LOG_UART) {
            ctrl_error =
                "use ctrl=uart:0x2f8 or ctrl=net:e1000|e1000e|igb|auto|BB:DD.F,ip=A.B.C.D,port=N";
        } else {
            info->ctrl = t;
        }
    }
    if (!cmdline_get(cmdline, "ctrl_wait", val, sizeof(val)))
        info->ctrl_wait = val[0] == '1' || val[0] == 'y';
    if (!cmdline_get(cmdline, "ctrl_timeout", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n == 0 || n > 3600)
            setup_fail("bad ctrl_timeout= option; use seconds, 1-3600");
        info->ctrl_timeout = (uint32_t)n;
    }
    info->tsc_debt_ms = 50;
    if (!cmdline_get(cmdline, "tsc_debt", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n > 1000)
            setup_fail("bad tsc_debt= option; use milliseconds, 0-1000 (0: never hide VMM time)");
        info->tsc_debt_ms = (uint32_t)n;
    }
    info->ctrl_poll = 64;
    if (!cmdline_get(cmdline, "ctrl_poll", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n == 0 || n > 65536 || (n & (n - 1)))
            setup_fail("bad ctrl_poll= option; use a power of two, 1-65536");
        info->ctrl_poll = (uint32_t)n;
    }
    if (!cmdline_get(cmdline, "disk", val, sizeof(val))) {
        if (cmdline_parse_u64(val, &n) || n < 0x80 || n > 0xff)
            setup_fail("bad disk= option; use a BIOS hard-disk number, e.g. disk=0x80");
        info->boot_disk = (uint32_t)n;
    }
    size_t len = lib_strlen(cmdline);
    if (len >= BOOT_CMDLINE_MAX)
        len = BOOT_CMDLINE_MAX - 1;
    lib_memcpy(info->cmdline, cmdline, len);
    return ctrl_error;
}
