/*
 * Included first in every object of the UEFI application (hv/Makefile):
 * every symbol, declared or defined, is hidden, so position-independent
 * code reaches functions and data RIP-relative and never through a GOT,
 * which ld's PE output (i386pep) does not build.
 */
#ifndef __ASSEMBLER__
#pragma GCC visibility push(hidden)
#endif
