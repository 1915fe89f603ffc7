"""The VM's CPUs: registers (`gpr`, `sr`), breakpoints, event filters, the
active cr3, LBR and disassembly.

Each core of the machine is one vCPU (a gdb thread of the stub). `vm.cpus`
lists them; `vm.cpu` is the one that stopped last, so one-core scripts read
the same. Registers are per vCPU; breakpoints, filters and the active cr3
are the VM's (the VMM applies them on every vCPU), so any vCPU's
`filter_*`/`breakpoints` set them for all.

    vm.cpu.gpr.rip ; vm.cpu.gpr.eax = 0          # lazy: committed on resume
    vm.cpus[2].sr.cr3                             # another vCPU (Hg3, then g)
    vm.cpu.sr.cr3
    vm.cpu.filter_write_cr(3, fn)                 # QRfx.Filter:cr_write,3,1
    vm.cpu.filter_exception(CPUException.page_fault, fn)
    vm.cpu.breakpoints.add_insn(addr, fn, "name")
    vm.cpu.disassemble(vm.cpu.gpr.rip, 5)
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ramooflax.errors import ClientError, NotAttached, StubError
from ramooflax.model.breakpoints import Breakpoints
from ramooflax.model.enums import CPUException, CPUFamily, CPUMode, EventKind
from ramooflax.model.events import Filter, Filters, filter_packet
from ramooflax.model.memory import Memory
from ramooflax.model.registers import RegisterFile, RegisterView
from ramooflax.tdesc import Layout

if TYPE_CHECKING:
    from ramooflax.model.vm import VM, Status


@dataclass(frozen=True)
class Instruction:
    address: int
    bytes: bytes
    mnemonic: str
    op_str: str

    def __str__(self) -> str:
        return f"0x{self.address:x}: {self.bytes.hex():<20} {self.mnemonic} {self.op_str}".rstrip()


class Disassembly(list[Instruction]):
    """A list of Instructions that prints as a listing."""

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self)

    def __repr__(self) -> str:
        return str(self)


class CPU:
    """One virtual CPU of the VM: vm.cpus[index], gdb thread index + 1.

    `breakpoints` and `filters` are the VM's, shared by every vCPU (pass the
    first vCPU's to the others).
    """

    def __init__(
        self,
        vm: "VM",
        family: CPUFamily,
        index: int = 0,
        shared: "CPU | None" = None,
    ) -> None:
        self._vm = vm
        self.family = family
        self.index = index
        self.layout: Layout | None = None  # the stub's target.xml, read at attach
        self.regs = RegisterFile(self._layout, self._fetch_regs, self.check_stopped)
        self.gpr = RegisterView(self.regs, lambda lay: lay.gpr_names, "gpr")
        self.sr = RegisterView(self.regs, lambda lay: lay.sr_names, "sr")
        self.mem = Memory(lambda: self._vm.session, lambda: self)  # through this vCPU
        if shared is None:
            self.breakpoints = Breakpoints(self._z_packet)
            self.filters = Filters()
        else:
            self.breakpoints = shared.breakpoints
            self.filters = shared.filters

    @property
    def thread(self) -> int:
        """The stub's (gdb's) thread id of this vCPU."""
        return self.index + 1

    def __repr__(self) -> str:
        return f"<CPU {self.index} of {len(self._vm.cpus)}>"

    # -- plumbing -----------------------------------------------------------
    def check_stopped(self, what: str) -> None:
        self._vm.check_stopped(what)

    def select(self) -> None:
        """Make this vCPU the stub's register and memory thread (Hg), if it is not."""
        self._vm.select(self.index)

    def _layout(self) -> Layout:
        if self.layout is None:
            raise NotAttached("the register layout")
        return self.layout

    def _fetch_regs(self) -> dict[str, int]:
        self.select()
        return self._layout().parse_g(self._vm.session.checked("g"))

    def _z_packet(self, packet: str) -> None:
        self.check_stopped("changing breakpoints")
        try:
            self._vm.session.expect_ok(packet)
        except StubError as exc:
            raise StubError(
                exc.request,
                exc.reply + " (no free debug register, or the address does not translate)",
            ) from None

    def commit(self) -> None:
        """Send the pending register writes (P packets). The VM calls it before it runs."""
        packets = self.regs.take_dirty()
        if packets:
            self.select()
        for packet in packets:
            self._vm.session.expect_ok(packet)

    def invalidate(self) -> None:
        self.regs.invalidate()

    def forget(self) -> None:
        """Drop client state after a detach (the VMM dropped its side)."""
        self.regs.invalidate()
        self.regs.dirty.clear()
        self.breakpoints.forget_all()
        self.filters.clear()
        self.layout = None

    # -- filters --------------------------------------------------------------
    def _filter(
        self, kind: EventKind, key: int | None, arg: str | None, fn: Filter | None, on: bool
    ) -> None:
        self.check_stopped("changing filters")
        self._vm.session.expect_ok(filter_packet(kind.value, arg, on))
        if on:
            self.filters.set(kind, key, fn)
        else:
            self.filters.remove(kind, key)

    def filter_write_cr(self, n: int, fn: Filter | None = None) -> None:
        """Stop on writes to CRn (0, 3 or 4); fn(vm) sees vm.event.val / .old."""
        self._filter(EventKind.CR_WRITE, n, f"{n:x}", fn, True)

    def release_write_cr(self, n: int) -> None:
        self._filter(EventKind.CR_WRITE, n, f"{n:x}", None, False)

    def filter_read_cr(self, n: int, fn: Filter | None = None) -> None:
        """Stop on reads of CRn (0, 2, 3, 4); under QEMU 10's TCG only CR0 reads exit."""
        self._filter(EventKind.CR_READ, n, f"{n:x}", fn, True)

    def release_read_cr(self, n: int) -> None:
        self._filter(EventKind.CR_READ, n, f"{n:x}", None, False)

    def filter_exception(self, vector: CPUException | int, fn: Filter | None = None) -> None:
        """Stop on an exception vector; fn sees vm.event.vec / .err / .cr2 (#PF)."""
        self._filter(EventKind.EXCEPTION, int(vector), f"{int(vector):x}", fn, True)

    def release_exception(self, vector: CPUException | int) -> None:
        self._filter(EventKind.EXCEPTION, int(vector), f"{int(vector):x}", None, False)

    def filter_cpuid(self, leaf: int | None = None, fn: Filter | None = None) -> None:
        """Stop on CPUID of one leaf (None: every leaf); fn sees .leaf / .sub."""
        self._filter(EventKind.CPUID, leaf, "all" if leaf is None else f"{leaf:x}", fn, True)

    def release_cpuid(self, leaf: int | None = None) -> None:
        self._filter(EventKind.CPUID, leaf, "all" if leaf is None else f"{leaf:x}", None, False)

    def filter_msr(self, msr: int, fn: Filter | None = None) -> None:
        """Stop on RDMSR/WRMSR of msr; fn sees .msr / .dir ('r'/'w') / .val."""
        self._filter(EventKind.MSR, msr, f"{msr:x}", fn, True)

    def release_msr(self, msr: int) -> None:
        self._filter(EventKind.MSR, msr, f"{msr:x}", None, False)

    def filter_io(self, port: int, fn: Filter | None = None) -> None:
        """Stop on IN/OUT to port; fn sees .port / .size / .dir ('in'/'out') / .val."""
        self._filter(EventKind.IO, port, f"{port:x}", fn, True)

    def release_io(self, port: int) -> None:
        self._filter(EventKind.IO, port, f"{port:x}", None, False)

    def filter_intn(self, vector: int, fn: Filter | None = None) -> None:
        """Stop on INT n in real mode; fn sees .vec."""
        self._filter(EventKind.INTN, vector, f"{vector:x}", fn, True)

    def release_intn(self, vector: int) -> None:
        self._filter(EventKind.INTN, vector, f"{vector:x}", None, False)

    def filter_npf(self, fn: Filter | None = None) -> None:
        """Stop on nested page faults the VMM sees (the VM touching hidden memory)."""
        self._filter(EventKind.NPF, None, None, fn, True)

    def release_npf(self) -> None:
        self._filter(EventKind.NPF, None, None, None, False)

    def filter_singlestep(self, fn: Filter | None) -> None:
        """Run fn after each vm.singlestep(); while it returns False the VM steps again."""
        self.filters.singlestep = fn

    def release_singlestep(self) -> None:
        self.filters.singlestep = None

    # -- address space, LBR, disassembly --------------------------------------
    @property
    def active_cr3(self) -> int:
        """The cr3 virtual accesses use (the VM's, for every vCPU); 0: each vCPU's own."""
        return self._vm.active_cr3

    def set_active_cr3(self, cr3: int, keep: bool = False) -> None:
        """Make vm.mem's virtual accesses (and m/M packets) go through cr3; 0 clears.

        keep=True keeps it on the VMM's side across a detach.
        """
        self.check_stopped("setting the active cr3")
        self._vm.session.expect_ok(f"QRfx.ActiveCr3:{cr3:x}" + (",keep" if keep else ""))
        self._vm.active_cr3 = cr3

    def set_step_mode(self, cr3: int | None = None) -> None:
        """Single-steps step everything (None) or only one process's ring 3 (its cr3)."""
        packet = "QRfx.Step:global" if cr3 is None else f"QRfx.Step:cr3,{cr3:x}"
        self._vm.session.expect_ok(packet)

    def status(self) -> "Status":
        """qRfx.Status of this vCPU: its mode, exits, cr3, rip, cpl."""
        from ramooflax.model.vm import Status

        self.check_stopped("status()")
        self.select()
        return Status.parse(self._vm.session.checked("qRfx.Status"))

    @property
    def mode(self) -> CPUMode:
        return self.status().mode

    def describe(self) -> str:
        """The stub's one line on this vCPU (qThreadExtraInfo), e.g. 'CPU 1: long mode, ring 3'."""
        self.check_stopped("describing a vCPU")
        reply = self._vm.session.checked(f"qThreadExtraInfo,{self.thread:x}")
        return bytes.fromhex(reply.decode()).decode("utf-8", "replace")

    def singlestep(self) -> bool:
        """Execute one instruction on this vCPU alone (the others stay stopped)."""
        return self._vm.singlestep(self)

    def lbr_enable(self, on: bool = True) -> None:
        self.select()
        self._vm.session.expect_ok(f"QRfx.Lbr:{1 if on else 0}")

    @property
    def lbr(self) -> tuple[int, int, int, int]:
        """(from, to, exception from, exception to), with LBR enabled (QRfx.Lbr:1)."""
        self.select()
        reply = self._vm.session.checked("qRfx.Lbr")
        a, b, c, d = (int(x, 16) for x in reply.decode().split(","))
        return a, b, c, d

    def disassemble(
        self, addr: int | None = None, n: int = 10, bits: int | None = None, cr3: int | None = None
    ) -> Disassembly:
        """n instructions at addr (default rip) with Capstone, in the VM's code size."""
        try:
            import capstone  # type: ignore[import-untyped]
        except ImportError:
            raise ClientError("disassembly needs Capstone: pip install capstone") from None
        if bits is None:
            bits = self.mode.bits
        if addr is None:
            addr = self.gpr.rip if bits == 64 else (self.sr.cs_base + self.gpr.eip)
        modes = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}
        md = capstone.Cs(capstone.CS_ARCH_X86, modes[bits])
        code = self._read_code(addr, 16 * n, cr3)
        out = Disassembly()
        for insn in md.disasm(code, addr):
            out.append(Instruction(insn.address, bytes(insn.bytes), insn.mnemonic, insn.op_str))
            if len(out) == n:
                break
        return out

    def _read_code(self, addr: int, size: int, cr3: int | None) -> bytes:
        from ramooflax.errors import AddressNotMapped

        page_end = (addr | 0xFFF) + 1
        first = self.mem.vread(addr, min(size, page_end - addr), cr3)
        if len(first) >= size:
            return first
        try:
            return first + self.mem.vread(page_end, size - len(first), cr3)
        except AddressNotMapped:
            return first


