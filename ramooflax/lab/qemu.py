"""QEMU: version and CPU checks, and the command line of a lab machine.

QEMU runs with TCG (no KVM here). The CPU model must offer SVM and NPT; TCG
warns about model features it cannot emulate (EPYC's fxsr-opt, osvw, ...), so
the model is probed once per QEMU version and those features are turned off:
stderr stays clean and the model keeps what TCG really gives (1 GiB pages).
"""

import json
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import paths

QEMU = "qemu-system-x86_64"
MIN_VERSION = (10, 0)
DEFAULT_CPU = "EPYC"
# The network control channel (--ctrl net[:MODEL]): the VMM's NIC -- the
# QEMU device, which is also the word of the hv's ctrl=net: option -- and
# its address on QEMU's user network, whose first guest address is 10.0.2.15.
CTRL_NICS = ("e1000", "e1000e", "igb")
BOARDS = ("pc", "q35")  # -machine: i440FX (no ECAM) or Q35 (PCIe, an ECAM window)
CTRL_NET_IP = "10.0.2.15"
CTRL_NET_PORT = 1234
INSTALL_HINT = "on Debian 12: apt-get install -t bookworm-backports qemu-system-x86"
_UNSUPPORTED = re.compile(r"TCG doesn't support requested feature: \S+\.([\w.-]+) \[bit")


