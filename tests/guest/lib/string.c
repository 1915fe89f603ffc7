/* The few string functions the kernel needs (no libc). */
#include "tk.h"

size_t tk_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int tk_strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

int tk_strcmp(const char *a, const char *b) { return tk_strncmp(a, b, (size_t)-1); }

void *tk_memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *tk_memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;
    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n) { return tk_memcpy(d, s, n); }
void *memset(void *d, int c, size_t n) { return tk_memset(d, c, n); }
