/*
 * Unit tests for lib/rsp.c: the GDB remote-serial-protocol receiver (one
 * byte at a time), rsp_frame and the hex helpers.
 *
 * Receiver rows feed a byte stream and compare the log of the events it
 * produced: P[data] a packet (non-printable bytes as \xNN), B bad packet,
 * I interrupt, + ack, - nack. Checksums in the rows are hard-coded (sum of
 * the raw bytes between '$' and '#', mod 256), not computed by the code
 * under test.
 */
#include "check.h"
#include "lib/rsp.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOGSZ 512

static void log_add(char *log, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + l < LOGSZ) {
        memcpy(log + *n, s, l + 1);
        *n += l;
    }
}

/* Feeds len bytes, appends every event to log. */
static void feed(struct rsp_rx *rx, const uint8_t *in, size_t len, char *log)
{
    size_t n = strlen(log);
    char tmp[8];

    for (size_t i = 0; i < len; i++) {
        switch (rsp_rx_byte(rx, in[i])) {
        case RSP_EV_NONE:
            break;
        case RSP_EV_PACKET:
            log_add(log, &n, "P[");
            for (size_t j = 0; j < rx->len; j++) {
                uint8_t c = rx->buf[j];
                if (c >= 0x20 && c < 0x7f)
                    snprintf(tmp, sizeof(tmp), "%c", c);
                else
                    snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                log_add(log, &n, tmp);
            }
            log_add(log, &n, "]");
            break;
        case RSP_EV_BAD:
            log_add(log, &n, "B");
            break;
        case RSP_EV_INTERRUPT:
            log_add(log, &n, "I");
            break;
        case RSP_EV_ACK:
            log_add(log, &n, "+");
            break;
        case RSP_EV_NACK:
            log_add(log, &n, "-");
            break;
        default:
            log_add(log, &n, "?");
            break;
        }
    }
}

/* Heap-allocated so that ASan catches a write past buf. */
static struct rsp_rx *rx_new(void)
{
    struct rsp_rx *rx = malloc(sizeof(*rx));
    if (!rx)
        abort();
    memset(rx, 0xa5, sizeof(*rx)); /* init must not rely on zeroed memory */
    rsp_rx_init(rx);
    return rx;
}

/* Inputs are written as string literals; S() keeps embedded NULs out of
 * the way by using the literal's size. */
struct rx_row {
    const char *name;
    const char *in;
    size_t len;
    const char *want;
};
#define S(s) s, sizeof(s) - 1

