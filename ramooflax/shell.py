"""The interactive shell: IPython when installed, else `code.interact` with
readline completion (scapy's `interact()` pattern).

In the shell, `vm` is attached. `vm.resume()` blocks until a filter gives
control back; Ctrl-C there stops the VM (0x03) and returns. Ctrl-D (end of
input) leaves the shell and detaches: the VM runs on.

An error shows its last line only (`VMRunning: wait() ... call vm.stop()
first`): the message says what to do, and a traceback through the client's
internals would bury it. `vm.debug = True` shows full tracebacks in both
shells; in IPython `%xmode Context` (or Verbose) does too, and `%xmode
Minimal` goes back.
"""

import code
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

BANNER = """ramooflax shell: `vm` is attached and stopped.
  vm.cpu.gpr / vm.cpu.sr        registers (writes commit on resume)
  vm.mem.vread(addr, n)         memory; vm.cpu.disassemble()
  vm.cpu.filter_write_cr(3, fn) filters; vm.resume() runs (Ctrl-C stops)
  errors show their last line; vm.debug = True shows tracebacks
  Ctrl-D detaches (the VM runs on)."""


def namespace_for(vm: "VM", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    import ramooflax
    from ramooflax.model import enums

    ns: dict[str, Any] = {"vm": vm, "ramooflax": ramooflax}
    names = ("CPUFamily", "CPUException", "CPUMode", "StopReason", "EventKind")
    ns.update({n: getattr(enums, n) for n in names})
    if extra:
        ns.update(extra)
    return ns


def interact(vm: "VM", namespace: dict[str, Any] | None = None, banner: str | None = None) -> None:
    """Open the shell with vm attached; detach when it ends."""
    if not vm.attached:
        vm.attach()
    ns = namespace_for(vm, namespace)
    text = banner if banner is not None else BANNER
    try:
        ipython = _ipython()
        if ipython is None:
            Console(vm, ns).interact(banner=text, exitmsg="detaching")
        else:
            print(text)
            ipython(vm, ns)
    finally:
        vm.detach()


def _ipython() -> Callable[["VM", dict[str, Any]], None] | None:
    """The IPython shell's runner, or None when IPython is not installed.

    The plain shell must not run inside the `except ImportError`: every
    traceback in it would show the failed IPython import as its context.
    """
    try:
        from IPython.terminal.ipapp import TerminalIPythonApp
    except ImportError:
        return None

    def run(vm: "VM", ns: dict[str, Any]) -> None:
        app: Any = TerminalIPythonApp.instance(user_ns=ns)  # IPython is untyped here
        app.initialize(["--no-banner", "--no-confirm-exit", "--InteractiveShell.xmode=Minimal"])
        shell = app.shell
        debug = [vm.debug]

        def follow_debug(*_: object) -> None:
            # vm.debug flips the traceback mode; %xmode stays the user's to set.
            if vm.debug != debug[0]:
                debug[0] = vm.debug
                shell.InteractiveTB.set_mode("Context" if vm.debug else "Minimal")

        shell.events.register("pre_run_cell", follow_debug)
        try:
            app.start()
        finally:
            TerminalIPythonApp.clear_instance()

    return run


class Console(code.InteractiveConsole):
    """`code.interact` with completion, and one-line errors unless vm.debug."""

    def __init__(self, vm: "VM", ns: dict[str, Any]) -> None:
        super().__init__(locals=ns)
        self.vm = vm
        try:
            import readline
            import rlcompleter

            readline.set_completer(rlcompleter.Completer(ns).complete)
            readline.parse_and_bind("tab: complete")
        except ImportError:
            pass

    def showtraceback(self) -> None:
        if self.vm.debug:
            super().showtraceback()
            return
        etype, value, tb = sys.exc_info()
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
        # As IPython's Minimal mode: `Name: message`, without the module path.
        last = traceback.format_exception_only(etype, value)[-1]
        if etype is not None:
            last = last.replace(f"{etype.__module__}.{etype.__qualname__}", etype.__qualname__, 1)
        self.write(last)
