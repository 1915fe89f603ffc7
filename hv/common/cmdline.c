#include "common/cmdline.h"
#include "lib/mem.h"

int cmdline_get(const char *cmdline, const char *key, char *val, size_t n)
{
    size_t klen = lib_strlen(key);
    const char *p = cmdline;
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!lib_strncmp(p, key, klen) && p[klen] == '=') {
            p += klen + 1;
            size_t i = 0;
            while (p[i] && p[i] != ' ' && i + 1 < n) {
                val[i] = p[i];
                i++;
            }
            if (n)
                val[i] = 0;
            return 0;
        }
        while (*p && *p != ' ')
            p++;
    }
    return -1;
}

int cmdline_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    int digits = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s && *s != ':' && *s != ',' && *s != ' '; s++, digits++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return -1;
        v = v * base + d;
    }
    if (!digits)
        return -1;
    *out = v;
    return 0;
}
