/* Spins in ring 3 until killed: a loop to single-step. */
void _start(void)
{
    __asm__ volatile(".globl spin\n"
                     "spin:\n\t"
                     "pause\n\t"
                     "jmp spin\n");
    __builtin_unreachable();
}
