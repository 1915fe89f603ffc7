/*
 * The network control channel's boot option (docs/protocol.md):
 *
 *   ctrl=net:NIC[,ip=A.B.C.D][,port=N]
 *
 * NIC is a model -- `e1000` (the Intel 82540EM), `e1000e` (the 82574L),
 * `igb` (the 82576): the first such NIC on the buses --, `auto` (the first
 * NIC the VMM has a driver for) or a PCI address BUS:DEV.FN in hex
 * (00:03.0; any supported model there). The defaults are ip=10.0.2.15
 * (QEMU's user network gives the first guest that address) and port=1234.
 */
#ifndef LIB_NETOPT_H
#define LIB_NETOPT_H

#include <stdint.h>

#define NETOPT_PCI_ANY 0xffffffffu

enum netopt_model { NETOPT_ANY, NETOPT_E1000, NETOPT_E1000E, NETOPT_IGB, NETOPT_MODELS };

struct netopt {
    uint32_t on;    /* ctrl=net:... was given and parsed */
    uint32_t model; /* enum netopt_model */
    uint32_t pci;   /* NETOPT_PCI_ANY, or bus << 8 | dev << 3 | fn */
    uint32_t ip;    /* 10.0.2.15 is 0x0a00020f */
    uint32_t port;
};

/* The word of ctrl=net: that names model ("auto" for NETOPT_ANY). */
const char *netopt_model_name(uint32_t model);

/* Parses the value after "net:". Returns 0, or -1 with *why naming what
 * is wrong (o is then left as it was). */
int netopt_parse(const char *spec, struct netopt *o, const char **why);

#endif
