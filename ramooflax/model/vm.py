"""The VM: a session with the VMM's stub and the paper's API on top.

    from ramooflax import VM, CPUFamily, CPUException

    vm = VM(CPUFamily.AMD, "127.0.0.1:1234")     # or "serial:/dev/ttyUSB0"
    vm.attach()                                   # the VM stops (every vCPU)
    print(vm.cpu.gpr)                             # the register table
    for cpu in vm.cpus: print(cpu.index, hex(cpu.sr.cr3))   # every vCPU
    vm.cpu.filter_write_cr(3, lambda vm: vm.event.val == target)
    vm.resume()                                   # runs until a filter says True
    vm.detach()                                   # the VM runs on, filters removed

resume() semantics: the VM runs; at each stop the matching filter (the
breakpoint's, or the event filter for the `rfx` KIND) runs with the VM
stopped. A True verdict gives control back to the user (resume() returns
True); False resumes the VM silently and resume() keeps waiting. A stop no
filter claims (Ctrl-C, a breakpoint without a filter) returns True.
resume(timeout=s) stops the VM itself after s seconds and returns False.

Every core is a vCPU (`vm.cpus`); the stub stops them all before it reports
a stop (all-stop), and `vm.cpu` is the one that stopped, so `vm.event.vcpu`
== `vm.cpu.index`.
"""

import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ramooflax import rsp
from ramooflax.errors import (
    ChannelLost,
    ChannelTimeout,
    ClientError,
    NotAttached,
    NotRunning,
    RamooflaxError,
    StepTimeout,
    VMRunning,
    WrongFamily,
)
from ramooflax.model.cpu import CPU, CPUs
from ramooflax.model.enums import CPUFamily, CPUMode, StopReason
from ramooflax.model.events import Event, event_of
from ramooflax.model.memory import Memory
from ramooflax.session import DEFAULT_TIMEOUT, Session
from ramooflax.tdesc import Layout, TargetDescriptionError, read_target_xml
from ramooflax.transport import Transport, open_transport

MAX_VCPUS = 256  # more than the VMM runs (VM_MAX_VCPUS)
KEEPALIVE_S = 3.0  # the VMM drops a client silent for ctrl_timeout (10 s) while stopped


@dataclass(frozen=True)
class Status:
    """qRfx.Status: mode, exit count, cr3, rip, cpl, LBR and stepping flags.

    `ctrlc_guest_us`: for the last Ctrl-C that stopped the VM, the guest time
    between the VMM's last look at the line that found it quiet and the look
    that found the 0x03 (an upper bound of the stop latency in guest time);
    None before any Ctrl-C, or from a stub that does not report it.
    """

    mode: CPUMode
    exits: int
    cr3: int
    rip: int
    cpl: int
    lbr: bool
    stepping: bool
    ctrlc_guest_us: float | None = None
    threads: int = 1  # the vCPUs of the VM
    thread: int = 1  # the vCPU described (gdb thread id: index + 1)
    stopped: int = 1  # the vCPU that stopped (gdb thread id)
    backend: str | None = None  # the VMM's virtualization backend: "svm" (AMD-V), "vmx" (VT-x)

    @classmethod
    def parse(cls, payload: bytes) -> "Status":
        kv = rsp.parse_pairs(payload)
        return cls(
            CPUMode(kv.get("mode", "real")),
            int(kv.get("exits", "0"), 16),
            int(kv.get("cr3", "0"), 16),
            int(kv.get("rip", "0"), 16),
            int(kv.get("cpl", "0"), 16),
            kv.get("lbr", "0") == "1",
            kv.get("stepping", "0") == "1",
            _ctrlc_us(kv.get("ctrlc"), kv.get("tsc_hz")),
            int(kv.get("threads", "1"), 16),
            int(kv.get("thread", "1"), 16),
            int(kv.get("stopped", kv.get("thread", "1")), 16),
            kv.get("backend"),
        )


# The backend a family's VMM runs (qRfx.Status `backend:`).
BACKEND_OF = {CPUFamily.AMD: "svm", CPUFamily.INTEL: "vmx"}


