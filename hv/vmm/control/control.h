/*
 * The control channel: a UART owned by the VMM (ctrl=uart:PORT), speaking
 * the GDB remote serial protocol. This first version answers the monitor
 * commands the lab needs (qRcmd "exits", "help"); the full stub builds on
 * the same framing and poll points.
 */
#ifndef VMM_CONTROL_CONTROL_H
#define VMM_CONTROL_CONTROL_H

#include "vmm/core/vcpu.h"

enum control_poll_reason {
    CONTROL_POLL_EXIT, /* any exit: polled on a fraction of them */
    CONTROL_POLL_CR3,  /* every CR3 write */
    CONTROL_POLL_HLT,  /* every HLT */
};

void control_init(struct vcpu *v);
/* Reads what the client sent, if anything, and answers it. Cheap when
 * nothing is waiting: one status-register read. */
void control_poll(struct vcpu *v, enum control_poll_reason why);
/* The VMM is about to halt for good: log the summary one last time. */
void control_final(struct vcpu *v);

#endif
