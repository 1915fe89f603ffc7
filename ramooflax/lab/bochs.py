"""Bochs: the lab's second emulator, for Intel VT-x (and a cross-check of SVM).

Debian's Bochs 2.7 emulates VMX with EPT and unrestricted guest, and SVM.
A lab machine under Bochs has the QEMU machine's wiring:

* COM1 (0x3f8), the guest console: a `socket-client` line that connects to
  the lab's listener on the console port at start-up (Bochs's
  `socket-server` blocks until a client comes, and sets no SO_REUSEADDR);
* COM2 (0x2f8), the hypervisor's control line: a `socket-client` line to a
  relay (relay.py) that serves it on the control port, one client at a time;
* COM3 (0x3e8), the hypervisor's log: a file.

Bochs has no multiboot loader (no -kernel): with the hypervisor, the first
disk is a USB-key image (usb.py: GRUB loading loader.elf, setup.elf and
vmm.elf) and the guest disk is the second, which the hypervisor boots as
BIOS drive 0x81. Disks are `volatile` (a temporary redolog), as QEMU's
snapshot=on: the guest image is never written.
"""

import atexit
import re
import shutil
import socket
import subprocess
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ramooflax.errors import LabError

BOCHS = "bochs"
INSTALL_HINT = "apt-get install --no-install-recommends bochs bochs-x bochsbios vgabios"
BIOS = Path("/usr/share/bochs/BIOS-bochs-latest")
VGABIOS = Path("/usr/share/vgabios/vgabios.bin")
# Bochs CPU models the lab runs, by vendor: the Intel ones offer VMX with EPT
# and unrestricted guest (Skylake-X adds PML); trinity_apu offers SVM with
# NPT. (ryzen hangs; icelake_u and tigerlake advertise a broken MTF.)
MODELS = {
    "corei7_skylake_x": "intel",
    "broadwell_ult": "intel",
    "corei7_haswell_4770": "intel",
    "corei7_ivy_bridge_3770k": "intel",
    "corei7_sandy_bridge_2600k": "intel",
    "trinity_apu": "amd",
}
DEFAULT_CPU = "corei7_skylake_x"
MAX_MEGS = 2048  # Bochs refuses more guest RAM
MAX_CORES = 8
# Emulated instructions per emulated second. With `clock: sync=none` the
# guest's time follows the instruction count, not the host's clock: a boot
# takes the same guest time however loaded the host is.
IPS = 100_000_000


@dataclass
class Config:
    """Everything that defines one lab machine's bochsrc."""

    guest: Path  # the guest disk
    console_port: int  # COM1: Bochs connects to the lab's listener there
    ctrl_port: int  # where control clients connect (the relay's outer port)
    ctrl_line_port: int  # COM2: Bochs connects to the relay there
    log: Path  # COM3: the hypervisor's log
    work: Path  # the redologs of the volatile disks
    bochs_log: Path  # Bochs's own log (BIOS messages, panics)
    cpu: str = DEFAULT_CPU
    megs: int = 512
    smp: int = 1
    usb: Path | None = None  # the hypervisor's key: the first disk, the guest second
    extra: list[str] = field(default_factory=list)  # more bochsrc lines

    @property
    def disks(self) -> list[Path]:
        return [self.usb, self.guest] if self.usb else [self.guest]


def _quote(path: Path) -> str:
    text = str(path)
    if '"' in text or "$" in text:
        # bochsrc has no escape for a quote, and expands $VAR even in a path
        raise LabError(f"Bochs cannot take the path {text!r}: it holds a quote or a $")
    return f'"{text}"'


def check_cpu(model: str) -> str:
    """model, if the lab runs it under Bochs; else LabError listing the models."""
    if model not in MODELS:
        known = ", ".join(f"{m} ({v})" for m, v in MODELS.items())
        raise LabError(f"Bochs CPU model {model!r} is not one the lab runs: pick one of {known}")
    return model


def vendor(model: str) -> str:
    """ "intel" or "amd": the CPU vendor of a Bochs model."""
    return MODELS[check_cpu(model)]


def megs(mem: str) -> int:
    """Guest RAM in MiB from a QEMU-style size: 512M, 1G, 768."""
    match = re.fullmatch(r"(\d+)\s*([MmGg]?)i?[Bb]?", mem.strip())
    if not match:
        raise LabError(f"--mem {mem!r}: give a size such as 512M or 1G")
    size = int(match.group(1)) * (1024 if match.group(2).lower() == "g" else 1)
    if not 16 <= size <= MAX_MEGS:
        raise LabError(f"--mem {mem}: Bochs takes 16M to {MAX_MEGS}M of guest RAM")
    return size


