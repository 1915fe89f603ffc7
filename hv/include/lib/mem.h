/*
 * Freestanding memory and string helpers.
 *
 * The kernels link no libc, so every byte copy in hv/ goes through these.
 * Their contracts match the C standard functions of the same suffix.
 */
#ifndef LIB_MEM_H
#define LIB_MEM_H

#include <stddef.h>

/* Copies n bytes from s to d (must not overlap). Returns d. */
void *lib_memcpy(void *d, const void *s, size_t n);
/* Copies n bytes from s to d; the regions may overlap. Returns d. */
void *lib_memmove(void *d, const void *s, size_t n);
/* Fills n bytes at d with (unsigned char)c. Returns d. */
void *lib_memset(void *d, int c, size_t n);
/* Compares n bytes as unsigned chars. Returns <0, 0 or >0. */
int lib_memcmp(const void *a, const void *b, size_t n);
/* Returns the number of bytes before the terminating NUL of s. */
size_t lib_strlen(const char *s);
/* Compares at most n chars (as unsigned), stopping at a NUL. Returns <0, 0, >0. */
int lib_strncmp(const char *a, const char *b, size_t n);

#endif /* LIB_MEM_H */
