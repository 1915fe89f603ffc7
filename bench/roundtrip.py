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
Usage: python bench/roundtrip.py [SECONDS] [--smp N]  (default 2 cores)
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


def main() -> None:
    ap = argparse.ArgumentParser(description="breakpoint round trips per second")
    ap.add_argument("seconds", nargs="?", type=float, default=15, help="per measure (default 15)")
    ap.add_argument("--smp", type=int, default=2, help="cores of the machine (default 2)")
    args = ap.parse_args()
    seconds = args.seconds
    gdb_port = free_port()
    machine = boot("roundtrip", gdb_port=gdb_port, smp=args.smp)
    try:
        # The syscall loop on CPU 0; the other cores idle (first) or busy (after).
        machine.run("taskset -c 0 sh -c 'while :; do echo x >/dev/null; done' >/dev/null 2>&1 &")
        with ctrl(machine) as client:
            client.interrupt()
            assert client.wait_stop(15).startswith(b"T02")
            client.noack()
            lstar = client.reg("lstar")
            assert client.command(f"Z1,{lstar:x},1") == b"OK"
            hw, hw_took = loop(client, seconds / 2)
            assert client.command(f"z1,{lstar:x},1") == b"OK"
            assert client.command(f"Z0,{lstar:x},1") == b"OK"
            ours, took = loop(client, seconds)
            assert client.command(f"z0,{lstar:x},1") == b"OK"
            assert client.command("D") == b"OK"
        busy_rate = None
        if args.smp > 1:
            for k in range(1, args.smp):  # no system calls: they spin in ring 3
                machine.run(f"taskset -c {k} sh -c 'while :; do :; done' >/dev/null 2>&1 &")
            with ctrl(machine) as client:
                client.interrupt()
                assert client.wait_stop(15).startswith(b"T02")
                client.noack()
                assert client.command(f"Z0,{lstar:x},1") == b"OK"
                busy, busy_took = loop(client, seconds)
                assert client.command(f"z0,{lstar:x},1") == b"OK"
                assert client.command("D") == b"OK"
            busy_rate = busy / busy_took
        print(
            f"our stub, Z1 (DR0): {hw} hits in {hw_took:.1f} s = {hw / hw_took:.1f} round trips/s"
        )
        print(
            f"our stub, Z0:   {ours} hits in {took:.1f} s = {ours / took:.1f} round trips/s",
            flush=True,
        )
        ours_rate = ours / took
        if busy_rate is not None:
            print(
                f"our stub, Z0, the {args.smp - 1} other vCPU(s) busy: {busy_rate:.1f} round "
                f"trips/s; ratio busy / idle others: {busy_rate / ours_rate:.3f}",
                flush=True,
            )
        with qemu_gdb(gdb_port) as q:  # ack mode: QEMU 10 offers no QStartNoAckMode
            assert q.command(f"Z0,{lstar:x},1") == b"OK"
            theirs, took = loop(q, seconds)
            assert q.command(f"z0,{lstar:x},1") == b"OK"
            q.send("D")
        theirs_rate = theirs / took
        print(f"QEMU gdbstub:   {theirs} hits in {took:.1f} s = {theirs_rate:.1f} round trips/s")
        print(f"ratio ours / QEMU's (Z0 both): {ours_rate / theirs_rate:.3f}")
    finally:
        machine.stop()


if __name__ == "__main__":
    main()
