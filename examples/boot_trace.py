#!/usr/bin/env python3
"""Trace a boot: the BIOS calls and mode switches from the VM's first
instruction until the kernel turns paging on.

    examples/boot_trace.py [HOST:PORT] [--all]

The VM must wait at its first instruction: boot the hypervisor with
`ctrl_wait=1`. In the lab, in one terminal:
    ramooflax lab run --ctrl-port 1234 --hv-option ctrl_wait=1
and in another: examples/boot_trace.py 127.0.0.1:1234
Repeated calls (GRUB reads the kernel with many int 13h) are counted after
the third unless --all is given.
"""

import argparse
import re
import sys
from collections import Counter

from ramooflax import VM, CPUFamily
from ramooflax.errors import RamooflaxError
from ramooflax.plugins.boot_trace import Step, trace_boot


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", nargs="?", default="127.0.0.1:1234")
    p.add_argument("--all", action="store_true", help="print every call, repeats included")
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()
    seen: Counter[str] = Counter()

    def show(step: Step) -> None:
        kind = re.sub(r":.*", "", step.what)  # "int 13h ... extended read: 127 sector(s) ..."
        seen[kind] += 1
        if args.all or seen[kind] <= 3:
            print(step, flush=True)
        elif seen[kind] == 4:
            print(f"{'':19}(more of `{kind}` counted below)", flush=True)

    try:
        with VM(CPUFamily.AMD, args.target) as vm:
            print(f"attached: {vm.cpu.mode.value} mode at {vm.cpu.sr.cs_base + vm.cpu.gpr.rip:#x}")
            steps = trace_boot(vm, args.timeout, show)
    except RamooflaxError as exc:
        print(f"boot_trace: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(steps)} steps; repeated calls:")
    for kind, n in seen.most_common():
        if n > 3:
            print(f"  {n:5d} x {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
