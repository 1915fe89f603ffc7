/*
 * The controllers e1000.c drives, one row each: what differs between them
 * for a polled driver with one queue (e1000.h; hw/e1000.h gives the
 * sections).
 *
 *   82540EM  the 8254x register map, legacy descriptors both ways, EERD
 *            DONE at bit 4 (8254x SDM §13.4.4).
 *   82574L   the same map and legacy descriptors (RFCTL.EXTEN 0 at reset:
 *            82574 §7.1.4), EERD DONE at bit 1 (§10.2.2).
 *   82576    queue 0's rings at C000h/E000h; the receive queue takes the
 *            advanced one-buffer format (§7.1.5, SRRCTL.DESCTYPE 001b),
 *            the transmit queue legacy descriptors (§7.2.2.1); each queue
 *            runs once its RXDCTL/TXDCTL.ENABLE is set (§4.5, receive and
 *            transmit initialization); extended interrupts (EIMS/EIMC,
 *            §7.3).
 *
 * The 82574L and 82576 have CTRL_EXT.DRV_LOAD, set once the driver runs.
 */
#include "lib/netopt.h"
#include "vmm/net/e1000.h"

const struct e1000_model e1000_models[] = {
    {
        .name = "82540EM",
        .device = E1000_DEV_82540EM,
        .netopt = NETOPT_E1000,
        .rx_ring = E1000_RX_RING_8254X,
        .tx_ring = E1000_TX_RING_8254X,
        .eerd_done_bit = 4,
        .eerd_addr_shift = 8,
    },
    {
        .name = "82574L",
        .device = E1000_DEV_82574L,
        .netopt = NETOPT_E1000E,
        .rx_ring = E1000_RX_RING_8254X,
        .tx_ring = E1000_TX_RING_8254X,
        .eerd_done_bit = 1,
        .eerd_addr_shift = 2,
        .drv_load = true,
    },
    {
        .name = "82576",
        .device = E1000_DEV_82576,
        .netopt = NETOPT_IGB,
        .rx_ring = E1000_RX_RING_82576,
        .tx_ring = E1000_TX_RING_82576,
        .eerd_done_bit = 1,
        .eerd_addr_shift = 2,
        .adv_rx = true,
        .queue_enable = true,
        .eimc = true,
        .drv_load = true,
    },
};

const unsigned e1000_nmodels = sizeof(e1000_models) / sizeof(e1000_models[0]);
