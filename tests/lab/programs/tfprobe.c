/* Runs pushf/popf/int n/iret/syscall while a debugger single-steps it; exits
 * with a bit set for each place where it saw TF (0: TF stayed hidden). */
void _start(void)
{
    unsigned long seen;
    __asm__ volatile(
        ".globl probe\n"
        "probe:\n\t"
        "pushfq\n\t"
        "popq %%rbx\n\t"          /* flags as pushf saw them */
        "pushq %%rbx\n\t"
        "popfq\n\t"               /* popf of a TF-clear image */
        "movl $20, %%eax\n\t"     /* ia32 getpid through int 0x80 */
        "int $0x80\n\t"
        "movq %%rsp, %%rcx\n\t"   /* iretq to the next instruction, same ring */
        "movl %%ss, %%eax\n\t"
        "pushq %%rax\n\t"
        "pushq %%rcx\n\t"
        "pushfq\n\t"
        "movl %%cs, %%eax\n\t"
        "pushq %%rax\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "iretq\n"
        "1:\n\t"
        "pushfq\n\t"
        "popq %%rdx\n\t"          /* flags after iret */
        "movl $39, %%eax\n\t"     /* getpid through syscall */
        "syscall\n\t"
        "pushfq\n\t"
        "popq %%rsi\n\t"          /* flags after sysret */
        ".globl probe_end\n"
        "probe_end:\n\t"
        "shrq $8, %%rbx\n\t"
        "andl $1, %%ebx\n\t"
        "shrq $8, %%rdx\n\t"
        "andl $1, %%edx\n\t"
        "shrq $8, %%rsi\n\t"
        "andl $1, %%esi\n\t"
        "leaq (%%rbx,%%rdx,2), %%rax\n\t"
        "leaq (%%rax,%%rsi,4), %%rax\n\t"
        : "=a"(seen) : : "rbx", "rcx", "rdx", "rsi", "r11", "memory", "cc");
    __asm__ volatile("movl $60, %%eax\n\tsyscall" : : "D"(seen) : "memory");
    __builtin_unreachable();
}