def version() -> tuple[int, int]:
    """QEMU's (major, minor); raise if QEMU is missing or older than MIN_VERSION."""
    try:
        out = subprocess.run(
            [QEMU, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except FileNotFoundError:
        raise LabError(f"{QEMU} not found: install QEMU >= 10 ({INSTALL_HINT})") from None
    match = re.search(r"version (\d+)\.(\d+)", out)
    if not match:
        raise LabError(f"cannot read the version from `{QEMU} --version`: {out.strip()!r}")
    ver = (int(match.group(1)), int(match.group(2)))
    if ver < MIN_VERSION:
        raise LabError(
            f"QEMU {ver[0]}.{ver[1]} is too old, need >= {MIN_VERSION[0]} ({INSTALL_HINT})"
        )
    return ver


def _probe(cpu: str) -> tuple[list[str], str]:
    """Start QEMU paused with -cpu cpu; return (unsupported features, other stderr)."""
    argv = [QEMU, "-accel", "tcg", "-cpu", cpu, "-machine", "pc", "-nodefaults"]
    argv += ["-display", "none", "-S", "-monitor", "stdio"]
    try:
        done = subprocess.run(
            argv, input="quit\n", capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"QEMU did not quit while probing -cpu {cpu}") from None
    missing = _UNSUPPORTED.findall(done.stderr)
    other = [
        line for line in done.stderr.splitlines() if line.strip() and not _UNSUPPORTED.search(line)
    ]
    if done.returncode != 0:
        raise LabError(f"QEMU refuses -cpu {cpu}: {' '.join(other) or done.stderr.strip()}")
    return missing, "\n".join(other)


def cpu_arg(model: str | None = None) -> str:
    """The -cpu value for model with +svm,+npt and without what TCG lacks (cached)."""
    ver = version()
    base = model or DEFAULT_CPU
    wanted = base if "+svm" in base else f"{base},+svm,+npt"
    cache = paths.cache_dir() / "qemu-cpu.json"
    key = f"{ver[0]}.{ver[1]}:{wanted}"
    try:
        known: dict[str, str] = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    name = base.split(",")[0]
    listing = subprocess.run(
        [QEMU, "-cpu", "help"], capture_output=True, text=True, check=False
    ).stdout
    if not re.search(rf"^\s*(x86\s+)?{re.escape(name)}\s", listing, re.MULTILINE) and name != "max":
        raise LabError(f"QEMU has no CPU model {name!r}: see `{QEMU} -cpu help`")
    if not re.search(r"\bsvm\b", listing):
        raise LabError(f"this QEMU offers no `svm` CPU flag: install QEMU >= 10 ({INSTALL_HINT})")
    missing, _ = _probe(wanted)
    for feature in ("svm", "npt"):
        if feature in missing:
            raise LabError(f"TCG cannot give -cpu {wanted} the `{feature}` feature")
    result = wanted + "".join(f",-{f}" for f in dict.fromkeys(missing))
    still, _ = _probe(result)
    if still:
        raise LabError(f"TCG still lacks {', '.join(still)} with -cpu {result}: pick another --cpu")
    known[key] = result
    cache.write_text(json.dumps(known, indent=1) + "\n")
    return result


@dataclass
class Config:
    """Everything that defines one lab machine's QEMU command line."""

    guest: Path
    console_port: int
    ctrl_port: int
    log: Path
    cpu: str
    mem: str = "512M"
    smp: int = 1  # cores
    hv: tuple[Path, Path, Path] | None = None  # loader, setup, vmm
    hv_append: str = "ctrl=uart:0x2f8 log=uart:0x3e8 disk=0x80"
    usb: Path | None = None
    extra: list[str] = field(default_factory=list)
    ctrl: str = "uart"  # or "net[:MODEL]": ctrl_port is then forwarded to the VMM's NIC
    board: str = "pc"  # -machine, one of BOARDS
    # "uefi": OVMF (read-only code, this run's copy of the variables) and
    # disks ordered by bootindex: the key (usb) first, the guest disk next.
    firmware: str = "bios"
    ovmf_vars: Path | None = None


OVMF_DIR = Path("/usr/share/OVMF")
OVMF_CODE = OVMF_DIR / "OVMF_CODE_4M.fd"  # Secure Boot off
OVMF_VARS = OVMF_DIR / "OVMF_VARS_4M.fd"


def ovmf_vars_copy(dest: Path) -> Path:
    """A fresh copy of OVMF's variable store for one run (OVMF writes its boot
    options there)."""
    for f in (OVMF_CODE, OVMF_VARS):
        if not f.exists():
            raise LabError(f"{f} is missing: apt-get install ovmf")
    shutil.copyfile(OVMF_VARS, dest)
    return dest


def command(cfg: Config) -> list[str]:
    """The qemu-system-x86_64 argv for cfg.

    COM1 (0x3f8) = guest console (TCP; QEMU waits for our client so no byte
    is lost), COM2 (0x2f8) = hypervisor control (TCP), COM3 (0x3e8) = the
    hypervisor log (file). With ctrl "net", COM2 is left unconnected and the
    control channel is an e1000 the VMM owns, on a user network whose host
    port ctrl_port is forwarded to the VMM's address (no root, no tap).
    """
    nic = ctrl_nic(cfg.ctrl)
    net = nic is not None
    if cfg.board not in BOARDS:
        raise LabError(f"unknown machine {cfg.board!r}: one of {', '.join(BOARDS)}")
    ctrl_chardev = (
        "null,id=ctrl"
        if net
        else f"socket,id=ctrl,host=127.0.0.1,port={cfg.ctrl_port},server=on,wait=off,nodelay=on"
    )
    argv = [QEMU, "-accel", "tcg", "-cpu", cfg.cpu, "-m", cfg.mem, "-smp", str(cfg.smp)]
    argv += ["-machine", cfg.board, "-nodefaults", "-vga", "std", "-display", "none"]
    argv += ["-no-reboot"]
    disks = [cfg.usb, cfg.guest] if cfg.usb else [cfg.guest]
    if cfg.firmware == "uefi":
        if cfg.ovmf_vars is None:
            raise LabError("a UEFI machine needs its copy of the OVMF variables")
        argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"]
        argv += ["-drive", f"if=pflash,format=raw,unit=1,file={cfg.ovmf_vars}"]
        # OVMF orders its boot options by QEMU's bootorder (bootindex).
        for index, disk in enumerate(disks):
            argv += ["-drive", f"if=none,id=disk{index},file={disk},format=raw,snapshot=on"]
            argv += ["-device", f"ide-hd,drive=disk{index},bootindex={index}"]
    else:
        for index, disk in enumerate(disks):
            argv += ["-drive", f"file={disk},format=raw,if=ide,index={index},snapshot=on"]
    argv += [
        "-chardev", f"socket,id=con,host=127.0.0.1,port={cfg.console_port},server=on,wait=on",
        "-serial", "chardev:con",
        "-chardev", ctrl_chardev,
        "-serial", "chardev:ctrl",
        "-chardev", f"file,id=log,path={cfg.log}",
        "-serial", "chardev:log",
    ]  # fmt: skip
    if cfg.hv and not cfg.usb and cfg.firmware == "bios":
        loader, setup, vmm = cfg.hv
        argv += ["-kernel", str(loader), "-initrd", f"{setup} setup,{vmm} vmm"]
        argv += ["-append", cfg.hv_append]
    if net:
        fwd = f"tcp:127.0.0.1:{cfg.ctrl_port}-{CTRL_NET_IP}:{CTRL_NET_PORT}"
        argv += ["-netdev", f"user,id=ctl,restrict=on,hostfwd={fwd}"]
        argv += ["-device", f"{nic},netdev=ctl"]
    return argv + cfg.extra


def ctrl_nic(ctrl: str) -> str | None:
    """The VMM's NIC model for a control channel: None for "uart", e1000 for
    "net", MODEL for "net:MODEL"; LabError for anything else."""
    if ctrl == "uart":
        return None
    kind, colon, model = ctrl.partition(":")
    if not colon:
        model = CTRL_NICS[0]
    if kind != "net" or model not in CTRL_NICS:
        raise LabError(
            f"unknown control channel {ctrl!r}: uart, net or net:MODEL, "
            f"MODEL one of {', '.join(CTRL_NICS)}"
        )
    return model


def ctrl_net_option(nic: str = CTRL_NICS[0]) -> str:
    """The hv boot option of the lab's network control channel on nic."""
    return f"ctrl=net:{nic},ip={CTRL_NET_IP},port={CTRL_NET_PORT}"


def _socket() -> socket.socket:
    """A TCP socket that may bind a port whose last connection is in TIME-WAIT.

    QEMU closes its connections first when it exits, so its side of each
    lingers in TIME-WAIT for a minute; QEMU's own listeners set SO_REUSEADDR
    and bind through it, and so must every check and listener of ours.
    """
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def check_ports_free(*ports: int) -> None:
    """Raise LabError if one of ports has a listener (QEMU could not listen on it)."""
    for port in ports:
        with _socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                raise LabError(
                    f"TCP port {port} is in use (something listens on it): pick another or omit it"
                ) from None


def free_port() -> int:
    with _socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
