/*
 * The local APIC, as the VMM uses it: the registers of its xAPIC page and
 * their x2APIC MSRs, and the interrupt command register. No logic.
 * Intel SDM Vol.3A ch.11 ("Advanced Programmable Interrupt Controller"):
 * Table 11-1 (the register map), §11.6.1 and Figure 11-12 (the ICR),
 * §11.12.1 (x2APIC MSRs: 800h + offset / 16); AMD APM Vol.2 ch.16.
 */
#ifndef HW_APIC_H
#define HW_APIC_H

#define APIC_ID     0x020
#define APIC_EOI    0x0b0
#define APIC_LDR    0x0d0
#define APIC_DFR    0x0e0
#define APIC_SVR    0x0f0
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_PAGE   0x1000

#define X2APIC_MSR(off) (0x800 + ((off) >> 4))

/* ICR low word */
#define ICR_VECTOR(icr)    ((unsigned)(icr)&0xff)
#define ICR_DELIVERY(icr)  (((unsigned)(icr) >> 8) & 7)
#define ICR_DM_FIXED       0
#define ICR_DM_LOWEST      1
#define ICR_DM_SMI         2
#define ICR_DM_NMI         4
#define ICR_DM_INIT        5
#define ICR_DM_STARTUP     6
#define ICR_DEST_LOGICAL   (1u << 11)
#define ICR_BUSY           (1u << 12) /* delivery status (xAPIC) */
#define ICR_LEVEL_ASSERT   (1u << 14)
#define ICR_TRIGGER_LEVEL  (1u << 15)
#define ICR_SHORTHAND(icr) (((unsigned)(icr) >> 18) & 3)
#define ICR_SH_NONE        0
#define ICR_SH_SELF        1
#define ICR_SH_ALL         2
#define ICR_SH_OTHERS      3

/* The destination: ICR_HI[31:24] in xAPIC mode, ICR[63:32] in x2APIC. */
#define XAPIC_DEST(hi)   (((hi) >> 24) & 0xff)
#define XAPIC_BROADCAST  0xff
#define X2APIC_BROADCAST 0xffffffffu

/* DFR models (xAPIC): flat or cluster (SDM §11.6.2.2) */
#define DFR_MODEL(dfr) (((dfr) >> 28) & 0xf)
#define DFR_FLAT       0xf

#endif
