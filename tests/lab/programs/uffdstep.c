/* An instruction whose step cannot end while the other vCPUs are stopped:
 * its page fault waits on a process pinned to CPU 1 (userfaultfd). The
 * parent, pinned to CPU 0, reads the page at `touch`; its child, on CPU 1,
 * serves the fault with a page of 0x5a. Exits 0 if the parent read 0x5a,
 * 1 if it read anything else, 2-7 if a system call failed (no libc). */
#define SYS_read              0
#define SYS_mmap              9
#define SYS_ioctl             16
#define SYS_fork              57
#define SYS_exit              60
#define SYS_wait4             61
#define SYS_sched_setaffinity 203
#define SYS_userfaultfd       323

/* linux/userfaultfd.h: _IOWR(0xAA, nr, struct) */
#define UFFD_API          0xaa
#define UFFDIO_API        0xc018aa3fUL /* nr 0x3f, struct uffdio_api (24 bytes) */
#define UFFDIO_REGISTER   0xc020aa00UL /* nr 0x00, struct uffdio_register (32) */
#define UFFDIO_COPY       0xc028aa03UL /* nr 0x03, struct uffdio_copy (40) */
#define UFFDIO_MODE_MISSING 1UL

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static void leave(long status)
{
    sys(SYS_exit, status, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}

static void pin(unsigned long cpu)
{
    unsigned long mask = 1UL << cpu;
    if (sys(SYS_sched_setaffinity, 0, sizeof(mask), (long)&mask, 0, 0, 0) < 0)
        leave(2);
}

static unsigned char page[4096] __attribute__((aligned(4096)));

void _start(void)
{
    unsigned long api[3] = {UFFD_API, 0, 0};
    long uffd = sys(SYS_userfaultfd, 0, 0, 0, 0, 0, 0);
    if (uffd < 0 || sys(SYS_ioctl, uffd, (long)UFFDIO_API, (long)api, 0, 0, 0) < 0)
        leave(3);
    long area = sys(SYS_mmap, 0, 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    if (area < 0)
        leave(4);
    unsigned long reg[4] = {(unsigned long)area, 4096, UFFDIO_MODE_MISSING, 0};
    if (sys(SYS_ioctl, uffd, (long)UFFDIO_REGISTER, (long)reg, 0, 0, 0) < 0)
        leave(5);
    long child = sys(SYS_fork, 0, 0, 0, 0, 0, 0);
    if (child < 0)
        leave(6);
    if (child == 0) {
        unsigned long msg[4];
        pin(1);
        if (sys(SYS_read, uffd, (long)msg, sizeof(msg), 0, 0, 0) != sizeof(msg))
            leave(7);
        for (unsigned i = 0; i < sizeof(page); i++)
            page[i] = 0x5a;
        unsigned long copy[5] = {(unsigned long)area, (unsigned long)page, 4096, 0, 0};
        leave(sys(SYS_ioctl, uffd, (long)UFFDIO_COPY, (long)copy, 0, 0, 0) < 0 ? 7 : 0);
    }
    pin(0);
    unsigned long seen;
    __asm__ volatile(".globl touch\n"
                     "touch:\n\t"
                     "movzbl (%1), %%eax\n\t"
                     : "=a"(seen)
                     : "r"(area)
                     : "memory");
    sys(SYS_wait4, child, 0, 0, 0, 0, 0);
    leave(seen == 0x5a ? 0 : 1);
}
