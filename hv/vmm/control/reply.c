/*
 * Building a reply (stub.h): bounded appends that remember an overflow, so
 * a reply too big for the buffer is refused whole instead of cut.
 */
#include <stdarg.h>

#include "lib/fmt.h"
#include "lib/mem.h"
#include "lib/rsp.h"
#include "vmm/control/stub.h"

void reply_reset(struct reply *r)
{
    r->len = 0;
    r->console_len = 0;
    r->stream = 0;
    r->overflow = false;
}

void reply_bytes(struct reply *r, const void *p, size_t n)
{
    if (n > r->cap - r->len) {
        r->overflow = true;
        return;
    }
    lib_memcpy(r->buf + r->len, p, n);
    r->len += n;
}

uint8_t *reply_space(struct reply *r, size_t n)
{
    if (n > r->cap - r->len) {
        r->overflow = true;
        return 0;
    }
    return (uint8_t *)r->buf + r->len;
}

void reply_str(struct reply *r, const char *s) { reply_bytes(r, s, lib_strlen(s)); }

void reply_hex(struct reply *r, const uint8_t *p, size_t n)
{
    if (2 * n > r->cap - r->len) {
        r->overflow = true;
        return;
    }
    r->len += hex_encode(r->buf + r->len, r->cap - r->len, p, n);
}

void reply_fmt(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = r->cap - r->len;
    int n = fmt_vsnprintf(r->buf + r->len, room, fmt, ap);
    va_end(ap);
    if ((size_t)n >= room)
        r->overflow = true;
    else
        r->len += (size_t)n;
}

void reply_error(struct reply *r, unsigned code) { reply_fmt(r, "E%02x", code & 0xff); }

void console_bytes(struct reply *r, const char *p, size_t n)
{
    if (n > r->console_cap - r->console_len)
        n = r->console_cap - r->console_len; /* console text is cut, never refused */
    lib_memcpy(r->console + r->console_len, p, n);
    r->console_len += n;
}

void console_fmt(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = r->console_cap - r->console_len;
    int n = fmt_vsnprintf(r->console + r->console_len, room, fmt, ap);
    va_end(ap);
    r->console_len += (size_t)n < room ? (size_t)n : (room ? room - 1 : 0);
}
