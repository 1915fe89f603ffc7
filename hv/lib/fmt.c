/*
 * printf-style formatting (see lib/fmt.h).
 *
 * The output goes through a small sink that counts every byte but stores
 * only those that fit, which gives the C99 snprintf return value for free.
 */
#include "lib/fmt.h"
#include <stdbool.h>
#include <stdint.h>

struct fmt_sink {
    char *buf;
    size_t size;
    size_t pos; /* bytes produced so far, stored or not */
};

/* Appends c to the sink; stores it only if room remains for the NUL. */
static void fmt_put(struct fmt_sink *s, char c)
{
    if (s->pos + 1 < s->size)
        s->buf[s->pos] = c;
    s->pos++;
}

static void fmt_pad(struct fmt_sink *s, char c, int n)
{
    while (n-- > 0)
        fmt_put(s, c);
}

/* Emits the digits of v in base (10 or 16), with sign and padding.
 * zero: pad with '0' between sign and digits; left: pad on the right. */
static void fmt_number(struct fmt_sink *s, uint64_t v, bool neg, unsigned base, bool upper,
                       int width, bool zero, bool left, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0, plen = 0, total;

    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    while (prefix && prefix[plen])
        plen++;
    total = n + plen + (neg ? 1 : 0);
    if (!left && !zero)
        fmt_pad(s, ' ', width - total);
    if (neg)
        fmt_put(s, '-');
    for (int i = 0; i < plen; i++)
        fmt_put(s, prefix[i]);
    if (!left && zero)
        fmt_pad(s, '0', width - total);
    while (n)
        fmt_put(s, tmp[--n]);
    if (left)
        fmt_pad(s, ' ', width - total);
}

/* Returns the would-be length; see lib/fmt.h for the supported subset. */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct fmt_sink s = {buf, size, 0};
    const char *p = fmt;
    va_list args;

    va_copy(args, ap);
    while (*p) {
        const char *start = p;
        bool left = false, zero = false;
        int width = 0, prec = -1, lng = 0;
        uint64_t u;
        int64_t v;

        if (*p != '%') {
            fmt_put(&s, *p++);
            continue;
        }
        p++;
        for (;; p++) {
            if (*p == '-')
                left = true;
            else if (*p == '0')
                zero = true;
            else
                break;
        }
        if (*p == '*') {
            width = va_arg(args, int);
            if (width < 0) {
                left = true;
                width = -width;
            }
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                width = width * 10 + (*p++ - '0');
        }
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec = va_arg(args, int);
                p++;
            } else {
                while (*p >= '0' && *p <= '9')
                    prec = prec * 10 + (*p++ - '0');
            }
        }
        /* lng: -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t */
        if (*p == 'h') {
            lng = -1;
            if (*++p == 'h') {
                lng = -2;
                p++;
            }
        } else if (*p == 'l') {
            lng = 1;
            if (*++p == 'l') {
                lng = 2;
                p++;
            }
        } else if (*p == 'z') {
            lng = 3;
            p++;
        }

        switch (*p) {
        case '%':
            fmt_put(&s, '%');
            break;
        case 'c':
            if (!left)
                fmt_pad(&s, ' ', width - 1);
            fmt_put(&s, (char)va_arg(args, int));
            if (left)
                fmt_pad(&s, ' ', width - 1);
            break;
        case 's': {
            const char *str = va_arg(args, const char *);
            int len = 0;

            if (!str)
                str = "(null)";
            while ((prec < 0 || len < prec) && str[len])
                len++;
            if (!left)
                fmt_pad(&s, ' ', width - len);
            for (int i = 0; i < len; i++)
                fmt_put(&s, str[i]);
            if (left)
                fmt_pad(&s, ' ', width - len);
            break;
        }
        case 'd':
        case 'i':
            switch (lng) {
            case 1:
                v = va_arg(args, long);
                break;
            case 2:
                v = va_arg(args, long long);
                break;
            case 3:
                v = (int64_t)va_arg(args, size_t);
                break;
            case -1:
                v = (short)va_arg(args, int);
                break;
            case -2:
                v = (signed char)va_arg(args, int);
                break;
            default:
                v = va_arg(args, int);
                break;
            }
            /* negate in unsigned arithmetic so INT64_MIN is fine */
            u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
            fmt_number(&s, u, v < 0, 10, false, width, zero, left, NULL);
            break;
        case 'u':
        case 'x':
        case 'X':
            switch (lng) {
            case 1:
                u = va_arg(args, unsigned long);
                break;
            case 2:
                u = va_arg(args, unsigned long long);
                break;
            case 3:
                u = va_arg(args, size_t);
                break;
            case -1:
                u = (unsigned short)va_arg(args, unsigned int);
                break;
            case -2:
                u = (unsigned char)va_arg(args, unsigned int);
                break;
            default:
                u = va_arg(args, unsigned int);
                break;
            }
            fmt_number(&s, u, false, *p == 'u' ? 10 : 16, *p == 'X', width, zero, left, NULL);
            break;
        case 'p':
            u = (uint64_t)(uintptr_t)va_arg(args, void *);
            /* always "0x" + 16 digits; the width pads around that */
            if (!left)
                fmt_pad(&s, ' ', width - 18);
            fmt_number(&s, u, false, 16, false, 18, true, false, "0x");
            if (left)
                fmt_pad(&s, ' ', width - 18);
            break;
        case '\0':
            /* lone '%' at the end: copy it */
            p--;
            /* fallthrough */
        default:
            while (start <= p)
                fmt_put(&s, *start++);
            break;
        }
        p++;
    }
    va_end(args);

    if (size)
        buf[s.pos < size ? s.pos : size - 1] = '\0';
    return (int)s.pos;
}

/* Returns the would-be length; see fmt_vsnprintf. */
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = fmt_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
