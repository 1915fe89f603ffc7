"""A lab machine: one QEMU (or Bochs) process with its console, control
channel and log.

    with Machine(MachineSpec(guest="amd64")) as m:   # starts QEMU
        m.wait_ready()                                 # shell marker on COM1
        status, out = m.run("uname -m")
        print(m.hv_summary())                          # `monitor exits` on COM2

One booted machine serves many commands; stop() powers the guest off.
"""

import base64
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from ramooflax.errors import GuestTimeout, LabError
from ramooflax.lab import bochs, cpustate, guest, hv, paths, qemu
from ramooflax.lab.console import Console, Result, connect
from ramooflax.lab.hvctrl import HvControl
from ramooflax.lab.relay import SerialRelay, listener
from ramooflax.lab.usb import build as build_key
from ramooflax.lab.usb import cached as usb_cached

SHELL_MARKER = guest.READY_MARKER
READY_RE = re.compile(re.escape(SHELL_MARKER) + r"\r?\n")
HV_HALTED = ("loader: halted", "setup: halted", "vmm: halted")
BOCHS_BOOT_TIMEOUT = 900  # seconds: Linux takes 2 to 4 minutes under Bochs on 2 loaded cores


@dataclass
class MachineSpec:
    guest: str = "amd64"  # guest arch
    with_hv: bool = True
    mem: str = "512M"
    smp: int = 2  # cores: real machines have several, so does the lab by default
    cpu: str | None = None  # CPU model; QEMU: +svm,+npt are added; Bochs: bochs.MODELS
    console_port: int | None = None
    ctrl_port: int | None = None
    log: Path | None = None
    usb: Path | None = None  # boot the hv from this image (first disk)
    image: Path | None = None  # guest disk; default: the cached one for `guest`
    build: bool = False  # build the guest image and the hv when missing
    hv_options: str = ""  # extra hv boot options, e.g. "ctrl_wait=1 ctrl_timeout=3"
    gdb_port: int | None = None  # also open QEMU's own gdbstub on 127.0.0.1:N
    # the control channel: "uart" (COM2) or "net[:MODEL]" (a NIC the VMM
    # owns: e1000, e1000e or igb, qemu.CTRL_NICS; "net" is the e1000)
    ctrl: str = "uart"
    board: str = "pc"  # QEMU's -machine: "pc" or "q35" (PCIe, with an ECAM window)
    kernel_package: str | None = None  # NAME[=VERSION] instead of the arch's default kernel
    qemu_args: tuple[str, ...] = ()  # more QEMU arguments: devices, say (-device ...)
    # The line wait_ready() waits for on COM1: the guest shell's by default;
    # another guest (the test kernel) names its own. stop() powers the
    # guest off through its shell only when it is the shell's.
    ready_marker: str = SHELL_MARKER
    # "bios" (SeaBIOS, the hv from multiboot) or "uefi" (OVMF, the hv as
    # ramooflax.efi on a key that boots before the guest disk: docs/uefi.md)
    firmware: str = "bios"
    cpu_minus: str = ""  # features taken off the CPU after +svm,+npt, e.g. "npt"
    # "qemu" (TCG, AMD-V) or "bochs" (Bochs 2.7: VT-x on the Intel models,
    # AMD-V on trinity_apu; the hv then boots from a key, see bochs.py)
    emulator: str = "qemu"


