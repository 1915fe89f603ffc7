#!/usr/bin/env python3
"""Physical-memory read throughput of the control channel, in one run.

(a) the line rate: `monitor stream N` (the VMM sends N bytes as hex `O`
    packets): payload N/time, and the bytes the line carried per second;
(b) our stub reading 16 MiB of guest-physical memory with
    `qRfx.PhysReadBin:ADDR,LEN` (binary, escaped; LEN = the stub's PacketSize
    less 8), no-ack mode, two requests in flight (three where the stub offers
    rfx.pipeline, as the client's Memory.pread does);
(c) QEMU's own gdbstub (-gdb tcp:127.0.0.1:N, same machine) reading the same
    range with `m` in its physical mode (`Qqemu.PhyMemMode:1`); QEMU 10 offers
    no QStartNoAckMode in system mode, so it runs in ack mode.
Prints MB/s (1 MB = 10^6 bytes) for each, our efficiency (stub / line rate)
and the ratio to QEMU's gdbstub.

With --ctrl net, the same run boots two machines one after the other: one
with the UART channel (our stub reads UART_MIB MiB), then one whose control
channel is the VMM's e1000 (ctrl=net:e1000, QEMU user network): our stub
reads MiB over TCP, then QEMU's gdbstub the same range, then the CLI's
`ramooflax dump --all` copies the guest's whole RAM (512 MiB, LiME) over TCP,
timed from the command's start to its end (attach, the kernel's RAM map,
detach included). Prints each rate, the ratios net / UART and net / QEMU's
gdbstub, the 512 MiB dump's measured time and the time the raw rate would
give.
Usage: python bench/membench.py [MiB] [--ctrl net]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import boot, ctrl, free_port, qemu_gdb

from ramooflax import rsp

BASE = 0x1000000  # 16 MiB: guest RAM, identity-mapped by the nested tables
CHUNK = 0x3FF8  # a stub that gives no PacketSize
QEMU_CHUNK = 0x7F8  # QEMU's PacketSize is 0x1000 (hex doubles)
STREAM_N = 2 * 1024 * 1024


def line_rate(client) -> tuple[float, float]:
    client.console.clear()
    wire0 = 0
    t0 = time.monotonic()
    client.send(rsp.qrcmd(f"stream {STREAM_N}"))
    got = 0
    while True:
        data = client.recv_packet(60)
        wire0 += len(data) + 4
        if data == b"OK":
            break
        got += (len(data) - 1) // 2
    took = time.monotonic() - t0
    assert got == STREAM_N, (got, STREAM_N)
    return STREAM_N / took / 1e6, wire0 / took / 1e6


def stub_features(client) -> dict[str, str]:
    return rsp.parse_features(client.command("qSupported:swbreak+;hwbreak+;vContSupported+"))


def stub_read(client, size: int, chunk: int = CHUNK, depth: int = 2) -> tuple[float, bytes, int]:
    reqs = [(BASE + off, min(chunk, size - off)) for off in range(0, size, chunk)]
    out = bytearray()
    wire = 0
    t0 = time.monotonic()
    inflight = 0
    nxt = 0
    while len(out) < size:
        while inflight < depth and nxt < len(reqs):
            a, n = reqs[nxt]
            client.send(f"qRfx.PhysReadBin:{a:x},{n:x}")
            nxt += 1
            inflight += 1
        data = client.recv_packet(60)
        inflight -= 1
        if data[:1] != b"b":
            raise SystemExit(f"PhysReadBin answered {data[:40]!r}")
        out += data[1:]
        wire += len(data) + 4  # about: the decoded size
    took = time.monotonic() - t0
    return size / took / 1e6, bytes(out), wire


def qemu_read(client, size: int) -> tuple[float, bytes]:
    assert client.command("Qqemu.PhyMemMode:1") == b"OK"
    out = bytearray()
    t0 = time.monotonic()
    reqs = [(BASE + off, min(QEMU_CHUNK, size - off)) for off in range(0, size, QEMU_CHUNK)]
    inflight = nxt = 0
    while len(out) < size:
        while inflight < 2 and nxt < len(reqs):
            a, n = reqs[nxt]
            client.send(f"m{a:x},{n:x}")
            nxt += 1
            inflight += 1
        data = client.recv_packet(60)
        inflight -= 1
        out += bytes.fromhex(data.decode())
    took = time.monotonic() - t0
    return size / took / 1e6, bytes(out)


UART_MIB = 1
GUEST_RAM_MIB = 512


def stub_rate(machine, size: int) -> tuple[float, bytes]:
    with ctrl(machine) as client:
        client.interrupt()
        assert client.wait_stop(30).startswith(b"T02")
        features = stub_features(client)
        chunk = int(features.get("PacketSize", "4000"), 16) - 8
        depth = 3 if features.get("rfx.pipeline") == "+" else 2
        client.noack()
        rate, data, _ = stub_read(client, size, chunk, depth)
        assert client.command("D") == b"OK"
    return rate, data


def cli_dump(machine) -> tuple[float, int]:
    """`ramooflax dump --all` of the whole RAM through the CLI: seconds, bytes of memory."""
    port = machine.free_ctrl_port()
    with tempfile.TemporaryDirectory(prefix="membench-") as tmp:
        out = Path(tmp) / "ram.lime"
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "ramooflax", "dump", f"127.0.0.1:{port}", "--all", "--quiet"]
            + ["-o", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - t0
        if done.returncode:
            raise SystemExit(f"ramooflax dump --all failed: {done.stderr.strip()}")
        size = out.stat().st_size
    print(f"(d) {done.stdout.strip()}", flush=True)
    return took, size


def main_net(mib: int) -> None:
    size = mib * 1024 * 1024
    machine = boot("membench-uart")
    try:
        uart, _ = stub_rate(machine, UART_MIB * 1024 * 1024)
        print(f"(u) our stub over the UART, {UART_MIB} MiB: {uart:.3f} MB/s", flush=True)
    finally:
        machine.stop()
    gdb_port = free_port()
    machine = boot("membench-net", ctrl="net", gdb_port=gdb_port)
    try:
        net, data = stub_rate(machine, size)
        print(f"(n) our stub over TCP (e1000), {mib} MiB at {BASE:#x}: {net:.3f} MB/s", flush=True)
        with qemu_gdb(gdb_port) as q:
            theirs, qdata = qemu_read(q, size)
            print(f"(q) QEMU's gdbstub, same range: {theirs:.3f} MB/s", flush=True)
            q.send("D")
        time.sleep(1)  # QEMU's gdbstub has let the VM go: the VMM's poll sees the next client
        dump_s, dump_bytes = cli_dump(machine)
        print(f"(d) ramooflax dump --all over TCP: {dump_s:.1f} s", flush=True)
    finally:
        machine.stop()
    differ = sum(1 for i in range(0, size, 4096) if data[i : i + 4096] != qdata[i : i + 4096])
    print(f"\npages that differ between the two reads: {differ} of {size // 4096} (the guest runs)")
    print(f"our stub, UART         {uart:8.3f} MB/s")
    print(f"our stub, net (e1000)  {net:8.3f} MB/s")
    print(f"QEMU's gdbstub         {theirs:8.3f} MB/s")
    print(f"ratio net / UART:              {net / uart:.2f}")
    print(f"ratio net / QEMU's gdbstub:    {net / theirs:.3f}  (target >= 1.0)")
    full = GUEST_RAM_MIB * 1024 * 1024 / (net * 1e6)
    print(f"a dump of the guest's {GUEST_RAM_MIB} MiB at the raw net rate: {full:.1f} s")
    print(
        f"ramooflax dump --all, measured: {dump_s:.1f} s for {dump_bytes / 2**20:.0f} MiB "
        f"(LiME file) = {dump_bytes / dump_s / 1e6:.1f} MB/s  "
        f"({'meets' if dump_s < 15 else 'misses'} the target < 15 s)"
    )


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in ("--ctrl", "net", "--ctrl=net")]
    net = "--ctrl=net" in sys.argv or ("--ctrl" in sys.argv and "net" in sys.argv)
    mib = int(args[0]) if args else 16
    if net:
        main_net(mib)
        return
    size = mib * 1024 * 1024
    gdb_port = free_port()
    machine = boot("membench", gdb_port=gdb_port)
    try:
        with ctrl(machine) as client:
            client.interrupt()
            assert client.wait_stop(15).startswith(b"T02")
            client.noack()
            line, wire = line_rate(client)
            print(
                f"(a) line rate, monitor stream {STREAM_N}: {line:.3f} MB/s of payload "
                f"(hex O packets), {wire:.3f} MB/s on the wire",
                flush=True,
            )
            ours, data, _ = stub_read(client, size)
            print(
                f"(b) our stub, qRfx.PhysReadBin, {mib} MiB at {BASE:#x}: {ours:.3f} MB/s",
                flush=True,
            )
            assert client.command("D") == b"OK"
        with qemu_gdb(gdb_port) as q:
            # QEMU 10's system-mode stub offers no QStartNoAckMode: ack mode.
            theirs, qdata = qemu_read(q, size)
            print(f"(c) QEMU's gdbstub, m in phys mode, same range: {theirs:.3f} MB/s", flush=True)
            q.send("D")
        differ = sum(1 for i in range(0, size, 4096) if data[i : i + 4096] != qdata[i : i + 4096])
        print()
        print(
            f"pages that differ between the two reads: {differ} of {size // 4096} "
            "(the guest runs between them)"
        )
        print(f"line rate (wire)       {wire:8.3f} MB/s")
        print(f"line rate (payload)    {line:8.3f} MB/s   (N / time; hex doubles the bytes)")
        print(f"our stub               {ours:8.3f} MB/s")
        print(f"QEMU's gdbstub         {theirs:8.3f} MB/s")
        eff = ours / wire
        print(
            f"efficiency stub / wire line rate:    {eff:.3f}  "
            f"({'meets' if eff >= 0.85 else 'misses'} the target >= 0.85)"
        )
        print(f"efficiency stub / payload line rate: {ours / line:.3f}")
        print(f"ratio our stub / QEMU's gdbstub:     {ours / theirs:.3f}")
    finally:
        machine.stop()


if __name__ == "__main__":
    main()
