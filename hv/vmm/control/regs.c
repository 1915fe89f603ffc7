/*
 * The register layout (regs.h) and target.xml.
 *
 * gdb's x86 code ignores the tdesc group of a register (it files every
 * register it does not know under "general"), so `info registers system`
 * would list nothing. It looks a name up as a register before a group,
 * though: a read-only register named "system", a struct of all the system
 * registers, makes that command print them, with CR0/CR4/EFER/DR7 decoded.
 * It is not in the 'g' packet; gdb reads it with 'p'.
 */
#include "vmm/control/regs.h"
#include "lib/fmt.h"
#include "lib/mem.h"
#include "vmm/control/stub.h"

/* clang-format off */
#define GPR(n, x) {n, 64, R_GPR, x, "int64"}
#define SEG3(s, id) {s "_base", 64, R_SEG_BASE, id, "data_ptr"}, {s "_limit", 32, R_SEG_LIMIT, id, "int32"}, \
                    {s "_attr", 32, R_SEG_ATTR, id, "int32"}
/* clang-format on */

static const struct reg_desc regs[] = {
    /* org.gnu.gdb.i386.core: 0-39 */
    GPR("rax", RG_RAX),
    GPR("rbx", RG_RBX),
    GPR("rcx", RG_RCX),
    GPR("rdx", RG_RDX),
    GPR("rsi", RG_RSI),
    GPR("rdi", RG_RDI),
    {"rbp", 64, R_GPR, RG_RBP, "data_ptr"},
    {"rsp", 64, R_GPR, RG_RSP, "data_ptr"},
    GPR("r8", 8),
    GPR("r9", 9),
    GPR("r10", 10),
    GPR("r11", 11),
    GPR("r12", 12),
    GPR("r13", 13),
    GPR("r14", 14),
    GPR("r15", 15),
    {"rip", 64, R_RIP, 0, "code_ptr"},
    {"eflags", 32, R_RFLAGS, 0, "int32"},
    {"cs", 32, R_SEL, RS_CS, "int32"},
    {"ss", 32, R_SEL, RS_SS, "int32"},
    {"ds", 32, R_SEL, RS_DS, "int32"},
    {"es", 32, R_SEL, RS_ES, "int32"},
    {"fs", 32, R_SEL, RS_FS, "int32"},
    {"gs", 32, R_SEL, RS_GS, "int32"},
    {"st0", 80, R_ST, 0, "i387_ext"},
    {"st1", 80, R_ST, 1, "i387_ext"},
    {"st2", 80, R_ST, 2, "i387_ext"},
    {"st3", 80, R_ST, 3, "i387_ext"},
    {"st4", 80, R_ST, 4, "i387_ext"},
    {"st5", 80, R_ST, 5, "i387_ext"},
    {"st6", 80, R_ST, 6, "i387_ext"},
    {"st7", 80, R_ST, 7, "i387_ext"},
    {"fctrl", 32, R_FPU, 0, "int"},
    {"fstat", 32, R_FPU, 1, "int"},
    {"ftag", 32, R_FPU, 2, "int"},
    {"fiseg", 32, R_FPU, 3, "int"},
    {"fioff", 32, R_FPU, 4, "int"},
    {"foseg", 32, R_FPU, 5, "int"},
    {"fooff", 32, R_FPU, 6, "int"},
    {"fop", 32, R_FPU, 7, "int"},
    /* org.gnu.gdb.i386.sse: 40-56 */
    {"xmm0", 128, R_XMM, 0, "uint128"},
    {"xmm1", 128, R_XMM, 1, "uint128"},
    {"xmm2", 128, R_XMM, 2, "uint128"},
    {"xmm3", 128, R_XMM, 3, "uint128"},
    {"xmm4", 128, R_XMM, 4, "uint128"},
    {"xmm5", 128, R_XMM, 5, "uint128"},
    {"xmm6", 128, R_XMM, 6, "uint128"},
    {"xmm7", 128, R_XMM, 7, "uint128"},
    {"xmm8", 128, R_XMM, 8, "uint128"},
    {"xmm9", 128, R_XMM, 9, "uint128"},
    {"xmm10", 128, R_XMM, 10, "uint128"},
    {"xmm11", 128, R_XMM, 11, "uint128"},
    {"xmm12", 128, R_XMM, 12, "uint128"},
    {"xmm13", 128, R_XMM, 13, "uint128"},
    {"xmm14", 128, R_XMM, 14, "uint128"},
    {"xmm15", 128, R_XMM, 15, "uint128"},
    {"mxcsr", 32, R_MXCSR, 0, "int"},
    /* org.ramooflax.system: 57-100 */
    {"cr0", 64, R_CR, 0, "int64"},
    {"cr2", 64, R_CR, 2, "int64"},
    {"cr3", 64, R_CR, 3, "int64"},
    {"cr4", 64, R_CR, 4, "int64"},
    {"cr8", 64, R_CR, 8, "int64"},
    {"efer", 64, R_EFER, 0, "int64"},
    {"dr0", 64, R_DR, 0, "int64"},
    {"dr1", 64, R_DR, 1, "int64"},
    {"dr2", 64, R_DR, 2, "int64"},
    {"dr3", 64, R_DR, 3, "int64"},
    {"dr6", 64, R_DR, 6, "int64"},
    {"dr7", 64, R_DR, 7, "int64"},
    {"dbgctl", 64, R_DBGCTL, 0, "int64"},
    SEG3("cs", RS_CS),
    SEG3("ss", RS_SS),
    SEG3("ds", RS_DS),
    SEG3("es", RS_ES),
    SEG3("fs", RS_FS),
    SEG3("gs", RS_GS),
    {"gdtr_base", 64, R_DT_BASE, RS_GDTR, "data_ptr"},
    {"gdtr_limit", 32, R_DT_LIMIT, RS_GDTR, "int32"},
    {"idtr_base", 64, R_DT_BASE, RS_IDTR, "data_ptr"},
    {"idtr_limit", 32, R_DT_LIMIT, RS_IDTR, "int32"},
    {"ldtr", 32, R_SEL, RS_LDTR, "int32"},
    SEG3("ldtr", RS_LDTR),
    {"tr", 32, R_SEL, RS_TR, "int32"},
    SEG3("tr", RS_TR),
    /* MSRs kept in the VMCB: arg indexes msr_of[] */
    {"kernel_gs_base", 64, R_MSR, 0, "int64"},
    {"star", 64, R_MSR, 1, "int64"},
    {"lstar", 64, R_MSR, 2, "code_ptr"},
    {"cstar", 64, R_MSR, 3, "code_ptr"},
    {"sfmask", 64, R_MSR, 4, "int64"},
    {"sysenter_cs", 64, R_MSR, 5, "int64"},
    {"sysenter_esp", 64, R_MSR, 6, "data_ptr"},
    {"sysenter_eip", 64, R_MSR, 7, "code_ptr"},
    {"pat", 64, R_MSR, 8, "int64"},
};