class Machine:
    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.console: Console | None = None
        self.ctrl: HvControl | None = None
        self.config: qemu.Config | bochs.Config | None = None
        self.relay: SerialRelay | None = None  # Bochs: the control line's relay
        self.started_at = 0.0
        self.ready_after: float | None = None
        self.qemu_monitor: Path | None = None

    @property
    def emulator_name(self) -> str:
        return "Bochs" if self.spec.emulator == "bochs" else "QEMU"

    # -- life cycle -------------------------------------------------------
    def _image(self) -> Path:
        s = self.spec
        if s.image is not None:
            image = s.image
        else:
            image = (
                guest.ensure(s.guest, s.kernel_package, s.firmware)
                if s.build
                else guest.find_image(s.guest, s.kernel_package, s.firmware)
            )
        if not image.exists():
            raise LabError(f"guest image {image} does not exist")
        return image

    def _ports(self) -> tuple[int, int]:
        """(console port, control port): the spec's, or free ones."""
        s = self.spec
        if s.console_port and s.ctrl_port and s.console_port == s.ctrl_port:
            raise LabError("--console-port and --ctrl-port must differ")
        console_port = s.console_port or qemu.free_port()
        ctrl_port = s.ctrl_port or qemu.free_port()
        while ctrl_port == console_port:
            ctrl_port = qemu.free_port()
        qemu.check_ports_free(console_port, ctrl_port)
        return console_port, ctrl_port

    def _hv_append(self) -> str:
        """The hv's multiboot command line: the lab's wiring, then the spec's options."""
        s = self.spec
        hv_append = qemu.Config.hv_append
        nic = qemu.ctrl_nic(s.ctrl)
        if nic is not None:
            hv_append = hv_append.replace("ctrl=uart:0x2f8", qemu.ctrl_net_option(nic))
        if s.hv_options:
            if any(opt.startswith("ctrl=") for opt in s.hv_options.split()):
                # the hv takes the first ctrl=: the one given wins
                hv_append = " ".join(w for w in hv_append.split() if not w.startswith("ctrl="))
            hv_append = f"{hv_append} {s.hv_options}"
        return hv_append

    def _config(self) -> qemu.Config:
        s = self.spec
        qemu.version()
        guest.check_firmware(s.firmware, s.guest)
        image = self._image()
        hv_elfs = None
        if s.with_hv and s.usb is None and s.firmware == "bios":
            hv_elfs = hv.ensure()
        if s.usb is not None and not s.usb.exists():
            raise LabError(f"USB image {s.usb} does not exist: run `ramooflax lab usb-image`")
        console_port, ctrl_port = self._ports()
        log = s.log or paths.lab_dir() / f"hv-{s.guest}-{console_port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        extra = ["-gdb", f"tcp:127.0.0.1:{s.gdb_port}"] if s.gdb_port else []
        # QEMU's own monitor, for the CPU states of a hung machine (cpustate.py).
        self.qemu_monitor = log.parent / f"qemu-{console_port}.mon"
        extra += ["-monitor", f"unix:{self.qemu_monitor},server=on,wait=off"]
        extra += list(s.qemu_args)
        hv_append = self._hv_append()
        usb, ovmf_vars = s.usb, None
        if s.firmware == "uefi":
            ovmf_vars = qemu.ovmf_vars_copy(log.parent / f"ovmf-vars-{console_port}.fd")
            if s.with_hv and usb is None:
                options = " ".join(w for w in hv_append.split() if not w.startswith("disk="))
                key = log.parent / f"uefi-key-{console_port}.img"
                usb = build_key(key, options=options)
        return qemu.Config(
            guest=image,
            console_port=console_port,
            ctrl_port=ctrl_port,
            log=log,
            cpu=qemu.cpu_arg(s.cpu) + "".join(f",-{f}" for f in s.cpu_minus.split(",") if f),
            mem=s.mem,
            smp=s.smp,
            hv=hv_elfs,
            usb=usb,
            hv_append=hv_append,
            extra=extra,
            ctrl=s.ctrl,
            board=s.board,
            firmware=s.firmware,
            ovmf_vars=ovmf_vars,
        )

    def _bochs_config(self) -> bochs.Config:
        """The Bochs machine of the spec; LabError for what only QEMU offers."""
        s = self.spec
        bochs.check_installed()
        cpu = bochs.check_cpu(s.cpu or bochs.DEFAULT_CPU)
        qemu_only = {
            "--firmware uefi": s.firmware != "bios",
            "--ctrl net": s.ctrl != "uart",
            "--machine q35": s.board != "pc",
            "a QEMU gdbstub (gdb_port)": s.gdb_port is not None,
            "QEMU arguments": bool(s.qemu_args),
            "CPU features taken off (cpu_minus)": bool(s.cpu_minus),
        }
        for what, asked in qemu_only.items():
            if asked:
                raise LabError(f"{what}: the lab offers it with QEMU only (drop --emulator bochs)")
        megs = bochs.megs(s.mem)
        image = self._image()
        if s.usb is not None and not s.usb.exists():
            raise LabError(f"USB image {s.usb} does not exist: run `ramooflax lab usb-image`")
        usb = s.usb
        if s.with_hv and usb is None:
            # No multiboot loader in Bochs: the hv boots from a key, the guest
            # disk is the next BIOS drive.
            words = [w for w in self._hv_append().split() if not w.startswith("disk=")]
            usb = usb_cached(" ".join(words), "0x81")
        console_port, ctrl_port = self._ports()
        log = s.log or paths.lab_dir() / f"hv-{s.guest}-{console_port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        return bochs.Config(
            guest=image,
            console_port=console_port,
            ctrl_port=ctrl_port,
            ctrl_line_port=0,  # the relay's, known once it listens (start())
            log=log,
            work=log.parent,
            bochs_log=log.parent / f"bochs-{console_port}.log",
            cpu=cpu,
            megs=megs,
            smp=s.smp,
            usb=usb,
        )

    def start(self) -> None:
        """Start the emulator and connect the console (no byte is lost: QEMU
        waits for it, Bochs connects to the lab's listener)."""
        if self.proc is not None:
            raise LabError("this machine is already started")
        if self.spec.emulator == "bochs":
            try:
                self._start_bochs()
            except BaseException:
                self.stop()  # no Bochs, relay or listener left behind
                raise
            return
        if self.spec.emulator != "qemu":
            raise LabError(f"unknown emulator {self.spec.emulator!r}: qemu or bochs")
        self.config = cfg = self._config()
        self.stderr_path = cfg.log.parent / f"qemu-{cfg.console_port}.stderr"
        argv = qemu.command(cfg)
        self.argv = argv
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        self.started_at = time.monotonic()
        try:
            sock = connect(cfg.console_port, 30, self.alive)
        except LabError as exc:
            raise LabError(f"{exc}\n{self._diagnostics()}") from None
        self.console = Console(sock)
        if self.spec.with_hv:
            self.ctrl = HvControl(cfg.ctrl_port)

    def _start_bochs(self) -> None:
        """Listen on the console and control ports, start Bochs, take its COM1
        connection. On an error, start()'s stop() ends Bochs and the relay."""
        cfg = self._bochs_config()
        console_listener = listener(cfg.console_port)
        try:
            self.relay = SerialRelay(cfg.ctrl_port)
            cfg.ctrl_line_port = self.relay.inner_port
            self.config = cfg
            rc = cfg.log.parent / f"bochsrc-{cfg.console_port}"
            rc.write_text(bochs.bochsrc(cfg))
            debugger_rc = cfg.log.parent / f"bochs-{cfg.console_port}.dbgrc"
            debugger_rc.write_text(bochs.DEBUGGER_RC)
            self.stderr_path = cfg.log.parent / f"bochs-{cfg.console_port}.stderr"
            self.argv = bochs.command(rc, debugger_rc)
            with self.stderr_path.open("wb") as err:
                self.proc = bochs.spawn(self.argv, err)
            self.started_at = time.monotonic()
            self.relay.start()
            try:
                sock = bochs.accept(console_listener, 60, self.alive)
            except LabError as exc:
                raise LabError(f"{exc}\n{self._diagnostics()}") from None
        finally:
            console_listener.close()
        self.console = Console(sock)
        if self.spec.with_hv:
            self.ctrl = HvControl(cfg.ctrl_port)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float | None = None) -> float:
        """Wait for the guest's shell marker; return seconds since the emulator
        started. Default timeout: 180 s under QEMU, 900 s under Bochs."""
        if timeout is None:
            timeout = BOCHS_BOOT_TIMEOUT if self.spec.emulator == "bochs" else 180
        con = self._con()
        marker = self.spec.ready_marker
        ready = READY_RE if marker == SHELL_MARKER else re.compile(re.escape(marker))
        deadline = time.monotonic() + timeout
        while True:
            # In slices: a hypervisor that halted (a CPU it refuses, say) ends
            # the wait at once, not at the timeout.
            left = deadline - time.monotonic()
            try:
                con.wait_for(ready, 0, max(0.0, min(left, 2.0)))
                break
            except GuestTimeout as exc:
                halt = self._hv_halted()
                if left > 2.0 and not halt and not con.closed:
                    continue
                why = f"the hypervisor halted: {halt}" if halt else str(exc)
                raise GuestTimeout(
                    f"the guest never printed {marker} ({why}).\n{self._diagnostics()}"
                ) from None
        self.ready_after = time.monotonic() - self.started_at
        return self.ready_after

    def _hv_halted(self) -> str:
        """The hv's error line if its log says it halted, else ""."""
        if not self.spec.with_hv:
            return ""
        log = self.log_text()
        if not any(m in log for m in HV_HALTED):
            return ""
        errors = [x for x in log.splitlines() if "error" in x or "FATAL" in x]
        return errors[0].strip() if errors else "(see its log)"

    def run(
        self, cmd: str, timeout: float = 120, on_output: Callable[[str], None] | None = None
    ) -> Result:
        """Run a shell command in the guest: Result(status, output)."""
        try:
            return self._con().run(cmd, timeout, on_output)
        except GuestTimeout as exc:
            raise GuestTimeout(f"{exc}\n{self._diagnostics(console=False)}") from None

    def run_background(self, cmd: str, timeout: float = 120) -> "Job":
        """Start machine.run(cmd) in a thread; the Job's result() joins it.

        For a guest command that must run while a control client holds the
        VM: the console is another channel, and the command makes progress
        whenever the VM runs."""
        return Job(self, cmd, timeout)

    def put_file(self, path: str, data: bytes, executable: bool = True) -> None:
        """Write data to a guest file through the console (base64 lines: the
        guest has no network). Fine for small programs: about 10 KB/s."""
        text = base64.b64encode(data).decode()
        steps = [f"rm -f {path}.b64"]
        steps += [
            f"printf %s '{text[i : i + 2000]}' >> {path}.b64" for i in range(0, len(text), 2000)
        ]
        steps.append(
            f"base64 -d {path}.b64 > {path} && rm {path}.b64"
            + (f" && chmod +x {path}" if executable else "")
        )
        for step in steps:
            res = self.run(step)
            if res.status != 0:
                raise LabError(
                    f"copying {path} into the guest failed at `{step[:60]}`: {res.output}"
                )

    def hv_summary(self, timeout: float = 20) -> str:
        """The VMM's `monitor exits` text (exit counts and its memory range)."""
        return self.monitor("exits", timeout)

    @property
    def ctrl_held(self) -> bool:
        """True while the lab's own control connection is open: then QEMU gives
        no other client the control port (see free_ctrl_port)."""
        return self.ctrl is not None and self.ctrl.connected

    def free_ctrl_port(self) -> int:
        """The control port, for a client to attach: the lab's own connection
        (used by monitor()) is closed first, as QEMU's TCP chardev serves one
        client at a time; monitor() reconnects when next called."""
        if self.config is None:
            raise LabError("the machine is not started")
        if self.ctrl is not None:
            self.ctrl.close()
        return self.config.ctrl_port

    def monitor(self, command: str, timeout: float = 20) -> str:
        if self.ctrl is None:
            raise LabError("this machine runs without the hypervisor: no control channel")
        if not self.alive():
            raise LabError(f"{self.emulator_name} is not running.\n{self._diagnostics()}")
        try:
            return self.ctrl.monitor(command, timeout)
        except GuestTimeout as exc:
            raise GuestTimeout(f"{exc}\n{self._diagnostics(console=False)}") from None

    def log_text(self) -> str:
        """The hypervisor's log (COM3) so far."""
        if self.config is None:
            return ""
        try:
            return self.config.log.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def console_text(self) -> str:
        return self.console.text if self.console else ""

    def stop(self, timeout: float = 8) -> int | None:
        """Power the guest off (`poweroff -f`), kill the emulator if it lingers; its exit code."""
        if self.proc is None:
            if self.relay is not None:
                self.relay.close()
            return None
        shell = self.spec.ready_marker == SHELL_MARKER
        if self.alive() and self.console is not None and self.ready_after is not None and shell:
            try:
                self.console.send("\npoweroff -f\n")
            except LabError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.console is not None:
            self.console.close()
        if self.ctrl is not None:
            self.ctrl.close()
        if self.relay is not None:
            self.relay.close()
        return self.proc.returncode

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------
    def _con(self) -> Console:
        if self.console is None:
            raise LabError("the machine is not started: call start() first")
        return self.console

    def _diagnostics(self, console: bool = True) -> str:
        parts = []
        if self.proc is not None and self.proc.poll() is not None:
            parts.append(f"{self.emulator_name} exited with status {self.proc.returncode}.")
        try:
            err = self.stderr_path.read_text("utf-8", "replace") if self.config else ""
        except OSError:
            err = ""
        err = "\n".join(x for x in err.splitlines() if "waiting for connection" not in x)
        if isinstance(self.config, bochs.Config):
            # Bochs's stdout is its banner and plugin list; its log says what went wrong.
            err = "\n".join(bochs.problems(err, self.config.bochs_log))
        if err:
            parts.append(f"{self.emulator_name} stderr:\n" + "\n".join(err.splitlines()[-10:]))
        if console and self.console is not None:
            parts.append("last console lines:\n" + (self.console.tail(15) or "(none)"))
        if self.ctrl_held and self.config is not None:
            parts.append(
                f"the lab's own connection holds control port {self.config.ctrl_port}: "
                "another client there gets no reply (Machine.free_ctrl_port() releases it)"
            )
        if self.spec.with_hv and self.config is not None:
            log = self.log_text().strip().splitlines()[-15:]
            parts.append(f"hv log tail ({self.config.log}):\n" + ("\n".join(log) or "(empty)"))
        if self.alive() and self.qemu_monitor is not None:
            vmm = (
                self.config.hv[2]
                if isinstance(self.config, qemu.Config) and self.config.hv
                else None
            )
            states = cpustate.cpu_states(self.qemu_monitor, self.log_text(), vmm)
            parts.append("where the CPUs are (QEMU's monitor):\n" + states)
        return "\n".join(parts)


class Job:
    """A guest command running in a thread (Machine.run_background)."""

    def __init__(self, machine: Machine, cmd: str, timeout: float) -> None:
        self.cmd = cmd
        self.out: Result | None = None
        self.error: BaseException | None = None

        def go() -> None:
            try:
                self.out = machine.run(cmd, timeout)
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self.error = exc

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 120) -> Result:
        """The command's Result, once it ends (its exception if it failed)."""
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        if self.out is None:
            raise GuestTimeout(f"`{self.cmd[:60]}` did not finish within {timeout:.0f} s")
        return self.out
