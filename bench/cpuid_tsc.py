#!/usr/bin/env python3
"""CPUID's cost in the VM's TSC cycles, with the hypervisor / without it.

Boots the conformance test kernel (tests/guest, docs/conformance.md) in its
timing group (`only=bench`), with the hypervisor and without, alternating,
RUNS times each. The kernel prints the median over SAMPLES of
`lfence; rdtsc; lfence; cpuid(0); lfence; rdtsc; lfence` (cpuid_cycles), and
of the same with nothing between the two RDTSC (rdtsc_cycles: what the
measurement itself costs). Printed: each run, the medians, and the ratio
hv/native of cpuid_cycles. Under the hypervisor every CPUID is a vm-exit;
the VMM takes the time it spends off the VM's TSC (docs/architecture.md §6),
so the ratio is what the VM can see of it, not the wall-clock cost.

With --emulator bochs the kernel runs under Bochs 2.7 (one core): the Intel
model (default corei7_skylake_x) runs the vmx backend, --cpu trinity_apu the
svm one, on the same guest. Bochs's TSC counts instructions (`clock:
sync=none`), so the figures are deterministic and the two backends' exit
costs compare directly.
Usage: python bench/cpuid_tsc.py [RUNS] [SAMPLES] [--emulator bochs] [--cpu MODEL]
"""

import argparse
import statistics

from _common import LOGS

from ramooflax.lab import bochs, conformance, qemu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="?", type=int, default=3, help="boots of each kind (default 3)")
    ap.add_argument("samples", nargs="?", type=int, default=1001, help="CPUIDs per boot")
    ap.add_argument("--emulator", choices=("qemu", "bochs"), default="qemu", help="default qemu")
    ap.add_argument("--cpu", help="CPU model (Bochs: default corei7_skylake_x; docs/lab.md)")
    args = ap.parse_args()
    runs, samples = args.runs, args.samples
    if args.emulator == "bochs":
        cpu = bochs.check_cpu(args.cpu or bochs.DEFAULT_CPU)
        where = f"bochs {cpu} ({'vmx' if bochs.vendor(cpu) == 'intel' else 'svm'})"
    else:
        cpu = args.cpu or qemu.DEFAULT_CPU
        where = f"qemu {cpu}"
    cycles: dict[str, list[int]] = {"native": [], "hv": []}
    empty: dict[str, list[int]] = {"native": [], "hv": []}
    for i in range(runs):
        for kind in ("native", "hv"):
            run = conformance.run(
                cpu,
                kind == "hv",
                LOGS / f"{kind}-{i}",
                only=["bench"],
                options=[f"bench_runs={samples}"],
                emulator=args.emulator,
            )
            if "cpuid_cycles" not in run.bench:
                group = run.groups.get("pm32.bench")
                why = group.reason if group is not None else run.last
                raise SystemExit(f"[{kind}] the timing group printed nothing: {why}")
            cycles[kind].append(run.bench["cpuid_cycles"])
            empty[kind].append(run.bench.get("rdtsc_cycles", 0))
            print(
                f"[{kind}] run {i + 1}: cpuid {run.bench['cpuid_cycles']} cycles, "
                f"rdtsc {run.bench.get('rdtsc_cycles', 0)} cycles "
                f"(median of {samples}; boot {run.seconds:.1f} s)",
                flush=True,
            )
    print()
    for kind in ("native", "hv"):
        print(
            f"{kind:7s} cpuid "
            + "  ".join(f"{c:8d}" for c in cycles[kind])
            + f"   median {statistics.median(cycles[kind]):.0f} cycles"
            f"   (rdtsc alone: median {statistics.median(empty[kind]):.0f})"
        )
    ratio = statistics.median(cycles["hv"]) / statistics.median(cycles["native"])
    print(f"[{where}] cpuid cycles ratio hv/native (medians): {ratio:.2f}")
    print(f"logs: {LOGS}")


if __name__ == "__main__":
    main()
