/* setup's 64-bit entry, and the jump into the vmm. */
#include "common/selectors.h"

    .section .text.entry, "ax"
    .code64
    .global _start
/* rdi = multiboot info, rsi = multiboot module entry of the vmm */
_start:
    cld
    call setup_main
1:  cli
    hlt
    jmp 1b
