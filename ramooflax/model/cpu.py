"""The VM's CPU: registers (`gpr`, `sr`), breakpoints, event filters, the
active cr3, LBR and disassembly.

    vm.cpu.gpr.rip ; vm.cpu.gpr.eax = 0          # lazy: committed on resume
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
from ramooflax.model.registers import RegisterFile, RegisterView
from ramooflax.tdesc import Layout

if TYPE_CHECKING:
    from ramooflax.model.vm import VM


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
    """One virtual CPU of the VM (the VMM runs one)."""

    def __init__(self, vm: "VM", family: CPUFamily) -> None:
        self._vm = vm
        self.family = family
        self.layout: Layout | None = None  # the stub's target.xml, read at attach
        self.regs = RegisterFile(self._layout, self._fetch_regs, self.check_stopped)
        self.gpr = RegisterView(self.regs, lambda lay: lay.gpr_names, "gpr")
        self.sr = RegisterView(self.regs, lambda lay: lay.sr_names, "sr")
        self.breakpoints = Breakpoints(self._z_packet)
        self.filters = Filters()
        self.active_cr3 = 0

    # -- plumbing -----------------------------------------------------------
    def check_stopped(self, what: str) -> None:
        self._vm.check_stopped(what)

    def _layout(self) -> Layout:
        if self.layout is None:
            raise NotAttached("the register layout")
        return self.layout

    def _fetch_regs(self) -> dict[str, int]:
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
        for packet in self.regs.take_dirty():
            self._vm.session.expect_ok(packet)

    def invalidate(self) -> None:
        self.regs.invalidate()

    def forget(self) -> None:
        """Drop client state after a detach (the VMM dropped its side)."""
        self.regs.invalidate()
        self.regs.dirty.clear()
        self.breakpoints.forget_all()
        self.filters.clear()
        self.active_cr3 = 0
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
    def set_active_cr3(self, cr3: int, keep: bool = False) -> None:
        """Make vm.mem's virtual accesses (and m/M packets) go through cr3; 0 clears.

        keep=True keeps it on the VMM's side across a detach.
        """
        self.check_stopped("setting the active cr3")
        self._vm.session.expect_ok(f"QRfx.ActiveCr3:{cr3:x}" + (",keep" if keep else ""))
        self.active_cr3 = cr3

    def set_step_mode(self, cr3: int | None = None) -> None:
        """Single-steps step everything (None) or only one process's ring 3 (its cr3)."""
        packet = "QRfx.Step:global" if cr3 is None else f"QRfx.Step:cr3,{cr3:x}"
        self._vm.session.expect_ok(packet)

    @property
    def mode(self) -> CPUMode:
        return self._vm.status().mode

    def lbr_enable(self, on: bool = True) -> None:
        self._vm.session.expect_ok(f"QRfx.Lbr:{1 if on else 0}")

    @property
    def lbr(self) -> tuple[int, int, int, int]:
        """(from, to, exception from, exception to), with LBR enabled (QRfx.Lbr:1)."""
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
        first = self._vm.mem.vread(addr, min(size, page_end - addr), cr3)
        if len(first) >= size:
            return first
        try:
            return first + self._vm.mem.vread(page_end, size - len(first), cr3)
        except AddressNotMapped:
            return first
