#!/usr/bin/env python3
"""Boot time with the hypervisor / without it.

Boots the same amd64 guest to its shell marker (RAMOOFLAX-GUEST-READY), with
and without the hypervisor, alternating, RUNS times each; prints each run,
the median ratio hv/native and the VMM's exit counts per reason.
Usage: python bench/boot.py [RUNS] [--firmware bios|uefi]
(uefi: OVMF, the hv as ramooflax.efi from a key, then the guest disk's GRUB:
docs/uefi.md; native is then OVMF booting the same guest disk with no key.)
"""

import statistics
import sys

from _common import boot

from ramooflax.lab import facts

TARGET = 1.10


def main() -> None:
    args = sys.argv[1:]
    firmware = "bios"
    if "--firmware" in args:
        at = args.index("--firmware")
        firmware = args[at + 1] if at + 1 < len(args) else ""
        del args[at : at + 2]
        if firmware not in ("bios", "uefi"):
            sys.exit("--firmware takes bios or uefi")
    runs = int(args[0]) if args else 3
    times: dict[str, list[float]] = {"hv": [], "native": []}
    counts: dict[str, int] = {}
    total = 0
    for i in range(runs):
        for kind in ("native", "hv"):
            machine = boot(f"boot-{firmware}-{kind}-{i}", with_hv=kind == "hv", firmware=firmware)
            try:
                assert machine.ready_after is not None
                times[kind].append(machine.ready_after)
                if kind == "hv":
                    total, counts = facts.exit_counts(machine.hv_summary())
            finally:
                machine.stop()
    print()
    for kind, values in times.items():
        print(
            f"{kind:7s} " + "  ".join(f"{t:6.2f}" for t in values) + " s"
            f"   median {statistics.median(values):.2f} s"
        )
    ratio = statistics.median(times["hv"]) / statistics.median(times["native"])
    verdict = "meets" if ratio <= TARGET else "misses"
    print(
        f"[{firmware}] boot time ratio hv/native (medians): {ratio:.3f}  ({verdict} the target <= {TARGET})"
    )
    print(f"exits of the last hv boot, up to its shell: {total} total")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:16s} {n:10d}")


if __name__ == "__main__":
    main()