const uint32_t stub_reg_msr[] = {0xc0000102, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,
                                 0x174,      0x175,      0x176,      0x277};

#define NREGS        (sizeof(regs) / sizeof(regs[0]))
#define FIRST_SSE    40
#define FIRST_SYSTEM 57
_Static_assert(NREGS == 109, "docs/protocol.md numbers registers 0-108");

unsigned stub_reg_count(void) { return NREGS; }
unsigned stub_reg_size(unsigned n) { return n < NREGS ? regs[n].bits / 8 : 0; }
const char *stub_reg_name(unsigned n) { return n < NREGS ? regs[n].name : ""; }
bool stub_reg_is_system(unsigned n) { return n >= FIRST_SYSTEM && n < NREGS; }
const struct reg_desc *stub_reg_desc(unsigned n) { return n < NREGS ? &regs[n] : 0; }

int stub_reg_by_name(const char *name, size_t len)
{
    for (unsigned i = 0; i < NREGS; i++)
        if (lib_strlen(regs[i].name) == len && !lib_strncmp(regs[i].name, name, len))
            return (int)i;
    return -1;
}

/* The "system" summary register: every system register as 8 bytes. */
#define SUMMARY_BYTES (8 * (NREGS - FIRST_SYSTEM))

unsigned stub_reg_summary(void) { return NREGS; }
unsigned stub_reg_summary_size(void) { return SUMMARY_BYTES; }

/* Bit names for the decoded fields: AMD APM Vol.2 §3.1.1 (CR0), §3.1.3 (CR4),
 * §3.1.7 (EFER), §13.1.1.5 (DR7). */
struct bit_name {
    const char *name;
    uint8_t bit;
};
static const struct bit_name cr0_bits[] = {{"PE", 0},  {"MP", 1},  {"EM", 2},  {"TS", 3},
                                           {"ET", 4},  {"NE", 5},  {"WP", 16}, {"AM", 18},
                                           {"NW", 29}, {"CD", 30}, {"PG", 31}, {0, 0}};
