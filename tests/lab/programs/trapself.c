/* Executes an int3 of its own: the kernel sends it SIGTRAP (exit status
 * 133), with or without a debugger holding int3 breakpoints elsewhere. */
void _start(void)
{
    __asm__ volatile("int3\n\t"
                     "movl $60, %%eax\n\t"
                     "xorl %%edi, %%edi\n\t"
                     "syscall"
                     :
                     :
                     : "memory");
    __builtin_unreachable();
}
