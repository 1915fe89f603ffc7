/*
 * Messages on the firmware's console: ConOut's OutputString takes UCS-2
 * with CR LF line ends (UEFI 2.10 §12.4.3). Each message also goes to the
 * hypervisor's log.
 */
#include <stdarg.h>

#include "common/log.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "uefi/uefi.h"

void uefi_print(const char *fmt, ...)
{
    char text[256];
    char16 out[130];
    va_list ap;
    unsigned n = 0;

    va_start(ap, fmt);
    fmt_vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_write(text, lib_strlen(text));
    for (const char *p = text;; p++) {
        if (*p == '\n')
            out[n++] = '\r';
        if (*p)
            out[n++] = (char16)(unsigned char)*p;
        if (!*p || n >= sizeof(out) / sizeof(out[0]) - 2) {
            out[n] = 0;
            uefi_st->con_out->output_string(uefi_st->con_out, out);
            n = 0;
        }
        if (!*p)
            break;
    }
}
