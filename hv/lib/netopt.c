/* ctrl=net:... (include/lib/netopt.h). */
#include "lib/netopt.h"
#include <stdbool.h>

#include "lib/mem.h"
#include "lib/rsp.h" /* hex_digit */

/* A number in base 10 or 16 up to one of the characters in `ends` (or NUL);
 * returns the characters read, 0 if none or past max. */
static unsigned parse_num(const char *s, unsigned base, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    unsigned i = 0;
    for (; s[i]; i++) {
        int d = hex_digit((uint8_t)s[i]);
        if (d < 0 || (unsigned)d >= base)
            break;
        v = v * base + (unsigned)d;
        if (v > max)
            return 0;
    }
    if (i)
        *out = (uint32_t)v;
    return i;
}

static int parse_ip(const char *s, uint32_t *ip)
{
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        uint32_t b;
        unsigned n = parse_num(s, 10, 255, &b);
        if (!n)
            return -1;
        v = v << 8 | b;
        s += n;
        if (part < 3 && *s++ != '.')
            return -1;
    }
    if (*s && *s != ',')
        return -1;
    *ip = v;
    return 0;
}

/* BUS:DEV.FN: bus 0-ff, device 0-1f, function 0-7 (PCI Local Bus Spec 3.0
 * §3.2.2.3.2, configuration address). */
static int parse_bdf(const char *s, uint32_t *bdf)
{
    uint32_t bus, dev, fn;
    unsigned n = parse_num(s, 16, 0xff, &bus);
    if (!n || s[n] != ':')
        return -1;
    s += n + 1;
    n = parse_num(s, 16, 0x1f, &dev);
    if (!n || s[n] != '.')
        return -1;
    s += n + 1;
    n = parse_num(s, 16, 7, &fn);
    if (!n || (s[n] && s[n] != ','))
        return -1;
    *bdf = bus << 8 | dev << 3 | fn;
    return 0;
}

static bool word_is(const char *s, const char *w)
{
    size_t n = lib_strlen(w);
    return !lib_strncmp(s, w, n) && (s[n] == 0 || s[n] == ',');
}

static const char *const model_names[NETOPT_MODELS] = {
    [NETOPT_ANY] = "auto",
    [NETOPT_E1000] = "e1000",
    [NETOPT_E1000E] = "e1000e",
    [NETOPT_IGB] = "igb",
};

const char *netopt_model_name(uint32_t model)
{
    return model < NETOPT_MODELS ? model_names[model] : "?";
}

/* The model the word at s names, or -1. */
static int parse_model(const char *s)
{
    for (unsigned m = 0; m < NETOPT_MODELS; m++)
        if (word_is(s, model_names[m]))
            return (int)m;
    return -1;
}

int netopt_parse(const char *spec, struct netopt *o, const char **why)
{
    struct netopt r = {1, NETOPT_ANY, NETOPT_PCI_ANY, 0x0a00020f, 1234};
    const char *p = spec;
    int model = parse_model(p);

    if (model >= 0) {
        r.model = (uint32_t)model;
    } else if (parse_bdf(p, &r.pci)) {
        *why = "the NIC is e1000, e1000e, igb, auto or a PCI address BUS:DEV.FN (00:03.0)";
        return -1;
    }
    while (*p && *p != ',')
        p++;
    while (*p == ',') {
        p++;
        if (!lib_strncmp(p, "ip=", 3)) {
            if (parse_ip(p + 3, &r.ip) || !r.ip || r.ip == 0xffffffffu) {
                *why = "ip= takes an IPv4 address, A.B.C.D";
                return -1;
            }
        } else if (!lib_strncmp(p, "port=", 5)) {
            unsigned n = parse_num(p + 5, 10, 65535, &r.port);
            if (!n || !r.port || (p[5 + n] && p[5 + n] != ',')) {
                *why = "port= takes a TCP port, 1-65535";
                return -1;
            }
        } else {
            *why = "after the NIC come ip=A.B.C.D and port=N";
            return -1;
        }
        while (*p && *p != ',')
            p++;
    }
    *o = r;
    return 0;
}
