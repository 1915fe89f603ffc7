/* ctrl=net:... parsing (lib/netopt.c). */
#include <string.h>

#include "check.h"
#include "lib/netopt.h"

static int parse(const char *s, struct netopt *o)
{
    const char *why = 0;
    memset(o, 0x5a, sizeof(*o));
    int r = netopt_parse(s, o, &why);
    if (r)
        CHECK(why && *why, "%s: an error names its cause", s);
    return r;
}

int main(void)
{
    struct netopt o;

    CHECK(!parse("e1000,ip=10.0.2.15,port=1234", &o), "the lab's option");
    CHECK(o.on && o.model == NETOPT_E1000 && o.pci == NETOPT_PCI_ANY, "e1000: the first 82540EM");
    CHECK(o.ip == 0x0a00020f && o.port == 1234, "ip %x port %u", o.ip, o.port);

    static const struct {
        const char *spec;
        uint32_t model;
    } models[] = {
        {"e1000", NETOPT_E1000},
        {"e1000e", NETOPT_E1000E},
        {"igb,port=4321", NETOPT_IGB},
        {"auto,ip=10.0.2.16", NETOPT_ANY},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(models); i++) {
        CHECK(!parse(models[i].spec, &o), "%s is a model", models[i].spec);
        CHECK(o.model == models[i].model && o.pci == NETOPT_PCI_ANY, "%s: model %u", models[i].spec,
              o.model);
        CHECK(!strncmp(models[i].spec, netopt_model_name(o.model),
                       strlen(netopt_model_name(o.model))),
              "%s: its name back", models[i].spec);
    }
    CHECK(!strcmp(netopt_model_name(NETOPT_MODELS), "?"), "no name past the models");

    CHECK(!parse("auto", &o), "auto alone");
    CHECK(o.model == NETOPT_ANY && o.ip == 0x0a00020f && o.port == 1234, "defaults");

    CHECK(!parse("00:1f.7,port=9", &o), "a PCI address");
    CHECK(o.pci == (0x1f << 3 | 7) && o.port == 9, "bdf %x", o.pci);
    CHECK(!parse("ff:03.0,ip=192.168.1.200", &o), "bus ff");
    CHECK(o.pci == (0xff << 8 | 3 << 3) && o.ip == 0xc0a801c8, "bdf %x ip %x", o.pci, o.ip);

    static const char *const bad[] = {
        "",
        "e1000f",
        "e1000e1",
        "igbe",
        "E1000E",
        "rtl8139",
        "00:20.0",
        "00:03.8",
        "100:03.0",
        "00:03",
        "e1000,ip=10.0.2",
        "e1000,ip=10.0.2.256",
        "e1000,ip=10.0.2.15.1",
        "e1000,ip=0.0.0.0",
        "e1000,port=0",
        "e1000,port=65536",
        "e1000,port=12a",
        "e1000,mac=1",
        "e1000,",
    };
    for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
        struct netopt keep;
        memset(&keep, 0x5a, sizeof(keep));
        CHECK(parse(bad[i], &o) == -1, "%s is refused", bad[i]);
        CHECK(!memcmp(&o, &keep, sizeof(o)), "%s leaves the option as it was", bad[i]);
    }
    return check_report();
}