static const struct rx_row rx_rows[] = {
    /* good packets */
    {"empty packet", S("$#00"), "P[]"},
    {"OK", S("$OK#9a"), "P[OK]"},
    {"upper-case checksum", S("$OK#9A"), "P[OK]"},
    {"read memory", S("$m1000,4#8e"), "P[m1000,4]"},
    {"qSupported", S("$qSupported:multiprocess+#c6"), "P[qSupported:multiprocess+]"},
    {"two in a row", S("$OK#9a$g#67"), "P[OK]P[g]"},
    {"0x03 inside is data", S("$\x03#03"), "P[\\x03]"},
    {"+ and - inside are data", S("$+-#58"), "P[+-]"},

    /* bad checksums */
    {"bad checksum", S("$OK#9b"), "B"},
    {"bad high digit", S("$OK#8a"), "B"},
    {"bad then good", S("$OK#00$OK#9a"), "BP[OK]"},

    /* escapes: '}' then the byte XOR 0x20; checksum over the raw bytes */
    {"escaped }", S("$a}]b#9d"), "P[a}b]"},
    {"sum over unescaped is bad", S("$a}]b#40"), "B"},
    {"escaped #", S("$}\x03#80"), "P[#]"},
    {"escaped $", S("$}\x04#81"), "P[$]"},
    {"escaped *", S("$}\x0a#87"), "P[*]"},
    {"escaped only", S("$}]#da"), "P[}]"},
    {"binary write", S("$X1000,4:}\x03}\x04}]}\x0a#15"), "P[X1000,4:#$}*]"},

    /* '$' inside a packet drops what came before and restarts */
    {"$ restarts", S("$ab$OK#9a"), "P[OK]"},
    {"$ restarts empty", S("$$OK#9a"), "P[OK]"},
    {"$ after escape restarts", S("$ab}$OK#9a"), "P[OK]"},
    {"restart resets the sum", S("$zzzz$g#67"), "P[g]"},

    /* out-of-packet control bytes */
    {"interrupt", S("\x03"), "I"},
    {"two interrupts", S("\x03\x03"), "II"},
    {"ack", S("+"), "+"},
    {"nack", S("-"), "-"},
    {"ack then packet", S("+$OK#9a-"), "+P[OK]-"},
    {"interrupt between packets", S("$g#67\x03$OK#9a"), "P[g]IP[OK]"},

    /* noise between packets is ignored, including '#', '}' and digits */
    {"noise", S("hello\r\n#00}9a\0\xff"), ""},
    {"noise around packets", S("xx$OK#9a junk #12 } $g#67\n"), "P[OK]P[g]"},

    /* non-hex checksum digits: bad, the rest is noise until the next '$' */
    {"non-hex first digit", S("$OK#g0"), "B"},
    {"non-hex second digit", S("$OK#9g"), "B"},
    {"non-hex, then good", S("$OK#zz$g#67"), "BP[g]"},
    {"second # as digit", S("$OK##9a"), "B"},
    /* A '$' as checksum digit ends the packet as bad and is not a start
	 * (GDB resends its last packet on the NAK). */
    {"$ as first digit", S("$OK#$g#67"), "B"},
    {"$ as second digit", S("$OK#9$g#67"), "B"},
    {"recovers after $ digit", S("$OK#9$g#67$OK#9a"), "BP[OK]"},
    {"space in checksum", S("$OK# 9a"), "B"},
};

static void test_rx_rows(void)
{
    struct rsp_rx *rx = rx_new();

    for (size_t i = 0; i < ARRAY_SIZE(rx_rows); i++) {
        const struct rx_row *r = &rx_rows[i];
        char log[LOGSZ] = "";

        rsp_rx_init(rx);
        feed(rx, (const uint8_t *)r->in, r->len, log);
        CHECK(strcmp(log, r->want) == 0, "%s: got \"%s\", want \"%s\"", r->name, log, r->want);

        /* Whatever state the row left, a good packet comes through. */
        log[0] = '\0';
        feed(rx, (const uint8_t *)"$OK#9a", 6, log);
        CHECK(strcmp(log, "P[OK]") == 0 || strcmp(log, "B") == 0 || strcmp(log, "") == 0,
              "%s: then $OK#9a gave \"%s\"", r->name, log);
        log[0] = '\0';
        feed(rx, (const uint8_t *)"$OK#9a", 6, log);
        CHECK(strcmp(log, "P[OK]") == 0, "%s: second $OK#9a gave \"%s\"", r->name, log);
    }
    free(rx);
}

/* The event comes with the last checksum digit, not before. */
static void test_event_position(void)
{
    struct rsp_rx *rx = rx_new();
    static const char pkt[] = "$m1000,4#8e";
    enum rsp_event ev = RSP_EV_NONE;
    int early = 0;

    for (size_t i = 0; i < sizeof(pkt) - 1; i++) {
        ev = rsp_rx_byte(rx, (uint8_t)pkt[i]);
        if (i + 1 < sizeof(pkt) - 1 && ev != RSP_EV_NONE)
            early++;
    }
    CHECK(early == 0 && ev == RSP_EV_PACKET && rx->len == 7 && memcmp(rx->buf, "m1000,4", 7) == 0,
          "event only on the last digit (early %d, ev %d)", early, ev);
    free(rx);
}

/* Feeds '$', n data bytes (all 'A', optionally ending in an escape), '#'
 * and the right checksum. Returns the final event. */
