/*
 * The network control channel's boot option (docs/protocol.md):
 *
 *   ctrl=net:NIC[,ip=A.B.C.D][,port=N]
 *
 * NIC is `e1000` (the first Intel 82540EM), `auto` (the first NIC the VMM
 * has a driver for) or a PCI address BUS:DEV.FN in hex (00:03.0). The
 * defaults are ip=10.0.2.15 (QEMU's user network gives the first guest
 * that address) and port=1234.
 */
#ifndef LIB_NETOPT_H
#define LIB_NETOPT_H

#include <stdint.h>

#define NETOPT_PCI_ANY 0xffffffffu

enum netopt_model { NETOPT_ANY, NETOPT_E1000 };

struct netopt {
    uint32_t on;    /* ctrl=net:... was given and parsed */
    uint32_t model; /* enum netopt_model */
    uint32_t pci;   /* NETOPT_PCI_ANY, or bus << 8 | dev << 3 | fn */
    uint32_t ip;    /* 10.0.2.15 is 0x0a00020f */
    uint32_t port;
};

/* Parses the value after "net:". Returns 0, or -1 with *why naming what
 * is wrong (o is then left as it was). */
int netopt_parse(const char *spec, struct netopt *o, const char **why);

#endif
