"""The stub under abuse: a flood of malformed packets, a client that vanishes.

Both run on the ctrl_wait=1 ctrl_timeout=3 machine (its own VM), so nothing
here disturbs the shared machines.
"""

import random
import threading
import time

import pytest

from ramooflax import rsp
from ramooflax.lab import rawgdb
from ramooflax.lab.machine import Machine
from ramooflax.lab.rawgdb import RawGdb

pytestmark = pytest.mark.lab

FUZZ_PACKETS = 100_000
# Packets > 16 KiB. Each costs ~0.5 s: the VMM reads its UART at about
# 30 KB/s, as fast as QEMU's 16550 refills its 16-byte FIFO from the socket.
OVERSIZE = 20
# The `g` reply: 109 registers, 872 bytes (docs/protocol.md numbers them 0-108).
TIMEOUT_S = 3  # ctrl_timeout= of the machine


def ctrl_port(machine: Machine) -> int:
    return machine.free_ctrl_port()


def framed(body: bytes, good: bool = True) -> bytes:
    cs = rsp.checksum(body)
    return b"$" + body + b"#%02x" % (cs if good else (cs + 1) & 0xFF)


# Valid framing, but nothing that resumes the VM or writes to it.
SAFE_PREFIXES = [
    b"?",
    b"g",
    b"p",
    b"m",
    b"qRfx.",
    b"qRfx.PhysRead:",
    b"qXfer:features:read:",
    b"qSupported",
    b"qRcmd,",
    b"Z",
    b"z",
    b"H",
    b"T",
    b"qC",
    b"QRfx.Bogus",
    b"y",
    b"vFoo",
    b"qRfx.V2P:",
    b"qRfx.PhysReadBin:",
]
# No '$' anywhere but at packet starts: a '$' inside junk starts a packet
# of its own, and random bytes after it can make a valid one -- `c99`
# ("continue at 0x99") did, once, and the VM obeyed. Every packet must
# begin with one of SAFE_PREFIXES.
JUNK = b"0123456789abcdef,:;#}*x\x03\xff\x00"


def junk(rng: random.Random, n: int) -> bytes:
    return bytes(rng.choice(JUNK) for _ in range(n))


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(b if b != ord("$") else 0 for b in (rng.randrange(256) for _ in range(n)))


def malformed(rng: random.Random, kind: int) -> bytes:
    """One malformed (or harmless unknown) packet of the given kind."""
    if kind == 0:  # bad checksum
        return framed(rng.choice(SAFE_PREFIXES) + junk(rng, rng.randrange(0, 12)), good=False)
    if kind == 1:  # truncated: no '#', or half a checksum; the next '$' restarts
        body = b"$" + rng.choice(SAFE_PREFIXES) + junk(rng, rng.randrange(0, 8)).replace(b"#", b"")
        return body + rng.choice([b"", b"#", b"#" + b"%x" % rng.randrange(16)])
    if kind == 2:  # unknown or bad arguments, valid checksum (empty or E.. reply)
        body = rng.choice(SAFE_PREFIXES) + junk(rng, rng.randrange(0, 16))
        body = body.replace(b"$", b"").replace(b"#", b"").replace(b"}", b"").replace(b"*", b"")
        return framed(body)
    if kind == 3:  # random bytes, no '$' (noise between packets)
        return _random_bytes(rng, rng.randrange(1, 24))
    if kind == 4:  # '}' escapes in odd places: at the end, before '#', doubled
        place = rng.randrange(3)
        body = [b"m}", b"}}", b"p}#"][place] + junk(rng, 3)
        return b"$" + body + b"#" + b"%02x" % rng.randrange(256)
    if kind == 5:  # Ctrl-C in mid-packet
        return b"$qRfx.St\x03atus#" + b"%02x" % rng.randrange(256)
    # kind 6: garbage checksum characters
    return b"$g#" + _random_bytes(rng, 2)


