/* Thin inline wrappers around privileged x86 instructions (32- and 64-bit). */
#ifndef COMMON_CPU_H
#define COMMON_CPU_H

#include <stdint.h>

static inline void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void cpu_halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* The hardware debug registers DR0-DR3 and DR6 (n), which the VMM itself
 * never uses: while the VM runs they are the VM's (APM Vol.2 §13.1; SDM
 * Vol.3B §18.2). Other n read 0 and are not written. */
static inline uint64_t hw_get_dr(unsigned n)
{
    uint64_t val = 0;
    switch (n) {
    case 0:
        __asm__ volatile("mov %%dr0, %0" : "=r"(val));
        break;
    case 1:
        __asm__ volatile("mov %%dr1, %0" : "=r"(val));
        break;
    case 2:
        __asm__ volatile("mov %%dr2, %0" : "=r"(val));
        break;
    case 3:
        __asm__ volatile("mov %%dr3, %0" : "=r"(val));
        break;
    case 6:
        __asm__ volatile("mov %%dr6, %0" : "=r"(val));
        break;
    default:
        break;
    }
    return val;
}

static inline void hw_set_dr(unsigned n, uint64_t val)
{
    switch (n) {
    case 0:
        __asm__ volatile("mov %0, %%dr0" ::"r"(val));
        break;
    case 1:
        __asm__ volatile("mov %0, %%dr1" ::"r"(val));
        break;
    case 2:
        __asm__ volatile("mov %0, %%dr2" ::"r"(val));
        break;
    case 3:
        __asm__ volatile("mov %0, %%dr3" ::"r"(val));
        break;
    case 6:
        __asm__ volatile("mov %0, %%dr6" ::"r"(val));
        break;
    default:
        break;
    }
}

#endif
