"""The network control channel: the VMM's own NIC, TCP through QEMU's user
network (ctrl=net:e1000|e1000e|igb, `ramooflax lab run --ctrl net[:MODEL]`).

Tests that take `hv_link` run on every control link: the UART and each NIC
model, the 82540EM on pc, the 82574L and the 82576 on q35 (-k uart, -k
e1000e select one); those that take `hv_nic` on each NIC model; the others
need the e1000 machine (hv_amd64_net). Every network machine has
ctrl_timeout=3.
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
from ramooflax.lab import qemu, rawgdb
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
def test_gdb_reads_registers_and_memory(hv_link: Machine) -> None:
    """Stock gdb, `target remote`: registers, a system register, physical
    memory (the BIOS's reset vector: `jmp f000:e05b`, SeaBIOS's POST entry)."""
    out = gdb(
        hv_link,
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
    vm_runs(hv_link)


def test_client_reads_a_mib_of_physical_memory(hv_link: Machine) -> None:
    """VM(CPUFamily.AMD, "127.0.0.1:PORT") attaches and reads 1 MiB of
    physical memory; its ROM part is what the guest's /dev/mem shows."""
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{hv_link.free_ctrl_port()}").attach()
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
    assert hashlib.sha256(data[ROM:]).hexdigest() == guest_sha256(hv_link, ROM, MIB - ROM)
    vm_runs(hv_link)


# Per NIC model: (the VMM's NIC, a device of the board the scan must find,
# the guest's own NIC or None), as vendor:device in sysfs.
NIC_IDS = {
    "e1000": ("0x8086:0x100e", "0x8086:0x7000", None),  # pc: the PIIX3 ISA bridge
    "e1000e": ("0x8086:0x10d3", "0x8086:0x2918", "0x8086:0x100e"),  # q35: the ICH9 LPC bridge
    "igb": ("0x8086:0x10c9", "0x8086:0x2918", "0x8086:0x10d3"),
}


def pci_devices(machine: Machine) -> dict[str, str]:
    """The guest's PCI functions: vendor:device -> sysfs name (0000:00:03.0)."""
    out = machine.run(
        "for d in /sys/bus/pci/devices/*; do echo $(cat $d/vendor):$(cat $d/device) ${d##*/}; done"
    ).output
    return dict(line.split() for line in out.splitlines() if line.count(" ") == 1)


def devmem(machine: Machine, *args: str) -> list[str]:
    """busybox devmem (an mmap of /dev/mem, one load or store) per argument
    string; the values read, in order."""
    res = machine.run("; ".join(f"busybox devmem {a}" for a in args) + " || echo no-devmem")
    if "no-devmem" in res.output or "applet not found" in res.output:
        pytest.skip(f"the guest has no busybox devmem: {res.output!r}")
    return [w.lower() for w in res.output.split()]


def test_nic_hidden_from_the_vm(hv_nic: Machine) -> None:
    """The guest's PCI scan does not find the VMM's NIC (its config space
    reads FFFFh), while it finds the rest of the machine and the guest's own
    NIC, whose registers answer; the VMM NIC's BAR is out of the nested
    tables (all ones, logged)."""
    m = hv_nic
    nic = qemu.ctrl_nic(m.spec.ctrl)
    assert nic is not None
    vmm_id, board_id, own_id = NIC_IDS[nic]
    devices = pci_devices(m)
    assert board_id in devices, devices  # the scan works
    assert vmm_id not in devices, devices
    match = re.search(r"vmm: pci: its BAR (0x[0-9a-f]+)-", m.log_text())
    assert match, m.log_text()[-2000:]
    bar = int(match.group(1), 16)
    checks = [f"{bar:#x} 32"]
    if own_id is not None:
        # the guest's NIC works: its STATUS register (offset 8 of BAR0) answers
        assert own_id in devices, devices
        res = m.run(f"head -1 /sys/bus/pci/devices/{devices[own_id]}/resource")
        checks.append(f"{int(res.output.split()[0], 16) + 8:#x} 32")
    mark = len(m.log_text())
    values = devmem(m, *checks)
    assert values[0] == "0xffffffff", values
    if own_id is not None:
        assert values[1] != "0xffffffff", values
    deadline = time.monotonic() + 10
    while "hidden the VMM's control NIC" not in m.log_text()[mark:]:
        assert time.monotonic() < deadline, m.log_text()[mark:]
        time.sleep(0.2)
    vm_runs(m)


@pytest.mark.parametrize("hv_nic", ["e1000e", "igb"], indirect=True)
def test_ecam_page_reads_as_no_device(hv_nic: Machine) -> None:
    """On q35 (an ECAM window, from the ACPI MCFG) the VMM NIC's 4 KiB of the
    window read all ones and drop writes, logged, while the guest's own
    NIC's page reads its ID; the dropped write (the NIC's command register
    to 0: no memory decoding, no bus mastering) leaves the channel working."""
    m = hv_nic
    log = m.log_text()
    window = re.search(r"setup: PCIe ECAM window at (0x[0-9a-f]+)", log)
    hidden = re.search(r"vmm: pci: ([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) hidden from the VM", log)
    page_line = re.search(r"vmm: pci: its ECAM page (0x[0-9a-f]+) reads as no device", log)
    assert window and hidden and page_line, log[-3000:]
    bus, dev, fn = (int(g, 16) for g in hidden.groups())
    page = int(page_line.group(1), 16)
    # PCI Express Base 4.0 §7.2.2: bus << 20 | device << 15 | function << 12
    assert page == int(window.group(1), 16) + (bus << 20 | dev << 15 | fn << 12), log[-3000:]
    dmesg = m.run("dmesg | grep -i mmconfig").output
    assert "MMCONFIG" in dmesg, dmesg  # the guest's kernel has the window too
    nic = qemu.ctrl_nic(m.spec.ctrl)
    own_id = NIC_IDS[nic or ""][2]
    assert own_id is not None
    own = re.fullmatch(r"0000:(\w\w):(\w\w)\.(\w)", pci_devices(m)[own_id])
    assert own, own_id
    obus, odev, ofn = (int(g, 16) for g in own.groups())
    own_page = int(window.group(1), 16) + (obus << 20 | odev << 15 | ofn << 12)
    vendor, device = (int(x, 16) for x in own_id.split(":"))
    mark = len(log)
    # read the hidden page, write 0 to its command register, read it again;
    # the guest's NIC's page
    values = devmem(m, f"{page:#x} 32", f"{page + 4:#x} 16 0", f"{page:#x} 32", f"{own_page:#x} 32")
    assert values == ["0xffffffff", "0xffffffff", f"{device << 16 | vendor:#010x}"], values
    deadline = time.monotonic() + 10
    while not all(
        f"VM {kind} of hidden PCI configuration space (ECAM) at {at:#x}" in m.log_text()[mark:]
        for kind, at in (("read", page), ("write", page + 4))
    ):
        assert time.monotonic() < deadline, m.log_text()[mark:]
        time.sleep(0.2)
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{m.free_ctrl_port()}").attach()
    try:
        assert vm.mem.pread(0xFFFF0, 5) == bytes([0xEA, 0x5B, 0xE0, 0x00, 0xF0])
    finally:
        vm.detach()
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
        client.drain()
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
