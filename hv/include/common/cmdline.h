/*
 * Boot command line: space-separated key=value words, e.g.
 * "ctrl=uart:0x2f8 log=uart:0x3e8 disk=0x80". Everything configurable comes
 * from here: no menu, no rebuild.
 */
#ifndef COMMON_CMDLINE_H
#define COMMON_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/* Copies the value of `key` into val (NUL-terminated, truncated to n-1).
 * Returns 0, or -1 if the key is absent. */
int cmdline_get(const char *cmdline, const char *key, char *val, size_t n);
/* Parses a decimal or 0x-prefixed hex number that ends at NUL, ':' or ','.
 * Returns 0 or -1. */
int cmdline_parse_u64(const char *s, uint64_t *out);

#endif