def _check_backend(session: Session, family: CPUFamily) -> None:
    """Refuses a VM whose VMM runs the other vendor's backend (a stub that does
    not say which is taken at its word)."""
    backend = Status.parse(session.checked("qRfx.Status")).backend
    if backend is None or backend == "unknown" or backend == BACKEND_OF[family]:
        return
    other = {v: k for k, v in BACKEND_OF.items()}.get(backend)
    hint = f"VM(CPUFamily.{other.name}, ...)" if other else "the family of that CPU"
    raise WrongFamily(
        f"the VMM on {session.transport.describe()} runs the {backend} backend, not "
        f"{BACKEND_OF[family]} (CPUFamily.{family.name}): use {hint}"
    )


def _read_layout(session: Session, features: dict[str, str]) -> Layout:
    """The register layout from the stub's target.xml (one read per attach)."""
    if features.get("qXfer:features:read") != "+":
        raise TargetDescriptionError(
            f"the stub on {session.transport.describe()} offers no qXfer:features:read, so it "
            "does not describe its registers: this client needs the Ramooflax VMM's stub"
        )

    def read(annex: str) -> str:
        return read_target_xml(session.request, annex)

    return Layout.from_xml(read("target.xml"), include=read)


def _thread_count(session: Session) -> int:
    """The vCPUs the stub reports (qfThreadInfo, qsThreadInfo...); 1 for a stub without threads."""
    count = 0
    reply = session.request("qfThreadInfo")
    for _ in range(MAX_VCPUS):  # bounded: a stub that never says `l` ends here too
        if not reply.startswith(b"m"):
            break
        count += len([t for t in reply[1:].split(b",") if t])
        reply = session.request("qsThreadInfo")
    return min(max(count, 1), MAX_VCPUS)


def _ctrlc_us(window: str | None, tsc_hz: str | None) -> float | None:
    if window is None or not tsc_hz or int(window, 16) == 0 or int(tsc_hz, 16) == 0:
        return None
    return int(window, 16) * 1e6 / int(tsc_hz, 16)


