/* Sleeps 2 s (time for a debugger to set its breakpoint), then exits with
 * the value of rdi at `probe_exit`: 0 unless a debugger changed it there. */
void _start(void)
{
    struct {
        long sec, nsec;
    } two = {2, 0};
    __asm__ volatile("syscall" : : "a"(35), "D"(&two), "S"(0) : "rcx", "r11", "memory");
    __asm__ volatile("xorl %%edi, %%edi\n"
                     ".globl probe_exit\n"
                     "probe_exit:\n\t"
                     "movl $60, %%eax\n\t"
                     "syscall"
                     :
                     :
                     : "memory");
    __builtin_unreachable();
}