static const struct bit_name cr4_bits[] = {
    {"VME", 0},         {"PVI", 1},   {"TSD", 2},   {"DE", 3},        {"PSE", 4},
    {"PAE", 5},         {"MCE", 6},   {"PGE", 7},   {"PCE", 8},       {"OSFXSR", 9},
    {"OSXMMEXCPT", 10}, {"UMIP", 11}, {"LA57", 12}, {"FSGSBASE", 16}, {"PCIDE", 17},
    {"OSXSAVE", 18},    {"SMEP", 20}, {"SMAP", 21}, {"PKE", 22},      {0, 0}};
static const struct bit_name efer_bits[] = {{"SCE", 0},    {"LME", 8},   {"LMA", 10},
                                            {"NXE", 11},   {"SVME", 12}, {"LMSLE", 13},
                                            {"FFXSR", 14}, {"TCE", 15},  {0, 0}};
static const struct bit_name dr7_bits[] = {{"L0", 0}, {"G0", 1}, {"L1", 2}, {"G1", 3},  {"L2", 4},
                                           {"G2", 5}, {"L3", 6}, {"G3", 7}, {"GD", 13}, {0, 0}};

static const struct {
    const char *reg;
    const struct bit_name *bits;
} decoded[] = {{"cr0", cr0_bits}, {"cr4", cr4_bits}, {"efer", efer_bits}, {"dr7", dr7_bits}};

/* target.xml, written once from the table above: the same bytes on
 * every call, so nothing per session lives here. */
static char xml[16384];
static unsigned long xml_len;

static void xml_put(const char *s)
{
    size_t n = lib_strlen(s);
    if (xml_len + n < sizeof(xml)) {
        lib_memcpy(xml + xml_len, s, n);
        xml_len += n;
    }
}

static void put_summary_xml(char *line, size_t size)
{
    for (unsigned d = 0; d < sizeof(decoded) / sizeof(decoded[0]); d++) {
        fmt_snprintf(line, size, "<flags id=\"rfx_%s\" size=\"8\">", decoded[d].reg);
        xml_put(line);
        for (const struct bit_name *b = decoded[d].bits; b->name; b++) {
            fmt_snprintf(line, size, "<field name=\"%s\" start=\"%u\" end=\"%u\"/>", b->name,
                         b->bit, b->bit);
            xml_put(line);
        }
        xml_put("</flags>");
    }
    xml_put("<struct id=\"rfx_system\">");
    for (unsigned i = FIRST_SYSTEM; i < NREGS; i++) {
        bool flags = false;
        for (unsigned d = 0; d < sizeof(decoded) / sizeof(decoded[0]); d++)
            flags |= !lib_strncmp(decoded[d].reg, regs[i].name, lib_strlen(regs[i].name) + 1);
        fmt_snprintf(line, size, "<field name=\"%s\" type=\"%s%s\"/>", regs[i].name,
                     flags ? "rfx_" : "data_ptr", flags ? regs[i].name : "");
        xml_put(line);
    }
    fmt_snprintf(line, size,
                 "</struct><reg name=\"system\" bitsize=\"%u\" type=\"rfx_system\" "
                 "group=\"system\"/>",
                 (unsigned)(8 * SUMMARY_BYTES));
    xml_put(line);
}

const char *stub_target_xml(unsigned long *len)
{
    if (!xml_len) {
        char line[160];
        xml_put("<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                "<target version=\"1.0\"><architecture>i386:x86-64</architecture>"
                "<feature name=\"org.gnu.gdb.i386.core\">");
        for (unsigned i = 0; i < NREGS; i++) {
            if (i == FIRST_SSE)
                xml_put("</feature><feature name=\"org.gnu.gdb.i386.sse\">");
            if (i == FIRST_SYSTEM)
                xml_put("</feature><feature name=\"org.ramooflax.system\">");
            const char *group = i >= FIRST_SYSTEM           ? " group=\"system\""
                                : (regs[i].kind == R_FPU)   ? " group=\"float\""
                                : (regs[i].kind == R_MXCSR) ? " group=\"vector\""
                                                            : "";
            fmt_snprintf(line, sizeof(line), "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\"%s/>",
                         regs[i].name, regs[i].bits, regs[i].type, group);
            xml_put(line);
        }
        put_summary_xml(line, sizeof(line));
        xml_put("</feature></target>");
    }
    *len = xml_len;
    return xml;
}
