#!/usr/bin/env python3
"""Stop/resume round trips per second: breakpoint hit -> stop reply -> `c`.

The guest loops on syscalls (`echo x >/dev/null` in busybox sh: open, write,
close, no fork); a software breakpoint (Z0) sits on the syscall entry
(entry_SYSCALL_64 = MSR LSTAR). Each hit is reported, and the client
continues at once. Measured with our stub (ctrl port), then with QEMU's own
gdbstub (-gdb tcp:127.0.0.1:N) on the same machine and the same address.
Ours is also measured with a hardware breakpoint (Z1, DR0) for comparison,
and with every other vCPU busy (a shell loop pinned to each other core):
all-stop stops them at each hit, so that ratio is the cost of the others.
Ours and QEMU's Z0 loops alternate in ROUNDS rounds (a shared host's load
then weighs on both alike), the other cores idle in both.

With --ctrl net our stub is reached over TCP on the VMM's own e1000 (QEMU
user network), QEMU's gdbstub over its TCP socket as always.
Usage: python bench/roundtrip.py [SECONDS] [--smp N] [--ctrl uart|net]
"""

import argparse
import time

from _common import boot, ctrl, free_port, qemu_gdb


def loop(client, seconds: float) -> tuple[int, float]:
    hits = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        client.send("c")
        stop = client.wait_stop(30)
        if not stop.startswith(b"T05"):
            raise SystemExit(f"unexpected stop {stop!r}")
        hits += 1
    return hits, time.monotonic() - t0


ROUNDS = 3


def ours(machine, kind: int, lstar: int, seconds: float) -> tuple[int, float]:
    """Our stub: stop, breakpoint of `kind` (Z0 int3, Z1 DR0) on lstar, loop, detach."""
    with ctrl(machine) as client:
        client.interrupt()
        assert client.wait_stop(15).startswith(b"T02")
        client.noack()
        assert client.command(f"Z{kind},{lstar:x},1") == b"OK"
        hits, took = loop(client, seconds)
        assert client.command(f"z{kind},{lstar:x},1") == b"OK"
        assert client.command("D") == b"OK"
    return hits, took


def qemu_z0(gdb_port: int, lstar: int, seconds: float) -> tuple[int, float]:
    with qemu_gdb(gdb_port) as q:  # ack mode: QEMU 10 offers no QStartNoAckMode
        assert q.command(f"Z0,{lstar:x},1") == b"OK"
        hits, took = loop(q, seconds)
        assert q.command(f"z0,{lstar:x},1") == b"OK"
        q.send("D")
    return hits, took


def main() -> None:
    ap = argparse.ArgumentParser(description="breakpoint round trips per second")
    ap.add_argument("seconds", nargs="?", type=float, default=15, help="per measure (default 15)")
    ap.add_argument("--smp", type=int, default=2, help="cores of the machine (default 2)")
    ap.add_argument("--ctrl", choices=("uart", "net"), default="uart", help="our stub's channel")
    args = ap.parse_args()
    seconds = args.seconds
    gdb_port = free_port()
    machine = boot(f"roundtrip-{args.ctrl}", gdb_port=gdb_port, smp=args.smp, ctrl=args.ctrl)
    try:
        # The syscall loop on CPU 0; the other cores idle (first) or busy (after).
        machine.run("taskset -c 0 sh -c 'while :; do echo x >/dev/null; done' >/dev/null 2>&1 &")
        with ctrl(machine) as client:
            client.interrupt()
            assert client.wait_stop(15).startswith(b"T02")
            lstar = client.reg("lstar")
            assert client.command("D") == b"OK"
        hw, hw_took = ours(machine, 1, lstar, seconds / 2)
        mine = theirs = 0
        took = theirs_took = 0.0
        for _ in range(ROUNDS):
            h, t = ours(machine, 0, lstar, seconds / ROUNDS)
            mine, took = mine + h, took + t
            h, t = qemu_z0(gdb_port, lstar, seconds / ROUNDS)
            theirs, theirs_took = theirs + h, theirs_took + t
        busy_rate = None
        if args.smp > 1:
            for k in range(1, args.smp):  # no system calls: they spin in ring 3
                machine.run(f"taskset -c {k} sh -c 'while :; do :; done' >/dev/null 2>&1 &")
            busy, busy_took = ours(machine, 0, lstar, seconds)
            busy_rate = busy / busy_took
        print(
            f"our stub, Z1 (DR0): {hw} hits in {hw_took:.1f} s = {hw / hw_took:.1f} round trips/s"
        )
        print(
            f"our stub ({args.ctrl}), Z0: {mine} hits in {took:.1f} s = {mine / took:.1f} round "
            "trips/s",
            flush=True,
        )
        ours_rate = mine / took
        if busy_rate is not None:
            print(
                f"our stub, Z0, the {args.smp - 1} other vCPU(s) busy: {busy_rate:.1f} round "
                f"trips/s; ratio busy / idle others: {busy_rate / ours_rate:.3f}",
                flush=True,
            )
        theirs_rate = theirs / theirs_took
        print(
            f"QEMU gdbstub:   {theirs} hits in {theirs_took:.1f} s = {theirs_rate:.1f} round trips/s"
        )
        print(
            f"ratio ours ({args.ctrl}) / QEMU's gdbstub (Z0 both, {ROUNDS} alternating rounds): "
            f"{ours_rate / theirs_rate:.3f}  (target >= 1.0)"
        )
    finally:
        machine.stop()


if __name__ == "__main__":
    main()
