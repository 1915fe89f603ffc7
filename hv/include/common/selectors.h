/* Segment selectors of the VMM's GDT (setup/host.c builds it). Used from C and assembly. */
#ifndef COMMON_SELECTORS_H
#define COMMON_SELECTORS_H
#define VMM_CS 0x08
#define VMM_DS 0x10
#endif