class VM:
    """A virtual machine under Ramooflax, driven through its control channel."""

    def __init__(
        self,
        family: CPUFamily = CPUFamily.AMD,
        target: str = "127.0.0.1:1234",
        timeout: float = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
        keepalive: float | None = KEEPALIVE_S,
    ) -> None:
        self.family = family
        self.target = target
        self.timeout = timeout
        self.keepalive = keepalive
        self.cpus = CPUs([CPU(self, family)])  # one per vCPU, from the stub at attach
        self._current = 0  # the index of the vCPU that stopped last
        self._gthread: int | None = None  # the stub's Hg thread (index), as we last set it
        self.active_cr3 = 0  # the VM's active cr3 (QRfx.ActiveCr3), 0: each vCPU's own
        self.mem = Memory(lambda: self.session, lambda: self.cpu)
        self.event: Event | None = None
        self.debug = False  # the shell shows full tracebacks when True (ramooflax.shell)
        self._transport = transport
        self._session: Session | None = None
        self._running = False
        # The VM's run clock: seconds between each resume and the stop that
        # follows, as this client sees them (the time the VM ran, plus one
        # packet each way per stop).
        self.run_seconds = 0.0
        self._ran_since: float | None = None
        self._ka_stop = threading.Event()
        self._ka_thread: threading.Thread | None = None

    # -- state ----------------------------------------------------------------
    @property
    def cpu(self) -> CPU:
        """The vCPU that stopped last (at attach: the one the stub reports)."""
        return self.cpus[self._current]

    def select(self, index: int) -> None:
        """Point the stub's register and memory accesses (Hg) at vCPU index."""
        if self._gthread == index:
            return
        if not 0 <= index < len(self.cpus):
            raise ClientError(f"no vCPU {index}: the VM has vCPUs 0 to {len(self.cpus) - 1}")
        self.session.expect_ok(f"Hg{index + 1:x}")
        self._gthread = index

    @property
    def session(self) -> Session:
        if self._session is None:
            raise NotAttached("talking to the VMM")
        return self._session

    @property
    def attached(self) -> bool:
        return self._session is not None

    @property
    def running(self) -> bool:
        return self._running

    def check_stopped(self, what: str = "this") -> None:
        if self._session is None:
            raise NotAttached(what)
        if self._running:
            raise VMRunning(what)

    def __repr__(self) -> str:
        state = "detached" if not self.attached else ("running" if self._running else "stopped")
        return f"<VM {self.family.name} {self.target} {state}>"

    # -- session life ---------------------------------------------------------
    def attach(self) -> "VM":
        """Connect, handshake (qSupported, QStartNoAckMode) and stop the VM.

        The handshake packet itself stops a running VM; `?` then gives the
        stop reply. Returns self, so `with VM(...).attach() as vm:` works.
        """
        if self._session is not None:
            return self
        transport = self._transport or open_transport(self.target)
        session = Session(transport, self.timeout)
        try:
            features = session.handshake()
            stop = rsp.parse_stop(session.checked("?"))
            layout = _read_layout(session, features)
            count = _thread_count(session)
            _check_backend(session, self.family)
        except BaseException:
            session.close()
            raise
        self._session = session
        self._running = False
        first = self.cpus[0]
        self.cpus[1:] = [CPU(self, self.family, i, shared=first) for i in range(1, count)]
        for cpu in self.cpus:
            cpu.layout = layout
            cpu.invalidate()
        self._note_stop(stop)
        ev = event_of(stop)
        self.event = Event(StopReason.ATTACH, ev.kind, ev.args, stop, vcpu=ev.vcpu)
        self._start_keepalive()
        return self

    def detach(self) -> None:
        """Commit pending writes and detach: the VMM removes our breakpoints and filters, the VM runs."""
        s = self._session
        if s is None:
            return
        # The keep-alive stops first: a qRfx.Status sent after the D would
        # reach a running VM as a new client's first packet, and stop it.
        self._ka_stop.set()
        try:
            with s.lock:
                if self._running:
                    self.stop()
                self._commit()
                s.expect_ok("D")
        except ChannelLost:
            pass
        finally:
            self._close()

    def _close(self) -> None:
        self._ka_stop.set()
        if self._session is not None:
            self._session.close()
        self._session = None
        self._running = False
        self._ran_since = None
        self._gthread = None
        self.active_cr3 = 0
        for cpu in self.cpus:
            cpu.forget()

    def reconnect(self) -> None:
        """Reconnect after a lost channel (the VMM dropped our filters: set them again)."""
        self._close()
        self.attach()

    def __enter__(self) -> "VM":  # noqa: PYI034 - attach() returns self
        return self.attach()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.detach()

    # -- running --------------------------------------------------------------
    def stop(self) -> Event:
        """Stop a running VM (0x03); the stop's Event. No filter runs."""
        if self._session is None:
            raise NotAttached("stop()")
        if self._running:
            self._stopped(self.session.interrupt())
        assert self.event is not None
        return self.event

    def cont(self) -> None:
        """Resume without waiting: pending register writes are committed first.

        The VM runs until vm.stop(), or until vm.wait() sees a stop.
        """
        s = self.session
        with s.lock:
            self.check_stopped("resuming")
            self._commit()
            s.resume("c")
            self._running = True
            self._ran_since = time.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running VM to stop, run the matching filter, resume on False.

        True: control is back with the user (a filter said True, a stop no
        filter claims, or Ctrl-C). False: `timeout` seconds passed and the VM
        was stopped by us.
        """
        if not self._running:
            raise NotAttached("wait()") if self._session is None else NotRunning("wait()")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                stop = self.session.wait_stop(left)
            except KeyboardInterrupt:
                self.stop()
                return True
            except ChannelTimeout:
                if deadline is None:
                    raise
                self.stop()
                return False
            self._stopped(stop)
            if self._dispatch():
                return True
            self.cont()

    def resume(self, timeout: float | None = None) -> bool:
        """Continue until a filter gives control back (True) or timeout passes (False)."""
        self.cont()
        return self.wait(timeout)

    def singlestep(self, cpu: CPU | None = None) -> bool:
        """Execute one instruction; with a singlestep filter, step until it returns True.

        The step runs vm.cpu (the vCPU that stopped), or `cpu`; the other
        vCPUs stay where they are. A stop other than the step (a breakpoint,
        a filtered exit) runs its own filter and ends the stepping.
        """
        s = self.session
        while True:
            with s.lock:
                self.check_stopped("singlestep()")
                target = self.cpu if cpu is None else cpu
                self._commit()
                s.resume("s" if target is self.cpu else f"vCont;s:{target.thread:x}")
                self._running = True
                self._ran_since = time.monotonic()
            try:
                stop = s.wait_stop(self.timeout)
            except ChannelTimeout:
                # The VMM still reads the line during a step: 0x03 ends it
                # where it is, and this raises with the VM stopped.
                self.stop()
                raise StepTimeout(self.timeout, self.cpu.gpr.rip) from None
            self._stopped(stop)
            assert self.event is not None
            if self.event.reason is not StopReason.SINGLESTEP:
                self._dispatch()
                return True
            fn = self.cpu.filters.singlestep
            if fn is None or fn(self):
                return True

    def _stopped(self, stop: rsp.StopReply) -> None:
        if self._ran_since is not None:
            self.run_seconds += time.monotonic() - self._ran_since
            self._ran_since = None
        self._running = False
        self._note_stop(stop)
        self.event = event_of(stop)

    def _note_stop(self, stop: rsp.StopReply) -> None:
        """The stopped vCPU becomes vm.cpu, and the stub's Hg thread (it resets it)."""
        for cpu in self.cpus:
            cpu.invalidate()
        tid = stop.thread
        if tid is not None and 1 <= tid <= len(self.cpus):
            self._current = tid - 1
        elif tid is None:
            self._current = 0
        self._gthread = self._current

    def _commit(self) -> None:
        """Every vCPU's pending register writes, then the caches dropped (the VM runs)."""
        for cpu in self.cpus:
            cpu.commit()
        for cpu in self.cpus:
            cpu.invalidate()

    def _linear_pc(self) -> int:
        gpr, sr = self.cpu.gpr, self.cpu.sr
        if (sr.cs_attr >> 9) & 1 or sr.cs_base == 0:  # CS.L: 64-bit code ignores CS.base
            return gpr.rip
        return (sr.cs_base + gpr.rip) & 0xFFFFFFFF

    def _dispatch(self) -> bool:
        """Run the filter for self.event; its verdict (True when nothing claims the stop)."""
        ev = self.event
        assert ev is not None
        fn = None
        if ev.reason is StopReason.EVENT:
            _, fn = self.cpu.filters.match(ev)
        elif ev.reason in (StopReason.BREAKPOINT, StopReason.HW_BREAKPOINT):
            bp = self.cpu.breakpoints.match_insn(
                self._linear_pc(), ev.reason is StopReason.HW_BREAKPOINT
            )
            if bp is not None:
                bp.hits += 1
                ev.breakpoint = bp
                fn = bp.filter
        elif ev.reason is StopReason.WATCHPOINT:
            addr = ev.args.get("addr")
            bp = self.cpu.breakpoints.match_data(addr) if isinstance(addr, int) else None
            if bp is not None:
                bp.hits += 1
                ev.breakpoint = bp
                fn = bp.filter
        if fn is None:
            return True
        return bool(fn(self))

    # -- information ------------------------------------------------------------
    def status(self) -> Status:
        """qRfx.Status of vm.cpu (the vCPU that stopped): mode, exits, cr3, rip, cpl."""
        return self.cpu.status()

    def exits(self) -> str:
        """The VMM's exit counters (qRfx.Exits)."""
        self.check_stopped("exits()")
        return self.session.checked("qRfx.Exits").decode("utf-8", "replace")

    def monitor(self, command: str) -> str:
        """A `monitor` command's output (qRcmd)."""
        self.check_stopped("monitor()")
        return self.session.monitor(command)

    # -- shell ------------------------------------------------------------------
    def interact(self, namespace: dict[str, Any] | None = None, banner: str | None = None) -> None:
        """An interactive shell with `vm` in scope (IPython if installed)."""
        from ramooflax.shell import interact

        interact(self, namespace, banner)

    run = interact  # the paper's name

    # -- keep-alive -------------------------------------------------------------
    def _start_keepalive(self) -> None:
        if self.keepalive is None:
            return
        self._ka_stop = threading.Event()
        self._ka_thread = threading.Thread(
            target=self._keepalive_loop, args=(self._ka_stop,), name="rfx-keepalive", daemon=True
        )
        self._ka_thread.start()

    def _keepalive_loop(self, done: threading.Event) -> None:
        """While stopped and idle, ping the VMM so it does not drop the session."""
        assert self.keepalive is not None
        while not done.wait(min(1.0, self.keepalive / 2)):
            s = self._session
            if s is None or self._running:
                continue
            if time.monotonic() - s.last_activity < self.keepalive:
                continue
            if not s.lock.acquire(blocking=False):
                continue
            try:
                if self._session is s and not self._running and not done.is_set():
                    s.request("qRfx.Status")
            except RamooflaxError as exc:
                print(f"ramooflax: keep-alive failed: {exc}", file=sys.stderr)
                return
            finally:
                s.lock.release()
