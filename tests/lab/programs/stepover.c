/* The instructions the VMM runs itself when a debugger continues from an
 * int3 on them (hv/include/lib/stepover.h), and one it steps, in a loop: a
 * debugger breaks on each label. Each iteration pushes onto a stack page
 * not touched before (bss: the push page-faults first). Prints the sum of
 * what the instructions computed, the same with or without the debugger. */
#define ROUNDS 16

static char stacks[ROUNDS][4096] __attribute__((aligned(4096)));

static unsigned long probe(unsigned long x, char *stack_top)
{
    unsigned long sum, dx = 0x1111111111111111ul;
    __asm__ volatile(
        "movq %%rsp, %%r12\n\t"
        "movq %[top], %%rsp\n\t"
        "movq %[x], %%rbx\n\t"
        ".globl so_nop\nso_nop:\n\t"
        "nop\n\t"
        ".globl so_nop5\nso_nop5:\n\t"
        ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
        ".globl so_endbr\nso_endbr:\n\t"
        "endbr64\n\t"
        ".globl so_mov64\nso_mov64:\n\t"
        "movq %%rbx, %%rax\n\t"
        ".globl so_mov32\nso_mov32:\n\t"
        "movl %%eax, %%ecx\n\t"         /* zero-extends */
        ".globl so_mov8\nso_mov8:\n\t"
        "movb %%ah, %%dl\n\t"           /* merges into rdx */
        ".globl so_push\nso_push:\n\t"
        "pushq %%rbx\n\t"               /* the page's first write: #PF first */
        "popq %%r9\n\t"
        "movq $7, %%r8\n\t"
        ".globl so_xchg\nso_xchg:\n\t"
        ".byte 0x49, 0x90\n\t"          /* xchg r8, rax: not a nop, stepped */
        "movq %%r12, %%rsp\n\t"
        "leaq (%%rax,%%rcx,2), %%rax\n\t"
        "addq %%rdx, %%rax\n\t"
        "imulq $3, %%r8, %%r8\n\t"
        "addq %%r8, %%rax\n\t"
        "addq %%r9, %%rax\n\t"
        : "=a"(sum), "+d"(dx)
        : [x] "r"(x), [top] "r"(stack_top)
        : "rbx", "rcx", "r8", "r9", "r12", "memory", "cc");
    return sum;
}

static void put(const char *s, unsigned long n)
{
    __asm__ volatile("syscall" : : "a"(1), "D"(1), "S"(s), "d"(n) : "rcx", "r11", "memory");
}

void _start(void)
{
    unsigned long total = 0;
    for (unsigned i = 0; i < ROUNDS; i++)
        total = total * 31 + probe(0x0123456789abcdeful * (i + 1), stacks[i] + 4096);
    char out[24] = "sum=";
    for (int i = 0; i < 16; i++)
        out[4 + i] = "0123456789abcdef"[(total >> (60 - 4 * i)) & 15];
    out[20] = '\n';
    put(out, 21);
    __asm__ volatile("movl $60, %%eax\n\txorl %%edi, %%edi\n\tsyscall" : : : "memory");
    __builtin_unreachable();
}
