"""The network control channel: the VMM's own e1000, TCP through QEMU's user
network (ctrl=net:e1000, `ramooflax lab run --ctrl net`).

Tests that take `hv_ctrl` run on both channels (-k uart / -k net select
one); the others need the network machine (hv_amd64_net, ctrl_timeout=3).
"""

import hashlib
import random
import re
import shutil
import socket
import subprocess
import time

import pytest

from ramooflax import VM, CPUFamily, rsp
from ramooflax.lab import rawgdb
from ramooflax.lab.machine import Machine
from ramooflax.lab.rawgdb import RawGdb

pytestmark = pytest.mark.lab

GDB = shutil.which("gdb")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed")
TIMEOUT_S = 3  # ctrl_timeout= of hv_amd64_net
MIB = 1024 * 1024
ROM = 0xC0000  # the option and system BIOS ROMs, [0xC0000, 0x100000): constant


def framed(body: bytes, good: bool = True) -> bytes:
    cs = rsp.checksum(body)
    return b"$" + body + b"#%02x" % (cs if good else (cs + 1) & 0xFF)


def gdb(machine: Machine, *commands: str, timeout: float = 120) -> str:
    assert GDB is not None
    argv = [GDB, "-nx", "-batch", "-ex", "set pagination off"]
    argv += ["-ex", f"target remote 127.0.0.1:{machine.free_ctrl_port()}"]
    for cmd in commands:
        argv += ["-ex", cmd]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    print(done.stdout + done.stderr)
    return done.stdout + done.stderr


def guest_sha256(machine: Machine, addr: int, size: int) -> str:
    """The guest's own view of physical memory: /dev/mem (x86 lets root read
    the first MiB whatever CONFIG_STRICT_DEVMEM says)."""
    res = machine.run(
        f"dd if=/dev/mem bs=4096 skip={addr // 4096} count={size // 4096} 2>/dev/null | sha256sum"
    )
    assert res.status == 0, res.output
    return res.output.split()[0]


def vm_runs(machine: Machine) -> None:
    assert machine.alive()
    assert machine.run("echo still-running", timeout=60).output == "still-running\n"


@needs_gdb
def test_gdb_reads_registers_and_memory(hv_ctrl: Machine) -> None:
    """Stock gdb, `target remote`: registers, a system register, physical
    memory (the BIOS's reset vector: `jmp f000:e05b`, SeaBIOS's POST entry)."""
    out = gdb(
        hv_ctrl,
        'printf "RIP=%#lx\\n", $rip',
        'printf "CR3=%#lx\\n", $cr3',
        "monitor mem phys",
        "x/5xb 0xffff0",
        "detach",
    )
    rip = re.search(r"^RIP=(0x[0-9a-f]+)$", out, re.MULTILINE)
    cr3 = re.search(r"^CR3=(0x[0-9a-f]+)$", out, re.MULTILINE)
    assert rip and cr3, out
    assert int(cr3.group(1), 16) & ~0xFFF, out
    assert re.search(r"0xffff0:\s+0xea\s+0x5b\s+0xe0\s+0x00\s+0xf0", out), out
    assert "detached" in out, out
    vm_runs(hv_ctrl)


def test_client_reads_a_mib_of_physical_memory(hv_ctrl: Machine) -> None:
    """VM(CPUFamily.AMD, "127.0.0.1:PORT") attaches and reads 1 MiB of
    physical memory; its ROM part is what the guest's /dev/mem shows."""
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{hv_ctrl.free_ctrl_port()}").attach()
    try:
        t0 = time.monotonic()
        data = vm.mem.pread(0, MIB)
        took = time.monotonic() - t0
        again = vm.mem.pread(ROM, MIB - ROM)
    finally:
        vm.detach()
    print(f"1 MiB in {took:.2f} s: {MIB / took / 1e6:.3f} MB/s")
    assert len(data) == MIB
    assert data[ROM:] == again
    assert hashlib.sha256(data[ROM:]).hexdigest() == guest_sha256(hv_ctrl, ROM, MIB - ROM)
    vm_runs(hv_ctrl)


def test_nic_hidden_from_the_vm(hv_amd64_net: Machine) -> None:
    """The guest's PCI scan does not find the VMM's 82540EM (its config space
    reads FFFFh), while it finds the rest of the machine; the NIC's BAR is
    out of the nested tables (all ones, logged)."""
    m = hv_amd64_net
    out = m.run(
        "for d in /sys/bus/pci/devices/*; do echo $(cat $d/vendor):$(cat $d/device); done"
    ).output
    ids = set(out.split())
    assert "0x8086:0x7000" in ids, out  # the PIIX3 ISA bridge: the scan works
    assert "0x8086:0x100e" not in ids, out
    match = re.search(r"hidden from the VM: configuration space, BAR (0x[0-9a-f]+)-", m.log_text())
    assert match, m.log_text()[-2000:]
    bar = int(match.group(1), 16)
    mark = len(m.log_text())
    # busybox devmem: an mmap of /dev/mem and one 32-bit load
    res = m.run(f"busybox devmem {bar:#x} 32 || echo no-devmem")
    if "no-devmem" in res.output or "applet not found" in res.output:
        pytest.skip(f"the guest has no busybox devmem: {res.output!r}")
    assert res.output.strip().lower() == "0xffffffff", res.output
    deadline = time.monotonic() + 10
    while "hidden the VMM's control NIC" not in m.log_text()[mark:]:
        assert time.monotonic() < deadline, m.log_text()[mark:]
        time.sleep(0.2)
    vm_runs(m)


