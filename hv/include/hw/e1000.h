/*
 * The Intel gigabit controllers the VMM drives (vmm/net/e1000.c): their
 * registers, bits and descriptor layouts. No logic.
 *
 *   8254x SDM  PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 *              Developer's Manual (82540EM): §13 registers, §3.2/§3.3
 *              descriptors, §14 initialization.
 *   82574      Intel 82574 GbE Controller Family Datasheet: §10.2
 *              registers, §7.1 receive, §7.2 transmit, §4.6 initialization.
 *   82576      Intel 82576EB GbE Controller Datasheet: §8 registers (§8.10
 *              receive, §8.12 transmit), §7.1.5 advanced receive
 *              descriptors, §7.2.2.1 legacy transmit descriptors, §4.5
 *              initialization.
 *
 * The three share the 8254x's register map for what the VMM uses (CTRL,
 * STATUS, EERD, the interrupt registers, RCTL, TCTL, the address filters);
 * the 82576 moves queue 0's ring registers to C000h (receive) and E000h
 * (transmit) and has per-queue enable bits.
 */
#ifndef HW_E1000_H
#define HW_E1000_H

#include <stdint.h>

#define E1000_VENDOR_INTEL 0x8086
/* PCI device IDs (8254x SDM §5.2 Table 5-1; the 82574 and 82576
 * datasheets' PCIe configuration space chapters): 10D3h is the 82574L,
 * 10C9h the copper 82576. */
#define E1000_DEV_82540EM  0x100e
#define E1000_DEV_82574L   0x10d3
#define E1000_DEV_82576    0x10c9

/* Registers (8254x SDM Table 13-2; 82574 Table 10-3; 82576 Table 8-2) */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EERD     0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_MDIC     0x0020
#define E1000_ICR      0x00c0
#define E1000_IMS      0x00d0
#define E1000_IMC      0x00d8
#define E1000_RCTL     0x0100
#define E1000_TCTL     0x0400
#define E1000_TIPG     0x0410
#define E1000_EIMC     0x1528 /* 82576 only: extended interrupt mask clear (§8.8) */
#define E1000_MTA      0x5200 /* 128 dwords */
#define E1000_RAL0     0x5400
#define E1000_RAH0     0x5404

/* Queue 0's ring registers, from the ring's base: 0x2800 (receive) and
 * 0x3800 (transmit) on the 82540EM and 82574L; 0xC000 and 0xE000 on the
 * 82576 (§8.10, §8.12: queue n at base + 0x40 * n). */
#define E1000_RX_RING_8254X 0x2800
#define E1000_TX_RING_8254X 0x3800
#define E1000_RX_RING_82576 0xc000
#define E1000_TX_RING_82576 0xe000
#define E1000_RING_BAL      0x00
#define E1000_RING_BAH      0x04
#define E1000_RING_LEN      0x08
#define E1000_RING_SRRCTL   0x0c /* 82576 receive only */
#define E1000_RING_HEAD     0x10
#define E1000_RING_TAIL     0x18
#define E1000_RING_DCTL     0x28 /* RXDCTL / TXDCTL */

/* CTRL (8254x SDM §13.4.1; 82574 §10.2.2.1; 82576 §8.2.1) */
#define E1000_CTRL_ASDE (1u << 5)
#define E1000_CTRL_SLU  (1u << 6)
#define E1000_CTRL_RST  (1u << 26)

/* CTRL_EXT.DRV_LOAD (82574 §10.2.2, 82576 §8.2: CTRL_EXT bit 28): a driver
 * owns the port; the manageability firmware of a board leaves it alone */
#define E1000_CTRL_EXT_DRV_LOAD (1u << 28)

/* STATUS: link up (8254x SDM §13.4.2; 82574 §10.2.2.2; 82576 §8.2.2) */
#define E1000_STATUS_LU (1u << 1)

/* MDIC, the PHY's management interface (8254x SDM §13.4.7; 82574 §10.2.2;
 * 82576 §8.2): data 15:0, PHY register 20:16, PHY address 25:21 (1, the
 * internal PHY), op 27:26, ready bit 28, error bit 30. */
#define E1000_MDIC_REG(r)   ((uint32_t)(r) << 16)
#define E1000_MDIC_PHY1     (1u << 21)
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_READY    (1u << 28)
#define E1000_MDIC_ERROR    (1u << 30)
/* The PHY's control register (IEEE 802.3 §22.2.4.1, register 0): enable
 * and restart auto-negotiation. */