static enum rsp_event feed_long(struct rsp_rx *rx, size_t n, int esc_last)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t sum = 0;
    enum rsp_event ev = RSP_EV_NONE;
    int early = 0;

    rsp_rx_byte(rx, '$');
    for (size_t i = 0; i < n; i++) {
        if (esc_last && i + 1 == n) {
            early += rsp_rx_byte(rx, '}') != RSP_EV_NONE;
            early += rsp_rx_byte(rx, ']') != RSP_EV_NONE;
            sum = (uint8_t)(sum + '}' + ']');
        } else {
            early += rsp_rx_byte(rx, 'A') != RSP_EV_NONE;
            sum = (uint8_t)(sum + 'A');
        }
    }
    early += rsp_rx_byte(rx, '#') != RSP_EV_NONE;
    early += rsp_rx_byte(rx, (uint8_t)hex[sum >> 4]) != RSP_EV_NONE;
    ev = rsp_rx_byte(rx, (uint8_t)hex[sum & 15]);
    CHECK(early == 0, "long packet (%zu): no event before the end", n);
    return ev;
}

static void test_overflow(void)
{
    struct rsp_rx *rx = rx_new();
    char log[LOGSZ] = "";
    enum rsp_event ev;

    ev = feed_long(rx, RSP_MAX_PACKET, 0);
    CHECK(ev == RSP_EV_PACKET && rx->len == RSP_MAX_PACKET && rx->buf[0] == 'A' &&
              rx->buf[RSP_MAX_PACKET - 1] == 'A',
          "exactly RSP_MAX_PACKET bytes fit (ev %d, len %zu)", ev, rx->len);

    ev = feed_long(rx, RSP_MAX_PACKET, 1);
    CHECK(ev == RSP_EV_PACKET && rx->len == RSP_MAX_PACKET && rx->buf[RSP_MAX_PACKET - 1] == '}',
          "escaped last byte fits (ev %d, len %zu)", ev, rx->len);

    ev = feed_long(rx, RSP_MAX_PACKET + 1, 0);
    CHECK(ev == RSP_EV_BAD, "one byte too many: bad (ev %d)", ev);
    feed(rx, (const uint8_t *)"$OK#9a", 6, log);
    CHECK(strcmp(log, "P[OK]") == 0, "recovers after overflow: \"%s\"", log);

    ev = feed_long(rx, RSP_MAX_PACKET + 1, 1);
    CHECK(ev == RSP_EV_BAD, "escaped byte too many: bad (ev %d)", ev);
    log[0] = '\0';
    feed(rx, (const uint8_t *)"$g#67", 5, log);
    CHECK(strcmp(log, "P[g]") == 0, "recovers after overflow: \"%s\"", log);

    ev = feed_long(rx, 3 * RSP_MAX_PACKET, 0);
    CHECK(ev == RSP_EV_BAD, "far too long: bad (ev %d)", ev);

    /* An overflowing packet restarted by '$' is forgotten. */
    rsp_rx_byte(rx, '$');
    for (size_t i = 0; i < RSP_MAX_PACKET + 10; i++)
        rsp_rx_byte(rx, 'A');
    log[0] = '\0';
    feed(rx, (const uint8_t *)"$OK#9a", 6, log);
    CHECK(strcmp(log, "P[OK]") == 0, "$ clears overflow: \"%s\"", log);
    free(rx);
}

struct frame_row {
    const char *name;
    const char *data;
    size_t len;
    const char *want;
    size_t wantlen;
};

static const struct frame_row frame_rows[] = {
    {"empty", S(""), S("$#00")},
    {"OK", S("OK"), S("$OK#9a")},
    {"m", S("m1000,4"), S("$m1000,4#8e")},
    {"#", S("#"), S("$}\x03#80")},
    {"$", S("$"), S("$}\x04#81")},
    {"}", S("}"), S("$}]#da")},
    {"*", S("*"), S("$}\x0a#87")},
    {"mixed", S("a}b"), S("$a}]b#9d")},
    {"all four", S("X1000,4:#$}*"), S("$X1000,4:}\x03}\x04}]}\x0a#15")},
    {"not escaped", S("+-\x03\x00\xff"), S("$+-\x03\x00\xff#5a")},
};

