/*
 * The symbols gcc may call on its own for struct copies and clears, even in
 * freestanding code. They forward to lib/mem.c.
 */
#include <stddef.h>

#include "lib/mem.h"

void *memcpy(void *d, const void *s, size_t n) { return lib_memcpy(d, s, n); }
void *memmove(void *d, const void *s, size_t n) { return lib_memmove(d, s, n); }
void *memset(void *d, int c, size_t n) { return lib_memset(d, c, n); }
int memcmp(const void *a, const void *b, size_t n) { return lib_memcmp(a, b, n); }