#define MII_BMCR            0
#define MII_BMCR_ANENABLE   (1u << 12)
#define MII_BMCR_ANRESTART  (1u << 9)

/* EERD: START is bit 0 on all; the 82540EM has DONE at bit 4 and the
 * address at 15:8 (8254x SDM §13.4.4), the 82574L and 82576 DONE at bit 1
 * and the address at 15:2 (82574 §10.2.2, 82576 §8.2: EERD). Data 31:16. */
#define E1000_EERD_START (1u << 0)

/* RAH: address valid (8254x SDM §13.5.3) */
#define E1000_RAH_AV (1u << 31)

/* RCTL (8254x SDM §13.4.22; 82574 §10.2.5.1; 82576 §8.10.1) */
#define E1000_RCTL_EN    (1u << 1)
#define E1000_RCTL_BAM   (1u << 15) /* broadcasts: ARP requests */
#define E1000_RCTL_SECRC (1u << 26) /* strip the CRC */
/* BSIZE 17:16 = 00 with BSEX 0: 2048-byte buffers; LPE 0: frames up to
 * 1522 bytes, so one descriptor holds a frame. */

/* SRRCTL (82576 §8.10: Split and Replication Receive Control): BSIZEPACKET
 * 6:0 in KiB, DESCTYPE 27:25 (001b: advanced, one buffer) */
#define E1000_SRRCTL_BSIZE_2K      2u
#define E1000_SRRCTL_DESC_ADV_1BUF (1u << 25)
/* RXDCTL / TXDCTL (82576 §8.10, §8.12): the queue's enable bit; it reads
 * back set once the queue runs */
#define E1000_DCTL_ENABLE          (1u << 25)

/* TCTL (8254x SDM §13.4.33; 82574 §10.2.6.1; 82576 §8.12.1) */
#define E1000_TCTL_EN     (1u << 1)
#define E1000_TCTL_PSP    (1u << 3)     /* pad short packets to 64 bytes */
#define E1000_TCTL_CT     (0x0fu << 4)  /* collision threshold: 0Fh (recommended) */
#define E1000_TCTL_COLD   (0x40u << 12) /* collision distance, full duplex: 40h */
/* TIPG for a copper PHY (8254x SDM §13.4.34): IPGT 10, IPGR1 8, IPGR2 6 */
#define E1000_TIPG_COPPER (10u | 8u << 10 | 6u << 20)

/*
 * A receive descriptor, 16 bytes in both formats the VMM uses:
 *
 *   legacy (8254x SDM §3.2.3 Table 3-1; 82574 §7.1.4):
 *     addr | length 15:0, csum 31:16 | status 7:0, errors 15:8, special 31:16
 *   advanced one-buffer (82576 §7.1.5.1 read, §7.1.5.2 write-back):
 *     read:       packet addr          | header addr (0: bit 0 is DD)
 *     write-back: RSS/packet type      | status 19:0, errors 31:20 | length 15:0, VLAN 31:16
 *
 * Status bit 0 is DD (done), bit 1 EOP (end of packet) in both.
 */
struct e1000_rx_desc {
    uint64_t addr; /* the buffer's (read); overwritten by an advanced write-back */
    uint32_t w2;
    uint32_t w3;
};
_Static_assert(sizeof(struct e1000_rx_desc) == 16, "receive descriptors are 16 bytes");

#define E1000_RXD_DD         (1u << 0)
#define E1000_RXD_EOP        (1u << 1)
#define E1000_RXD_LEGACY_ERR 0x0000ff00u /* in w3 */
#define E1000_RXD_ADV_ERR    0xfff00000u /* in w2 */

/* Legacy transmit descriptor (8254x SDM §3.3.3 Table 3-8; 82574 §7.2.10.1;
 * 82576 §7.2.2.1) */
struct e1000_tx_desc {
    uint64_t addr;
    uint16_t length;
    uint8_t cso;
    uint8_t cmd;    /* bit 0 EOP, 1 IFCS, 3 RS */
    uint8_t status; /* bit 0 DD */
    uint8_t css;
    uint16_t special;
};
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "transmit descriptors are 16 bytes");

#define E1000_TXD_EOP  (1u << 0)
#define E1000_TXD_IFCS (1u << 1)
#define E1000_TXD_RS   (1u << 3)
#define E1000_TXD_DD   (1u << 0)

#endif
