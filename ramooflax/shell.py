"""The interactive shell: IPython when installed, else `code.interact` with
readline completion (scapy's `interact()` pattern).

In the shell, `vm` is attached. `vm.resume()` blocks until a filter gives
control back; Ctrl-C there stops the VM (0x03) and returns. Ctrl-D (end of
input) leaves the shell and detaches: the VM runs on.
"""

import code
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

BANNER = """ramooflax shell: `vm` is attached and stopped.
  vm.cpu.gpr / vm.cpu.sr        registers (writes commit on resume)
  vm.mem.vread(addr, n)         memory; vm.cpu.disassemble()
  vm.cpu.filter_write_cr(3, fn) filters; vm.resume() runs (Ctrl-C stops)
  Ctrl-D detaches (the VM runs on)."""


def namespace_for(vm: "VM", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    import ramooflax
    from ramooflax.model import enums

    ns: dict[str, Any] = {"vm": vm, "ramooflax": ramooflax}
    ns.update({n: getattr(enums, n) for n in ("CPUFamily", "CPUException", "CPUMode",
                                               "StopReason", "EventKind")})  # fmt: skip
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
        start_ipython = _ipython()
        if start_ipython is None:
            _plain(ns, text)
        else:
            print(text)
            start_ipython(argv=["--no-banner", "--no-confirm-exit"], user_ns=ns)
    finally:
        vm.detach()


def _ipython() -> Callable[..., Any] | None:
    """IPython's start_ipython, or None when IPython is not installed.

    The plain shell must not run inside the `except ImportError`: every
    traceback in it would show the failed IPython import as its context.
    """
    try:
        from IPython import start_ipython
    except ImportError:
        return None
    return start_ipython


def _plain(ns: dict[str, Any], banner: str) -> None:
    try:
        import readline
        import rlcompleter

        readline.set_completer(rlcompleter.Completer(ns).complete)
        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass
    code.interact(banner=banner, local=ns, exitmsg="detaching")
