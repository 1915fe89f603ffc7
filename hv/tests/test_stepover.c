/* lib/stepover.c: which instructions under an int3 the VMM runs itself. */
#include "check.h"
#include "lib/stepover.h"
#include <stdlib.h>
#include <string.h>

struct row {
    unsigned mode;
    const char *hex;
    enum stepover_op op;
    int dst, src, size; /* -1: not checked */
    const char *what;
};

static const struct row rows[] = {
    {64, "90", STEPOVER_NOP, -1, -1, -1, "nop"},
    {64, "f390", STEPOVER_NOP, -1, -1, -1, "pause"},
    {64, "4890", STEPOVER_NOP, -1, -1, -1, "xchg rax,rax (REX.W 90)"},
    {64, "4190", STEPOVER_STEP, -1, -1, -1, "xchg r8,rax, not a nop"},
    {64, "0f1f440000", STEPOVER_NOP, -1, -1, -1, "nop5 (a compiled-out fentry call)"},
    {64, "660f1f440000", STEPOVER_NOP, -1, -1, -1, "nop6"},
    {64, "0f1f00", STEPOVER_NOP, -1, -1, -1, "nop [rax]: no access"},
    {64, "0f1f4800", STEPOVER_STEP, -1, -1, -1, "0f 1f /1: not the NOP"},
    {64, "f30f1efa", STEPOVER_ENDBR, -1, -1, -1, "endbr64"},
    {64, "f30f1efb", STEPOVER_ENDBR, -1, -1, -1, "endbr32"},
    {64, "0f1efa", STEPOVER_STEP, -1, -1, -1, "0f 1e fa without F3"},
    {64, "0f01f8", STEPOVER_SWAPGS, -1, -1, -1, "swapgs"},
    {64, "0f01f9", STEPOVER_STEP, -1, -1, -1, "rdtscp"},
    {64, "55", STEPOVER_PUSH, -1, 5, 8, "push rbp"},
    {64, "50", STEPOVER_PUSH, -1, 0, 8, "push rax"},
    {64, "54", STEPOVER_PUSH, -1, 4, 8, "push rsp"},
    {64, "4157", STEPOVER_PUSH, -1, 15, 8, "push r15"},
    {64, "4855", STEPOVER_PUSH, -1, 5, 8, "push rbp with REX.W"},
    {64, "6655", STEPOVER_STEP, -1, -1, -1, "push bp (16 bits)"},
    {64, "5d", STEPOVER_STEP, -1, -1, -1, "pop rbp"},
    {64, "4889e5", STEPOVER_MOV, 5, 4, 8, "mov rbp,rsp"},
    {64, "4c89e7", STEPOVER_MOV, 7, 12, 8, "mov rdi,r12"},
    {64, "498bfc", STEPOVER_MOV, 7, 12, 8, "mov rdi,r12 (8b form)"},
    {64, "89c8", STEPOVER_MOV, 0, 1, 4, "mov eax,ecx"},
    {64, "6689c8", STEPOVER_MOV, 0, 1, 2, "mov ax,cx"},
    {64, "88e0", STEPOVER_MOV, 0, 4, 1, "mov al,ah"},
    {64, "4088e0", STEPOVER_MOV, 0, 4, 1, "mov al,spl (REX)"},
    {64, "8ac4", STEPOVER_MOV, 0, 4, 1, "mov al,ah (8a form)"},
    {64, "488b07", STEPOVER_STEP, -1, -1, -1, "mov rax,[rdi]: a memory operand"},
    {64, "48890424", STEPOVER_STEP, -1, -1, -1, "mov [rsp],rax"},
    {64, "4831c0", STEPOVER_STEP, -1, -1, -1, "xor rax,rax: flags"},
    {64, "f0ff00", STEPOVER_STEP, -1, -1, -1, "lock inc [rax]"},
    {64, "e800000000", STEPOVER_STEP, -1, -1, -1, "call rel32"},
    {64, "c3", STEPOVER_STEP, -1, -1, -1, "ret"},
    {64, "0f05", STEPOVER_STEP, -1, -1, -1, "syscall"},
    {64, "c5f877", STEPOVER_STEP, -1, -1, -1, "vzeroupper (VEX)"},
    {32, "55", STEPOVER_STEP, -1, -1, -1, "push ebp in 32-bit code"},
    {32, "90", STEPOVER_STEP, -1, -1, -1, "nop in 32-bit code"},
    {16, "89e5", STEPOVER_STEP, -1, -1, -1, "mov bp,sp in 16-bit code"},
};

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        char b[3] = {hex[2 * i], hex[2 * i + 1], 0};
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
    return n;
}

int main(void)
{
    for (unsigned i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        uint8_t bytes[INSN_MAX_LEN];
        struct insn in;
        struct stepover so = {0xee, 0xee, 0xee};
        size_t n = unhex(r->hex, bytes);
        CHECK(!insn_decode(&in, bytes, n, r->mode), "%s: does not decode", r->what);
        CHECK(in.len == n, "%s: length %u, not %zu", r->what, in.len, n);
        enum stepover_op op = stepover_classify(&in, &so);
        CHECK(op == r->op, "%s: op %d, not %d", r->what, op, r->op);
        if (r->dst >= 0)
            CHECK(so.dst == r->dst, "%s: dst %u, not %d", r->what, so.dst, r->dst);
        if (r->src >= 0)
            CHECK(so.src == r->src, "%s: src %u, not %d", r->what, so.src, r->src);
        if (r->size >= 0)
            CHECK(so.size == r->size, "%s: size %u, not %d", r->what, so.size, r->size);
    }
    return check_report();
}