class CPUs(list[CPU]):
    """vm.cpus: the VM's vCPUs, index = position; prints one line per vCPU."""

    def table(self) -> str:
        """One line per vCPU from the stub (qThreadExtraInfo): mode, ring, cr3, rip."""
        if not self:
            return "no vCPU"
        vm = self[0]._vm
        if not vm.attached or vm.running:
            return "\n".join(repr(cpu) for cpu in self)
        mark = vm.cpu.index
        return "\n".join(("* " if c.index == mark else "  ") + c.describe() for c in self)

    def sr_table(self) -> str:
        """The system registers of every vCPU side by side: one row per register."""
        if not self:
            return "no vCPU"
        values = [cpu.sr.as_dict() for cpu in self]
        layout = self[0]._layout()
        head = f"{'':>14}  " + "  ".join(f"{'vCPU ' + str(c.index):<18}" for c in self)
        rows = [head.rstrip()]
        for name in values[0]:
            width = 2 * layout.by_name[name].size
            cells = "  ".join(f"0x{v[name]:0{width}x}".ljust(18) for v in values)
            rows.append(f"{name:>14}  {cells}".rstrip())
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        try:
            return self.table()
        except Exception as exc:  # noqa: BLE001 - a repr must not raise (the shell calls it)
            return f"<vCPUs: {exc}>"
