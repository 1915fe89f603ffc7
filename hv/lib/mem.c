/*
 * Freestanding memory and string helpers (see lib/mem.h).
 *
 * Byte loops, but for lib_memcpy, which moves eight bytes at a time: it
 * carries the control channel's bulk memory reads. Each loop is kept out
 * of GCC's memcpy/memset idiom recognition.
 */
#include "lib/mem.h"
#include "lib/compiler.h"
#include <stdint.h>

/* Returns d after copying n bytes forward from s. */
LIB_NO_BUILTIN_LOOPS
void *lib_memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;

    for (; n >= 8; dp += 8, sp += 8, n -= 8) {
        uint64_t w;
        __builtin_memcpy(&w, sp, 8); /* a fixed size: one load, inlined */
        __builtin_memcpy(dp, &w, 8);
    }
    while (n--)
        *dp++ = *sp++;
    return d;
}

/* Returns d after copying n bytes from s, choosing the direction so that
 * overlapping regions are handled. */
LIB_NO_BUILTIN_LOOPS
void *lib_memmove(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;

    if ((uintptr_t)dp <= (uintptr_t)sp || (uintptr_t)dp >= (uintptr_t)sp + n) {
        while (n--)
            *dp++ = *sp++;
    } else {
        while (n) {
            n--;
            dp[n] = sp[n];
        }
    }
    return d;
}

/* Returns d after filling n bytes with the low byte of c. */
LIB_NO_BUILTIN_LOOPS
void *lib_memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;

    while (n--)
        *dp++ = (uint8_t)c;
    return d;
}

/* Returns the sign of the first differing byte (unsigned), 0 if equal. */
int lib_memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *ap = a, *bp = b;
    size_t i;

    for (i = 0; i < n; i++)
        if (ap[i] != bp[i])
            return ap[i] < bp[i] ? -1 : 1;
    return 0;
}

/* Returns the length of the NUL-terminated string s. */
size_t lib_strlen(const char *s)
{
    size_t n = 0;

    while (s[n])
        n++;
    return n;
}

/* Returns the sign of the first difference within n chars, 0 if equal. */
int lib_strncmp(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];

        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (!ca)
            break;
    }
    return 0;
}