def test_second_client_is_refused(hv_amd64_net: Machine) -> None:
    m = hv_amd64_net
    port = m.free_ctrl_port()
    with RawGdb.connect(port) as first:
        first.interrupt()
        assert first.wait_stop(timeout=30).startswith(b"T02")
        with socket.create_connection(("127.0.0.1", port), timeout=15) as second:
            # QEMU accepts on the host side, then the VMM answers its SYN with
            # a RST: the host socket is closed, never left hanging.
            second.sendall(framed(b"qRfx.Status"))
            try:
                got = second.recv(4096)
            except ConnectionResetError:
                got = b""
            assert got == b"", got
        status = rawgdb.parse_status(first.command("qRfx.Status"))
        assert status["mode"], status
        assert first.command("D") == b"OK"
    vm_runs(m)


def test_a_hundred_reconnects(hv_amd64_net: Machine) -> None:
    m = hv_amd64_net
    port = m.free_ctrl_port()
    t0 = time.monotonic()
    for i in range(100):
        with RawGdb.connect(port) as client:
            reply = client.command("qRfx.Status", timeout=30)
            assert reply.startswith(b"mode:"), (i, reply)
            if i % 2:
                assert client.command("D") == b"OK"
            # else: closed without a detach: the FIN detaches
    print(f"100 connections served in {time.monotonic() - t0:.1f} s")
    vm_runs(m)


def test_vanished_client_frees_the_connection(hv_amd64_net: Machine) -> None:
    m = hv_amd64_net
    port = m.free_ctrl_port()
    mark = len(m.log_text())
    silent = RawGdb.connect(port)
    try:
        silent.interrupt()
        assert silent.wait_stop(timeout=30).startswith(b"T02")
        # Silent now, the socket open: after ctrl_timeout the VMM drops it.
        silent.sock.settimeout(TIMEOUT_S + 30)
        try:
            got = silent.sock.recv(4096)
        except ConnectionResetError:
            got = b""
        assert got == b"", got
    finally:
        silent.close()
    # (the RST goes out first, the VMM's log lines just after it)
    deadline = time.monotonic() + 15
    while "timeout: no packet while the VM was stopped" not in m.log_text()[mark:]:
        assert time.monotonic() < deadline, m.log_text()[mark:]
        time.sleep(0.2)
    vm_runs(m)
    with RawGdb.connect(port) as client:
        assert client.command("qRfx.Status", timeout=30).startswith(b"mode:")
        assert client.command("D") == b"OK"


SAFE = [b"?", b"g", b"p", b"m", b"qRfx.", b"qRfx.PhysRead:", b"qSupported", b"Z", b"z", b"vFoo"]
JUNK = b"0123456789abcdef,:;#}*x\x03\xff\x00"


def malformed(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    body = rng.choice(SAFE) + bytes(rng.choice(JUNK) for _ in range(rng.randrange(12)))
    if kind == 0:  # bad checksum
        return framed(body.replace(b"$", b""), good=False)
    if kind == 1:  # truncated
        return b"$" + body.replace(b"#", b"").replace(b"$", b"")
    if kind == 2:  # valid framing, unknown or bad arguments
        clean = bytes(b for b in body if b not in b"$#}*")
        return framed(clean)
    return bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 16))).replace(b"$", b"")


def test_malformed_rsp_over_tcp(hv_amd64_net: Machine) -> None:
    """10 000 malformed packets in one stream: the VMM answers afterwards
    and the VM runs."""
    m = hv_amd64_net
    rng = random.Random(12)
    mark = len(m.log_text())
    with RawGdb.connect(m.free_ctrl_port()) as client:
        client.interrupt()
        assert client.wait_stop(timeout=30).startswith(b"T02")
        client.noack()
        flood = b"".join(malformed(rng) for _ in range(10_000))
        # The replies are read while sending: the stub must not block on us.
        client.sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 300
        while sent < len(flood):
            assert time.monotonic() < deadline, f"{sent} of {len(flood)} bytes taken"
            try:
                sent += client.sock.send(flood[sent : sent + 65536])
            except BlockingIOError:
                pass
            try:
                while client.sock.recv(1 << 16):
                    pass
            except BlockingIOError:
                pass
        client.sock.setblocking(True)
        # Resynchronise on a clean packet until the stub answers it.
        got = b""
        for _ in range(30):
            client.send_raw(b"#00" + framed(b"qRfx.Status"))
            client.sock.settimeout(2)
            try:
                while b"mode:" not in got:
                    got += client.sock.recv(1 << 16)
                break
            except TimeoutError:
                continue
        assert b"mode:" in got, got[-200:]
        time.sleep(0.5)
        client.sock.settimeout(0.5)
        try:
            while client.sock.recv(1 << 16):
                pass
        except TimeoutError:
            pass
        client.resync()
        client.ack = False
        assert client.command("qRfx.Status", timeout=30).startswith(b"mode:")
        assert client.command("D") == b"OK"
    assert "FATAL" not in m.log_text()[mark:]
    vm_runs(m)


def test_a_bad_option_is_a_log_line(hv_amd64_badnet: Machine) -> None:
    """ctrl=net:e1000,ip=10.0.2.300: setup logs why, the machine boots, and
    the control channel is the default UART."""
    m = hv_amd64_badnet
    log = m.log_text()
    assert "setup: bad ctrl= option (ip= takes an IPv4 address" in log, log[-2000:]
    assert "control channel on uart" in log, log[-2000:]
    assert "exit" in m.monitor("exits").lower()
    vm_runs(m)