def test_fuzz_malformed_packets(hv_amd64_wait: Machine) -> None:
    machine = hv_amd64_wait
    port = ctrl_port(machine)
    mark = len(machine.log_text())
    rng = random.Random(1234)
    replies = {"n": 0, "bytes": 0}
    sync = threading.Event()
    stop = threading.Event()

    with RawGdb.connect(port) as client:
        client.interrupt()
        assert client.wait_stop(timeout=15).startswith(b"T02")
        client.noack()
        # One timeout for both threads (it is a property of the socket).
        client.sock.settimeout(120)

        def drain() -> None:
            # Read replies as they come: the stub must never block on a full line.
            # Ends at the reply to the resynchronising qRfx.Status.
            while not stop.is_set():
                try:
                    data = client.sock.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                replies["n"] += data.count(b"#")
                replies["bytes"] += len(data)
                if b"mode:" in data:
                    sync.set()
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        t0 = time.monotonic()
        sent = 0
        nbytes = 0
        batch: list[bytes] = []
        for i in range(FUZZ_PACKETS):
            if i % (FUZZ_PACKETS // OVERSIZE) == 0:
                big = b"$m" + b"0" * (16 * 1024 + rng.randrange(2048)) + b"#00"
                batch.append(big)
            else:
                batch.append(malformed(rng, rng.randrange(7)))
            if len(batch) >= 256:
                chunk = b"".join(batch)
                client.sock.sendall(chunk)
                nbytes += len(chunk)
                sent += len(batch)
                batch = []
        chunk = b"".join(batch)
        client.sock.sendall(chunk)
        sent += len(batch)
        nbytes += len(chunk)
        # Resynchronise: a clean packet until the stub answers it. The
        # stub reads the flood at line rate, slower on a loaded host: wait
        # while its replies keep coming, and give up after 20 s of silence.
        quiet_since, seen = time.monotonic(), -1
        while time.monotonic() - quiet_since < 20:
            client.sock.sendall(b"#00" + framed(b"qRfx.Status"))
            seen = replies["bytes"]
            if sync.wait(5):
                break
            if replies["bytes"] != seen:
                quiet_since, seen = time.monotonic(), replies["bytes"]
        took = time.monotonic() - t0
        stop.set()
        reader.join()
        assert sync.is_set(), (
            "the stub no longer answers after the fuzz; hv log tail:\n"
            + "\n".join(machine.log_text()[mark:].splitlines()[-30:])
        )
        print(
            f"fuzz: {sent} malformed packets ({nbytes / 1e6:.1f} MB) in {took:.1f} s: "
            f"{sent / took:.0f} packets/s, {nbytes / took / 1e6:.2f} MB/s; "
            f"{replies['n']} replies ({replies['bytes']} bytes)"
        )
        assert sent >= 100_000
        # Anything left half-read is dropped; the stub is in no-ack mode still.
        client.ack = False
        time.sleep(0.5)
        client.drain(0.2)
        status = rawgdb.parse_status(client.command("qRfx.Status"))
        regs = client.regs()
        layout = client.layout()
        assert len(regs) == layout.g_size, len(regs)
        assert layout.parse_g(regs.hex().encode())["rip"] == int(status["rip"], 16)
        assert client.reg("cr3") == int(status["cr3"], 16)
        assert client.reg("rip") == int(status["rip"], 16)
        assert client.command("D") == b"OK"
    assert machine.alive()
    assert machine.run("echo survived", timeout=60).output == "survived\n"
    log = machine.log_text()[mark:]
    assert "FATAL" not in log, log[-2000:]


def test_client_vanishes_mid_packet(hv_amd64_wait: Machine) -> None:
    """Stop the VM, send half a packet, close: after ctrl_timeout the VM runs,
    the log says so, and a new client attaches."""
    machine = hv_amd64_wait
    port = ctrl_port(machine)
    mark = len(machine.log_text())
    con = machine.console
    assert con is not None
    with RawGdb.connect(port) as client:
        client.interrupt()
        assert client.wait_stop(timeout=15).startswith(b"T02")
        stopped_at = time.monotonic()
        client.send_raw(b"$m1234")
    # A stopped VM is silent: the command waits for the timeout.
    result = machine.run("echo back-again", timeout=TIMEOUT_S + 30)
    waited = time.monotonic() - stopped_at
    assert result.output == "back-again\n"
    print(f"the VM ran again {waited:.1f} s after the client vanished (ctrl_timeout={TIMEOUT_S})")
    assert waited >= TIMEOUT_S - 0.5
    log = machine.log_text()[mark:]
    assert "client detached (timeout" in log, log
    with RawGdb.connect(port) as client:
        assert client.command("?", timeout=15)[:1] == b"T"
        assert client.command("D") == b"OK"
    assert machine.run("echo attached-again").output == "attached-again\n"


def test_client_vanishes_while_stopped(hv_amd64_wait: Machine) -> None:
    """The same without half a packet: a silent client is dropped after the timeout."""
    machine = hv_amd64_wait
    port = ctrl_port(machine)
    mark = len(machine.log_text())
    with RawGdb.connect(port) as client:
        client.interrupt()
        assert client.wait_stop(timeout=15).startswith(b"T02")
        assert client.command(f"Z0,{client.reg('lstar'):x},1") == b"OK"
        stopped_at = time.monotonic()
    result = machine.run("echo back-again", timeout=TIMEOUT_S + 30)
    assert result.output == "back-again\n"  # and the dropped breakpoint is gone
    assert time.monotonic() - stopped_at >= TIMEOUT_S - 0.5
    assert "client detached (timeout" in machine.log_text()[mark:]


BUSY_FUZZ_PACKETS = 20_000
BUSY_ROUNDS = 40  # md5sums of 1 MiB of zeros per vCPU


def test_fuzz_while_every_vcpu_is_busy(hv_amd64_wait: Machine) -> None:
    """The flood arrives while the VM runs a workload pinned to each vCPU:
    the VMM reads it between exits (a 0x03 or a valid packet in it stops the
    VM, and it is then read at line speed). Afterwards the stub answers, the
    detach resumes every vCPU, and no vCPU lost work: each one's md5sums
    are all there and right (computed on the host)."""
    import hashlib

    machine = hv_amd64_wait
    ncpus = int(machine.run("nproc").output)
    assert ncpus >= 2
    want = hashlib.md5(bytes(1 << 20)).hexdigest()
    loop = f"i=0; while [ $i -lt {BUSY_ROUNDS} ]; do head -c 1048576 /dev/zero | md5sum; i=$((i+1)); done"
    job = machine.run_background(
        " ".join(f"taskset -c {k} sh -c '{loop}' > /tmp/busy{k} &" for k in range(ncpus))
        + " wait; cat /tmp/busy*; echo busy-done",
        timeout=900,
    )
    time.sleep(2)  # the loops are running
    mark = len(machine.log_text())
    rng = random.Random(4321)
    with RawGdb.connect(ctrl_port(machine)) as client:
        client.sock.settimeout(120)
        flood = b"".join(malformed(rng, rng.randrange(7)) for _ in range(BUSY_FUZZ_PACKETS))
        reader_stop = threading.Event()

        def drain() -> None:
            while not reader_stop.is_set():
                try:
                    if not client.sock.recv(1 << 16):
                        return
                except OSError:
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        client.sock.sendall(flood)
        time.sleep(1)
        reader_stop.set()
        client.sock.shutdown(2)  # unblock the reader
        reader.join()
    # A new client: it is served, and its detach resumes every vCPU.
    with RawGdb.connect(ctrl_port(machine)) as client:
        assert client.first_stop()[:1] == b"T"
        status = rawgdb.parse_status(client.command("qRfx.Status"))
        assert int(status["threads"], 16) == ncpus, status
        assert client.command("D") == b"OK"
    out = job.result(900).output
    sums = [line.split()[0] for line in out.splitlines() if line.endswith("  -")]
    assert "busy-done" in out and sums == [want] * (ncpus * BUSY_ROUNDS), out[-2000:]
    log = machine.log_text()[mark:]
    assert "FATAL" not in log and "halted" not in log, log[-2000:]