def bochsrc(cfg: Config) -> str:
    """The bochsrc text of cfg (paths quoted, no $VAR: Bochs would expand it)."""
    check_cpu(cfg.cpu)
    if not 1 <= cfg.smp <= MAX_CORES:
        raise LabError(f"Bochs runs 1 to {MAX_CORES} cores, not {cfg.smp}")
    if len(cfg.disks) > 2:
        raise LabError("the Bochs machine holds two disks (ata0 master and slave)")
    cpu = f"model={cfg.cpu}, count={cfg.smp}, ips={IPS}, reset_on_triple_fault=1"
    lines = [
        f"memory: guest={cfg.megs}, host={cfg.megs}",
        f"cpu: {cpu}, ignore_bad_msrs=1",
        "clock: sync=none, time0=local",
        f"romimage: file={_quote(BIOS)}",
        f"vgaromimage: file={_quote(VGABIOS)}",
        # Debian's Bochs has no `nogui`: a VNC display that waits for no viewer.
        'display_library: rfb, options="timeout=0"',
        "pci: enabled=1, chipset=i440fx",
        "ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14",
        "ata1: enabled=0",  # an empty channel costs a BIOS time-out at boot
    ]
    for disk, unit in zip(cfg.disks, ("master", "slave"), strict=False):
        journal = cfg.work / f"{disk.name}.redolog"
        lines.append(
            f"ata0-{unit}: type=disk, mode=volatile, path={_quote(disk)}, journal={_quote(journal)}"
        )
    lines += [
        "boot: disk",
        f"com1: enabled=1, mode=socket-client, dev=127.0.0.1:{cfg.console_port}",
        f"com2: enabled=1, mode=socket-client, dev=127.0.0.1:{cfg.ctrl_line_port}",
        f"com3: enabled=1, mode=file, dev={_quote(cfg.log)}",
        "speaker: enabled=0",
        "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy",
        f"log: {_quote(cfg.bochs_log)}",
        "panic: action=fatal",
        "error: action=report",
        "info: action=report",
        "debug: action=ignore",
        *cfg.extra,
    ]
    return "\n".join(lines) + "\n"


# The debugger is compiled into Debian's Bochs: it stops before the first
# instruction and reads its commands from this file, then from stdin
# (/dev/null: it quits when the machine stops).
DEBUGGER_RC = "continue\n"


def command(rc: Path, debugger_rc: Path) -> list[str]:
    """The bochs argv for the bochsrc file rc; -unlock: a killed Bochs leaves
    its disk locks behind."""
    return [BOCHS, "-q", "-unlock", "-f", str(rc), "-rc", str(debugger_rc)]


_RUNNING: "weakref.WeakSet[subprocess.Popen[bytes]]" = weakref.WeakSet()


def spawn(argv: list[str], out: IO[bytes]) -> "subprocess.Popen[bytes]":
    """Start Bochs (stdin /dev/null for its debugger; stdout and stderr to out).
    A Bochs still running when this Python process exits is killed then."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} not found: install Bochs 2.7 ({INSTALL_HINT})") from None
    _RUNNING.add(proc)
    return proc


@atexit.register
def _kill_running() -> None:
    for proc in list(_RUNNING):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def accept(server: socket.socket, timeout: float, alive: Callable[[], bool]) -> socket.socket:
    """The connection Bochs's COM1 makes to server, within timeout while alive()."""
    deadline = time.monotonic() + timeout
    server.settimeout(0.2)
    while True:
        try:
            sock, _ = server.accept()
            sock.settimeout(None)
            return sock
        except TimeoutError:
            pass
        if not alive():
            raise LabError("Bochs exited before its console (COM1) connected")
        if time.monotonic() > deadline:
            raise LabError(f"Bochs's console (COM1) did not connect within {timeout:.0f} s")


def check_installed() -> None:
    """Raise LabError if Bochs, its BIOS or its VGA BIOS is missing."""
    if shutil.which(BOCHS) is None:
        raise LabError(f"{BOCHS} not found: install Bochs 2.7 ({INSTALL_HINT})")
    for rom in (BIOS, VGABIOS):
        if not rom.exists():
            raise LabError(f"{rom} is missing: {INSTALL_HINT}")


# Lines Bochs reports as errors at every run: disk geometry autodetection, a
# booting Linux's MSR probes, each I/O intercept under SVM.
_NOISE = r"autodetection enabled|Unknown register|SVM VMEXIT: I/O port"


def problems(output: str, bochs_log: Path, lines: int = 8) -> list[str]:
    """What went wrong, from Bochs's output (a bochsrc error, an early panic)
    and the last panic and error lines of its log (its `p[` and `e[` lines,
    without the MSR probes a booting Linux makes by the thousand)."""
    said = [
        x
        for x in output.splitlines()
        if re.search(r"PANIC|[Ee]rror|bochsrc[-\w]*:\d+:", x) and not re.search(_NOISE, x)
    ]
    try:
        text = bochs_log.read_text("utf-8", "replace")
    except OSError:
        text = ""
    said += [
        f"{bochs_log.name}: {x}"
        for x in text.splitlines()
        if re.match(r"^\d+[pe]\[", x) and not re.search(_NOISE, x)
    ]
    return said[-lines:]
