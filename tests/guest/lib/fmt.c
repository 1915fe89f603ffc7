/* A small vsnprintf: %s %c %d %u %x %p, the l and ll modifiers, a width with
 * optional 0 padding, and %%. Output is always NUL-terminated. */
#include "tk.h"

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void number(struct out *o, uint64_t v, unsigned base, bool neg, unsigned width, char pad)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    while (width > n) {
        put(o, pad);
        width--;
    }
    while (n)
        put(o, tmp[--n]);
}

int tk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        unsigned width = 0, longs = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        uint64_t u;
        int64_t s;
        switch (*fmt) {
        case 's': {
            const char *str = va_arg(ap, const char *);
            size_t n = tk_strlen(str);
            while (width > n) {
                put(&o, ' ');
                width--;
            }
            while (*str)
                put(&o, *str++);
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd':
            s = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
            number(&o, s < 0 ? (uint64_t)-s : (uint64_t)s, 10, s < 0, width, pad);
            break;
        case 'u':
        case 'x':
            u = longs >= 2 ? va_arg(ap, unsigned long long)
                : longs    ? va_arg(ap, unsigned long)
                           : va_arg(ap, unsigned int);
            number(&o, u, *fmt == 'x' ? 16 : 10, false, width, pad);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            number(&o, (uintptr_t)va_arg(ap, void *), 16, false, width, pad);
            break;
        case '%':
            put(&o, '%');
            break;
        default:
            put(&o, '?');
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int tk_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = tk_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void tk_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = tk_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    serial_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}
