#!/usr/bin/env python3
"""Ctrl-C latency: how long a guest spinning in ring 3 runs on after 0x03.

The guest runs `while :; do :; done` (busybox sh builtins: no syscalls, so no
natural exits but the timer's). The client sends 0x03 and waits for T02, N
times. Two figures per stop:
  * guest time: the VMM's qRfx.Status `ctrlc` key, the guest-TSC window
    between its last look at the line that found it quiet and the look that
    found the 0x03 (the byte came in between, so this bounds how long the VM
    ran after it; a stop takes no guest time, the TSC is rebased);
  * wall time: from our send to the T02 reply, on the host (includes QEMU's
    chardev and the TCP hop).
Prints the median and the maximum of each, and the guest timer period for
scale (CONFIG_HZ of the guest kernel): in a ring-3 loop the timer interrupt
is the only exit, so the window should be about one period.

With --emulator bochs the guest runs under Bochs 2.7 (one core): the Intel
model (default corei7_skylake_x) runs the vmx backend, whose periodic exit
is the VMX-preemption timer (10 ms of TSC); --cpu trinity_apu the svm one,
whose periodic exit is the guest's own timer interrupt.
Usage: python bench/ctrlc.py [STOPS] [--emulator bochs] [--cpu MODEL]
"""

import argparse
import statistics
import time

from _common import boot, ctrl

from ramooflax import rsp
from ramooflax.lab import bochs, paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stops", nargs="?", type=int, default=20, help="stops (default 20)")
    ap.add_argument("--emulator", choices=("qemu", "bochs"), default="qemu", help="default qemu")
    ap.add_argument("--cpu", help="Bochs CPU model (default corei7_skylake_x; docs/lab.md)")
    args = ap.parse_args()
    stops = args.stops
    spec: dict[str, object] = {}
    where = "qemu"
    if args.emulator == "bochs":
        cpu = bochs.check_cpu(args.cpu or bochs.DEFAULT_CPU)
        spec = {"emulator": "bochs", "cpu": cpu, "smp": 1}
        where = f"bochs {cpu} ({'vmx' if bochs.vendor(cpu) == 'intel' else 'svm'})"
    machine = boot("ctrlc", **spec)
    try:
        machine.run("while :; do :; done >/dev/null 2>&1 &")
        guest_us, wall_ms = [], []
        with ctrl(machine) as client:
            time.sleep(1)
            for _ in range(stops):
                t0 = time.monotonic()
                client.interrupt()
                stop = client.wait_stop(30)
                wall_ms.append((time.monotonic() - t0) * 1e3)
                if not stop.startswith(b"T02"):
                    raise SystemExit(f"unexpected stop {stop!r}")
                kv = rsp.parse_pairs(client.command("qRfx.Status"))
                if kv.get("cpl") != "3":
                    print(f"  (stopped in ring {kv.get('cpl')} at {kv.get('rip')})")
                guest_us.append(int(kv["ctrlc"], 16) * 1e6 / int(kv["tsc_hz"], 16))
                client.send("c")
                time.sleep(0.2)  # let it spin again
            client.interrupt()
            client.wait_stop(30)
            assert client.command("D") == b"OK"
    finally:
        machine.stop()
    print(f"[{where}] Ctrl-C on a ring-3 busy loop, {stops} stops")
    print(
        f"  guest time (upper bound): median {statistics.median(guest_us):8.0f} us"
        f"   max {max(guest_us):8.0f} us"
    )
    print(
        f"  wall time to T02:         median {statistics.median(wall_ms):8.2f} ms"
        f"   max {max(wall_ms):8.2f} ms"
    )
    hz = guest_hz()
    if hz:
        print(
            f"  guest timer period: {1e6 / hz:.0f} us (CONFIG_HZ={hz} in the guest kernel's "
            f"config); median window / period = {statistics.median(guest_us) * hz / 1e6:.2f}"
        )


def guest_hz() -> int | None:
    """CONFIG_HZ from the amd64 guest kernel package the lab unpacked."""
    for config in (paths.cache_dir() / "debs").glob("linux-image-*amd64*/boot/config-*"):
        for line in config.read_text().splitlines():
            if line.startswith("CONFIG_HZ="):
                return int(line.split("=")[1])
    return None


if __name__ == "__main__":
    main()
