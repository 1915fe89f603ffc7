/* The network control channel (chan_net.c). */
#ifndef VMM_NET_CHAN_NET_H
#define VMM_NET_CHAN_NET_H

#include <stdint.h>

#include "common/palloc.h"
#include "lib/netopt.h"
#include "vmm/control/channel.h"
#include "vmm/devices/devices.h"

/* Opens the NIC o names and the channel over it. A connection silent for
 * idle_s seconds gives way to a new client. Returns 0 with *hide filled
 * in (what the VM must not see of the NIC: devices/pci_hide.c), or -1
 * (logged). */
int channel_net_open(struct channel *ch, const struct netopt *o, struct palloc *pa, uint64_t tsc_hz,
                     uint64_t idle_s, struct pci_hidden_fn *hide);

#endif
