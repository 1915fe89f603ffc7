/*
 * Minimal printf-style formatting for the kernels' logs.
 *
 * Supported: %% %c %s %d %i %u %x %X %p; length modifiers hh, h, l, ll, z;
 * flags '-' and '0'; a field width (digits or '*'); a precision for %s
 * (digits or '*'). %p prints "0x" followed by 16 hex digits.
 * An unknown conversion is copied verbatim (including its '%').
 */
#ifndef LIB_FMT_H
#define LIB_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into buf (size bytes). Always NUL-terminates when size > 0.
 * Returns the length the full output would have (excluding the NUL). */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* Same as fmt_vsnprintf with a variadic argument list. */
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* LIB_FMT_H */
