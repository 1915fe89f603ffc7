"""`ramooflax lab run`: boot a lab machine, then run one command or bridge a terminal."""

import os
import select
import sys
import termios
import tty

from ramooflax.lab import bochs
from ramooflax.lab.machine import Machine, MachineSpec
from ramooflax.lab.progress import say

QUIT_KEY = 0x1D  # Ctrl-]


def run_command(spec: MachineSpec, cmd: str, timeout: float) -> int:
    """Boot, run cmd streaming its output to stdout, print the hv summary; its status."""
    machine = Machine(spec)
    try:
        _boot(machine)
        result = machine.run(cmd, timeout, on_output=_write_stdout)
        if result.output and not result.output.endswith("\n"):
            _write_stdout("\n")
        if spec.with_hv:
            say("hv", "exit summary (monitor exits):")
            sys.stdout.write(machine.hv_summary())
            sys.stdout.flush()
        return result.status
    finally:
        machine.stop()


def interactive(spec: MachineSpec) -> int:
    """Bridge this terminal to the guest console until Ctrl-] (or EOF on stdin)."""
    machine = Machine(spec)
    try:
        machine.start()
        assert machine.console is not None
        say("lab", "console attached; press Ctrl-] to quit (the guest is then powered off)")
        assert machine.config is not None
        if isinstance(machine.config, bochs.Config):
            say("lab", f"Bochs log: {machine.config.bochs_log}")
        if "ctrl_wait=1" in spec.hv_options.split():
            say(
                "lab",
                f"the VM waits at its first instruction for a control client on "
                f"127.0.0.1:{machine.config.ctrl_port} (ctrl_wait=1)",
            )
        machine.console.tee = _write_raw
        _bridge(machine)
        return 0
    finally:
        say("lab", "powering off")
        machine.stop()


def _bridge(machine: Machine) -> None:
    console = machine.console
    assert console is not None
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    echo_on = False
    try:
        if saved is not None:
            tty.setraw(fd)
        while machine.alive() and not console.closed:
            waiting = not echo_on and machine.ready_after is None
            if waiting and "RAMOOFLAX-GUEST-READY" in console.text:
                machine.ready_after = 0.0
                console.send("stty echo; PS1='guest# '\n")
                echo_on = True
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 1024)
            if not data or QUIT_KEY in data:
                data = data.split(bytes((QUIT_KEY,)))[0]
                if data:
                    console.send(data)
                return
            console.send(data)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        print(file=sys.stderr)


def _boot(machine: Machine) -> None:
    spec = machine.spec
    how = "under the hypervisor" if spec.with_hv else "without the hypervisor"
    how += f" (from USB image {spec.usb})" if spec.usb else ""
    if spec.emulator == "bochs":
        how += f" in Bochs ({spec.cpu or bochs.DEFAULT_CPU}; Linux takes minutes there)"
    say("lab", f"booting the {spec.guest} guest {how} ...")
    machine.start()
    assert machine.config is not None
    if spec.with_hv:
        say("lab", f"hv log: {machine.config.log}; control port {machine.config.ctrl_port}")
    if isinstance(machine.config, bochs.Config):
        say("lab", f"Bochs log: {machine.config.bochs_log}")
    seconds = machine.wait_ready()
    say("lab", f"guest shell ready after {seconds:.1f} s")


def _write_raw(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
