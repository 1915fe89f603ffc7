"""Where each emulated CPU is, from QEMU's own monitor: for a hung machine.

Every lab machine opens QEMU's human monitor on a Unix socket
(qemu.monitor_args). When a test times out, cpu_states() asks it for the
registers of every CPU (`info registers -a`) and says, for each, whether it
runs the VM or the VMM -- and, in the VMM, in which function (the VMM's ELF
is position independent: its load address comes from the hv log line
"vmm: running at 0x...").
"""

import re
import socket
import subprocess
import time
from pathlib import Path

_CPU = re.compile(r"^CPU#(\d+)", re.MULTILINE)
_RIP = re.compile(r"[RE]IP=([0-9a-f]+)")  # 64-bit or 32-bit QEMU
_HLT = re.compile(r"HLT=(\d)")
_CS = re.compile(r"^CS =([0-9a-f]{4})", re.MULTILINE)
_LOADED = re.compile(r"vmm: running at 0x([0-9a-f]+)")
_PROMPT = b"(qemu) "


def monitor_command(path: Path, command: str, timeout: float = 5) -> str:
    """One command on QEMU's human monitor at the Unix socket `path`: its output."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(_PROMPT) and time.monotonic() < deadline:
            buf += sock.recv(4096)  # the banner, up to the first prompt
        sock.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.endswith(_PROMPT) and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
    text = buf.decode("utf-8", "replace").replace("\r", "")
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # the monitor's line editing
    lines = text.splitlines()
    return "\n".join(lines[1:-1])  # without the echoed command and the prompt


def _symbols(elf: Path) -> list[tuple[int, str]]:
    try:
        out = subprocess.run(
            ["nm", "-n", str(elf)], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    syms = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            syms.append((int(parts[0], 16), parts[2]))
    return syms


def _where(rip: int, base: int | None, size: int, syms: list[tuple[int, str]]) -> str:
    if base is None or not base <= rip < base + size:
        return "in the VM"
    off = rip - base
    name = next((f"{n}+{off - a:#x}" for a, n in reversed(syms) if a <= off), f"+{off:#x}")
    return f"in the VMM at {name}"


def cpu_states(monitor: Path, hv_log: str, vmm_elf: Path | None) -> str:
    """One line per CPU: its RIP, whether it is halted, VM or VMM."""
    try:
        regs = monitor_command(monitor, "info registers -a")
    except OSError as exc:
        return f"(QEMU's monitor at {monitor} did not answer: {exc})"
    loaded = _LOADED.findall(hv_log)
    base = int(loaded[-1], 16) if loaded else None
    syms = _symbols(vmm_elf) if vmm_elf is not None and vmm_elf.exists() else []
    size = vmm_elf.stat().st_size if vmm_elf is not None and vmm_elf.exists() else 0
    lines = []
    blocks = _CPU.split(regs)[1:]
    for cpu, block in zip(blocks[::2], blocks[1::2], strict=False):
        rip, hlt, cs = _RIP.search(block), _HLT.search(block), _CS.search(block)
        if rip is None:
            continue
        addr = int(rip.group(1), 16)
        state = "halted" if hlt and hlt.group(1) == "1" else "running"
        seg = f"cs {cs.group(1)} " if cs else ""
        lines.append(f"CPU {cpu}: {state}, {seg}rip {addr:#x} {_where(addr, base, size, syms)}")
    return "\n".join(lines) or f"(no registers in the monitor's answer: {regs[:200]!r})"
