/* The stub's internal state and helpers, shared by the files of control/. */
#ifndef VMM_CONTROL_STUB_H
#define VMM_CONTROL_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/rsp.h"
#include "vmm/control/control.h"

#define STUB_PACKET_SIZE   0x4000 /* advertised PacketSize */
#define STUB_SWBP_MAX      64
#define STUB_EVENT_MAX     200
#define STUB_CPUID_FILTERS 16
#define STUB_MSR_FILTERS   16
#define STUB_IO_FILTERS    16

enum stub_action { STUB_STAY, STUB_RESUME, STUB_STEP, STUB_DETACH };

struct swbp {
    bool used;
    uint64_t addr; /* linear, as the client gave it */
    uint64_t pa;   /* where the int3 byte went */
    uint8_t saved;
};

struct hwbp {
    bool used;
    uint8_t type; /* Z type: 1 exec, 2 write, 3 read, 4 access */
    uint8_t len;
    uint64_t addr;
};

struct filters {
    uint16_t cr_write, cr_read; /* bit per CR */
    uint32_t excp;              /* bit per vector */
    bool cpuid_all;
    uint32_t cpuid[STUB_CPUID_FILTERS];
    unsigned ncpuid;
    uint32_t msr[STUB_MSR_FILTERS];
    unsigned nmsr;
    uint16_t io[STUB_IO_FILTERS];
    unsigned nio;
    uint8_t intn[32]; /* bit per vector */
    bool npf;
    bool reset;
};

struct stub {
    struct rsp_rx rx;
    uint16_t port;
    bool noack;
    bool packet_waiting; /* stub.rx holds a packet that arrived while we sent */
    bool session;        /* a client has talked to us since the last detach */
    uint64_t tsc_hz;
    uint64_t timeout_tsc; /* silence that ends a stopped session */
    /* Ctrl-C latency in guest time: the VM's TSC at the last poll that found
     * the line quiet, and the guest time between that poll and the one that
     * found the last 0x03 (the byte came in between: an upper bound). */
    uint64_t quiet_tsc;
    uint64_t ctrlc_window;

    /* the stop being reported */
    bool event_pending;
    char event[STUB_EVENT_MAX];
    char last_stop[STUB_EVENT_MAX];

    /* memory */
    bool mem_phys;
    uint64_t active_cr3; /* 0: the VM's current cr3 */
    bool active_cr3_keep;

    /* breakpoints */
    struct swbp sw[STUB_SWBP_MAX];
    unsigned nsw;
    struct hwbp hw[4];
    bool own_dr; /* DR accesses intercepted, the VM's values shadowed */
    uint64_t dr_shadow[8];
    int step_over_sw;      /* index of the sw breakpoint being stepped over, or -1 */
    bool step_over_resume; /* ...then continue rather than stop */

    /* single-step */
    bool stepping;
    bool guest_tf;       /* TF as the VM set it */
    uint8_t step_opcode; /* 0x9c pushf, 0x9d popf, 0xcf iret, 0 other */
    uint8_t step_opsize;
    bool step_cr3_mode; /* step only this process's ring 3 */
    uint64_t step_cr3;
    bool step_waiting_cr3;
    int step_int_dr; /* DR used to step over INT n, or -1 */

    struct filters f;
    bool lbr_on;
};

extern struct stub stub;

/* control.c: transport */
void stub_send(const void *data, size_t len);
void stub_send_str(const char *s);
void stub_send_console(const char *text, size_t len);
void stub_send_error(unsigned code);
/* Records a stop with its T-packet text; the poll after this exit reports it. */
void stub_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* gdb_cmds.c */
enum stub_action stub_dispatch(struct vcpu *v, char *pkt, size_t len);

/* gdb_regs.c */
const char *stub_target_xml_get(unsigned long *len);
unsigned stub_reg_count(void);
/* Reads register n into out (little-endian), returns its size in bytes or 0. */
unsigned stub_reg_read(struct vcpu *v, unsigned n, uint8_t *out);
/* Writes register n from in (size bytes). Returns 0 / -1. */
int stub_reg_write(struct vcpu *v, unsigned n, const uint8_t *in);
/* Register n (at most 64 bits of it) as a number. */
uint64_t stub_reg_value(struct vcpu *v, unsigned n);
/* The read-only "system" register (all system registers, for gdb's
 * `info registers system`): its number, and its bytes (0 if size is short). */
unsigned stub_reg_summary(void);
unsigned stub_reg_summary_read(struct vcpu *v, uint8_t *out, size_t size);
int stub_reg_by_name(const char *name, size_t len);
const char *stub_reg_name(unsigned n);
bool stub_reg_is_system(unsigned n);
void stub_fpu_load(void);
void stub_fpu_commit(void);

/* gdb_mem.c */
/* Translates va through cr3 (0 = the VM's current) with the VM's paging
 * mode. Returns 0 / -1. */
int stub_v2p(struct vcpu *v, uint64_t cr3, uint64_t va, uint64_t *pa);
/* Memory as the memory packets see it. Return bytes done (may be short). */
size_t stub_mem_read(struct vcpu *v, uint64_t addr, uint8_t *buf, size_t len);
size_t stub_mem_write(struct vcpu *v, uint64_t addr, const uint8_t *buf, size_t len);
size_t stub_virt_read(struct vcpu *v, uint64_t cr3, uint64_t addr, uint8_t *buf, size_t len);

/* gdb_bp.c */
int stub_bp_insert(struct vcpu *v, unsigned type, uint64_t addr, unsigned len);
int stub_bp_remove(struct vcpu *v, unsigned type, uint64_t addr, unsigned len);
void stub_bp_clear_all(struct vcpu *v);
/* Prepares the VM to resume: steps over a breakpoint under rip, arms TF. */
void stub_prepare_resume(struct vcpu *v, bool step);
void stub_sync_intercepts(struct vcpu *v);
void stub_step_cr3_written(struct vcpu *v, uint64_t cr3);

/* rfx_ext.c */
enum stub_action stub_rfx_query(struct vcpu *v, char *pkt, size_t len);
enum stub_action stub_rfx_set(struct vcpu *v, char *pkt, size_t len);
void stub_filters_clear(struct vcpu *v);

/* monitor.c */
void stub_monitor(struct vcpu *v, char *cmd, size_t len);

/* parsing helpers (gdb_cmds.c) */
/* Parses hex up to a non-hex char; returns chars used (0 if none). */
size_t stub_parse_hex(const char *s, size_t n, uint64_t *out);
char *stub_reply_buf(void);

#endif
