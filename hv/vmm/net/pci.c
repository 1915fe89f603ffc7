/* PCI configuration mechanism #1 (pci.h). */
#include "vmm/net/pci.h"
#include "common/cpu.h"

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA    0xcfc

/* PCI 3.0 §3.2.2.3.2: bit 31 enable, 23:16 bus, 15:11 device, 10:8
 * function, 7:2 the dword register. */
static uint32_t address(pci_bdf a, unsigned off) { return 1u << 31 | a << 8 | (off & 0xfc); }

uint32_t pci_read32(pci_bdf a, unsigned off)
{
    outl(CONFIG_ADDRESS, address(a, off));
    return inl(CONFIG_DATA);
}

void pci_write32(pci_bdf a, unsigned off, uint32_t val)
{
    outl(CONFIG_ADDRESS, address(a, off));
    outl(CONFIG_DATA, val);
}

uint16_t pci_read16(pci_bdf a, unsigned off)
{
    return (uint16_t)(pci_read32(a, off) >> ((off & 2) * 8));
}

void pci_write16(pci_bdf a, unsigned off, uint16_t val)
{
    unsigned shift = (off & 2) * 8;
    uint32_t v = pci_read32(a, off);
    v = (v & ~(0xffffu << shift)) | (uint32_t)val << shift;
    pci_write32(a, off, v);
}

static int match(pci_bdf a, const struct pci_id *ids, unsigned n, unsigned *id)
{
    uint32_t vd = pci_read32(a, PCI_VENDOR);
    for (unsigned i = 0; i < n; i++)
        if ((vd & 0xffff) == ids[i].vendor && vd >> 16 == ids[i].device) {
            *id = i;
            return 0;
        }
    return -1;
}

int pci_find(const struct pci_id *ids, unsigned n, pci_bdf want, pci_bdf *out, unsigned *id)
{
    if (want != ~0u) {
        if (match(want, ids, n, id))
            return -1;
        *out = want;
        return 0;
    }
    for (unsigned bus = 0; bus < 256; bus++)
        for (unsigned dev = 0; dev < 32; dev++) {
            pci_bdf f0 = PCI_BDF(bus, dev, 0);
            if ((pci_read32(f0, PCI_VENDOR) & 0xffff) == 0xffff)
                continue; /* no device: function 0 always exists (§6.2.1) */
            /* header type bit 7: a multi-function device */
            unsigned fns = (pci_read32(f0, PCI_HEADER & ~3u) >> 16) & 0x80 ? 8 : 1;
            for (unsigned fn = 0; fn < fns; fn++)
                if (!match(PCI_BDF(bus, dev, fn), ids, n, id)) {
                    *out = PCI_BDF(bus, dev, fn);
                    return 0;
                }
        }
    return -1;
}

int pci_bar(pci_bdf a, unsigned i, uint64_t *base, uint64_t *size, bool *io)
{
    unsigned off = PCI_BAR0 + 4 * i;
    uint32_t lo = pci_read32(a, off);
    pci_write32(a, off, ~0u);
    uint32_t mask = pci_read32(a, off);
    pci_write32(a, off, lo);
    if (!mask || mask == ~0u)
        return -1;
    *io = lo & 1;
    if (*io) {
        *base = lo & ~3u;
        *size = (uint32_t) ~(mask & ~3u) + 1;
        *size &= 0xffff;
        return *size ? 0 : -1;
    }
    uint64_t m = mask & ~0xfu, b = lo & ~0xfu;
    if (((lo >> 1) & 3) == 2) { /* 64-bit BAR */
        uint32_t hi = pci_read32(a, off + 4);
        pci_write32(a, off + 4, ~0u);
        uint32_t mhi = pci_read32(a, off + 4);
        pci_write32(a, off + 4, hi);
        m |= (uint64_t)mhi << 32;
        b |= (uint64_t)hi << 32;
    } else {
        m |= 0xffffffff00000000ull;
    }
    *base = b;
    *size = ~m + 1;
    return 0;
}