static void test_frame_rows(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(frame_rows); i++) {
        const struct frame_row *r = &frame_rows[i];
        uint8_t out[64];
        size_t n = rsp_frame(out, sizeof(out), (const uint8_t *)r->data, r->len);
        CHECK(n == r->wantlen && memcmp(out, r->want, n) == 0,
              "frame %s: got %zu \"%.*s\", want %zu \"%s\"", r->name, n, (int)n, (const char *)out,
              r->wantlen, r->want);
    }
}

/* Too-small buffers give 0 and nothing is written past outsz (each out is
 * malloc'd to exactly outsz so ASan sees an overrun). */
static void test_frame_sizes(void)
{
    static const char *datas[] = {"", "OK", "}}$#", "ab*cd"};

    for (size_t d = 0; d < ARRAY_SIZE(datas); d++) {
        const uint8_t *data = (const uint8_t *)datas[d];
        size_t len = strlen(datas[d]);
        uint8_t big[64];
        size_t need = rsp_frame(big, sizeof(big), data, len);
        int bad = 0;

        for (size_t sz = 0; sz <= need + 2; sz++) {
            uint8_t *out = malloc(sz ? sz : 1);
            size_t n = rsp_frame(out, sz, data, len);
            if (sz < need ? n != 0 : (n != need || memcmp(out, big, n) != 0))
                bad++;
            free(out);
        }
        CHECK(need > 0 && bad == 0, "frame \"%s\" (need %zu): %d wrong sizes", datas[d], need, bad);
    }
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Frames data, checks the framing has no stray delimiter, feeds it to a
 * receiver and expects exactly the data back on the last byte. */
static int round_trip(struct rsp_rx *rx, const uint8_t *data, size_t len)
{
    static uint8_t out[2 * RSP_MAX_PACKET + 4];
    size_t n = rsp_frame(out, sizeof(out), data, len);
    enum rsp_event ev = RSP_EV_NONE;

    if (n < 4 || out[0] != '$' || out[n - 3] != '#')
        return 0;
    for (size_t i = 1; i < n - 3; i++)
        if (out[i] == '$' || out[i] == '#' || out[i] == '*')
            return 0;
    for (size_t i = 0; i < n; i++) {
        ev = rsp_rx_byte(rx, out[i]);
        if (i + 1 < n && ev != RSP_EV_NONE)
            return 0;
    }
    return ev == RSP_EV_PACKET && rx->len == len && memcmp(rx->buf, data, len) == 0;
}

static void test_round_trip(void)
{
    struct rsp_rx *rx = rx_new();
    static uint8_t data[RSP_MAX_PACKET];
    int fails = 0;

    for (int i = 0; i < 256; i++)
        data[i] = (uint8_t)i;
    CHECK(round_trip(rx, data, 256), "round trip of all 256 byte values");

    memset(data, '}', RSP_MAX_PACKET);
    CHECK(round_trip(rx, data, RSP_MAX_PACKET), "round trip of RSP_MAX_PACKET escaped bytes");

    for (int t = 0; t < 2000; t++) {
        size_t len = rnd() % 300;
        for (size_t i = 0; i < len; i++) {
            /* bias towards the special bytes */
            static const uint8_t sp[] = {'$', '#', '}', '*', 0x03};
            data[i] = rnd() % 4 ? (uint8_t)rnd() : sp[rnd() % sizeof(sp)];
        }
        if (!round_trip(rx, data, len)) {
            fails++;
            if (fails < 5)
                printf("  round trip failed, len %zu\n", len);
        }
    }
    CHECK(fails == 0, "random round trips: %d failed", fails);
    free(rx);
}

static void test_hex_digit(void)
{
    int bad = 0;

    for (int c = 0; c < 256; c++) {
        int want = -1;
        if (c >= '0' && c <= '9')
            want = c - '0';
        else if (c >= 'a' && c <= 'f')
            want = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            want = c - 'A' + 10;
        if (hex_digit((uint8_t)c) != want) {
            bad++;
            printf("  hex_digit(0x%02x) = %d, want %d\n", c, hex_digit((uint8_t)c), want);
        }
    }
    CHECK(bad == 0, "hex_digit over all bytes: %d wrong", bad);
}

static void test_hex_encode(void)
{
    static const uint8_t in[] = {0x00, 0xff, 0x1a, 0xb2, 0x09};
    char out[16];
    size_t n;

    memset(out, 'Z', sizeof(out));
    n = hex_encode(out, sizeof(out), in, sizeof(in));
    CHECK(n == 10 && memcmp(out, "00ff1ab209", 10) == 0 && out[10] == 'Z', "encode: %zu \"%.10s\"",
          n, out);

    memset(out, 'Z', sizeof(out));
    n = hex_encode(out, sizeof(out), in, 0);
    CHECK(n == 0 && out[0] == 'Z', "encode nothing");

    memset(out, 'Z', sizeof(out));
    n = hex_encode(out, 5, in, sizeof(in));
    CHECK(n == 4 && memcmp(out, "00ff", 4) == 0 && out[4] == 'Z',
          "encode truncates to whole bytes (%zu)", n);

    memset(out, 'Z', sizeof(out));
    n = hex_encode(out, 1, in, sizeof(in));
    CHECK(n == 0 && out[0] == 'Z', "encode into 1 byte writes nothing");

    n = hex_encode(out, 0, in, sizeof(in));
    CHECK(n == 0, "encode into 0 bytes");
}

struct dec_row {
    const char *hex;
    size_t outsz;
    long want;
    const char *bytes;
};

static const struct dec_row dec_rows[] = {
    {"", 4, 0, ""},
    {"00", 4, 1, "\x00"},
    {"00ff1aB2", 4, 4, "\x00\xff\x1a\xb2"},
    {"DeAdBeEf", 4, 4, "\xde\xad\xbe\xef"},
    {"0", 4, -1, NULL}, /* odd length */
    {"abc", 4, -1, NULL},
    {"0g", 4, -1, NULL}, /* bad digits */
    {"g0", 4, -1, NULL},
    {"00 1", 4, -1, NULL},
    {"0x10", 4, -1, NULL},
    {"ab-1", 4, -1, NULL},
    {"aabbccdd", 3, -1, NULL},        /* out too small */
    {"aabbcc", 3, 3, "\xaa\xbb\xcc"}, /* exact fit */
    {"", 0, 0, ""},
};

static void test_hex_decode(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(dec_rows); i++) {
        const struct dec_row *r = &dec_rows[i];
        /* exactly outsz bytes on the heap so ASan sees overruns */
        uint8_t *out = malloc(r->outsz ? r->outsz : 1);
        size_t hl = strlen(r->hex);
        char *hex = malloc(hl ? hl : 1); /* no NUL to read past */
        long n;

        memcpy(hex, r->hex, hl);
        n = hex_decode(out, r->outsz, hex, hl);
        CHECK(n == r->want && (n < 0 || memcmp(out, r->bytes, (size_t)n) == 0),
              "decode \"%s\" into %zu: %ld, want %ld", r->hex, r->outsz, n, r->want);
        free(hex);
        free(out);
    }

    /* only hexlen counts: digits past it are not read */
    uint8_t out[4];
    long n = hex_decode(out, sizeof(out), "12zz", 2);
    CHECK(n == 1 && out[0] == 0x12, "decode stops at hexlen (%ld)", n);
}

static void test_hex_round_trip(void)
{
    uint8_t in[256], back[256];
    char hex[512];
    size_t n;
    long m;

    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(255 - i);
    n = hex_encode(hex, sizeof(hex), in, sizeof(in));
    m = hex_decode(back, sizeof(back), hex, n);
    CHECK(n == 512 && m == 256 && memcmp(in, back, 256) == 0,
          "hex round trip of all bytes (%zu, %ld)", n, m);
}

int main(void)
{
    test_rx_rows();
    test_event_position();
    test_overflow();
    test_frame_rows();
    test_frame_sizes();
    test_round_trip();
    test_hex_digit();
    test_hex_encode();
    test_hex_decode();
    test_hex_round_trip();
    return check_report();
}
