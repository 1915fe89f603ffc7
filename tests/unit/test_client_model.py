"""The model with a scripted stub: registers (table, lazy writes), memory,
breakpoints, filters and resume() semantics."""

import pytest
from client_fake import QXFER, STUB_TARGET_XML, FakeStub, f, xfer

from ramooflax import VM, CPUException, CPUFamily, StopReason
from ramooflax.errors import AddressNotMapped, NotAttached, StubError, WrongFamily
from ramooflax.tdesc import Layout

QSUPPORTED = f("PacketSize=4000;qXfer:features:read+;QStartNoAckMode+")
LAYOUT = Layout.from_xml(STUB_TARGET_XML.decode())


def g_reply(values: dict[str, int]) -> bytes:
    out = b"".join(values.get(r.name, 0).to_bytes(r.size, "little") for r in LAYOUT.values)
    return f(out.hex())


BASE = {
    "rax": 0x1122334455667788,
    "rip": 0xFFFFFFFF81000000,
    "eflags": 0x202,
    "cr3": 0x1000,
    "cr0": 0x80050033,
    "cs_attr": 0x29B,
    "lstar": 0xFFFFFFFF82000000,
}


def vm_with(rules: dict[bytes, bytes] | None = None) -> tuple[VM, FakeStub]:
    stub = FakeStub(
        {
            b"qSupported": QSUPPORTED,
            b"QStartNoAckMode": f("OK"),
            b"?": f("T05"),
            QXFER: xfer(STUB_TARGET_XML),
            b"g": g_reply(BASE),
            b"P": f("OK"),
            b"Z": f("OK"),
            b"z": f("OK"),
            b"QRfx.": f("OK"),
            b"D": f("OK"),
            **(rules or {}),
        }
    )
    vm = VM(CPUFamily.AMD, "fake", timeout=0.5, transport=stub, keepalive=None)
    return vm.attach(), stub


def test_parse_g_and_aliases() -> None:
    vm, _ = vm_with()
    assert vm.cpu.gpr.rax == 0x1122334455667788
    assert vm.cpu.gpr.eax == 0x55667788 and vm.cpu.gpr.ax == 0x7788
    assert vm.cpu.gpr.eip == 0x81000000 and vm.cpu.gpr.rflags == 0x202
    assert vm.cpu.sr.cr3 == 0x1000 and vm.cpu.sr.lstar == 0xFFFFFFFF82000000
    with pytest.raises(AttributeError):
        vm.cpu.gpr.cr3  # noqa: B018 - system registers live in sr
    assert "rax = 0x1122334455667788" in repr(vm.cpu.gpr)
    assert "cr3 = 0x0000000000001000" in repr(vm.cpu.sr)


def test_lazy_writes_commit_on_resume() -> None:
    vm, stub = vm_with()
    vm.cpu.gpr.rdi = 0
    vm.cpu.gpr.eax = 0xDEADBEEF  # keeps the upper half
    vm.cpu.sr.cr4 = 0x6F0
    assert not any(p.startswith(b"P") for p in stub.sent), "writes are lazy"
    assert vm.cpu.gpr.rax == 0x11223344DEADBEEF
    assert "*" in vm.cpu.gpr.table()
    stub.rules[b"c"] = f("T02")
    vm.resume()
    ps = [p for p in stub.sent if p.startswith(b"P")]
    assert ps == [b"P0=efbeadde44332211", b"P5=0000000000000000", b"P3c=f006000000000000"]
    assert stub.sent[-1] == b"c" and not vm.cpu.regs.dirty


def test_breakpoints_table_and_filter_verdicts() -> None:
    vm, stub = vm_with()
    hits: list[int] = []

    def fn(vm: VM) -> bool:
        hits.append(vm.cpu.gpr.rip)
        return len(hits) == 2  # the first hit resumes silently

    vm.cpu.breakpoints.add_insn(BASE["rip"], fn, "entry")
    vm.cpu.breakpoints.add_data_w(0x5000, 4, None, "counter")
    assert stub.sent[-2:] == [b"Z0,ffffffff81000000,1", b"Z2,5000,4"]
    listing = repr(vm.cpu.breakpoints)
    assert "entry" in listing and "data-w" in listing
    stub.rules[b"c"] = f("T05swbreak:;")
    assert vm.resume() is True
    assert len(hits) == 2 and stub.sent.count(b"c") == 2
    assert vm.event is not None and vm.event.breakpoint.name == "entry"
    stub.rules[b"c"] = f("T05watch:5002;")
    vm.resume()
    assert vm.event.reason is StopReason.WATCHPOINT and vm.event.breakpoint.name == "counter"
    vm.cpu.breakpoints.remove("counter")
    vm.cpu.breakpoints.remove(BASE["rip"])
    assert stub.sent[-2:] == [b"z2,5000,4", b"z0,ffffffff81000000,1"] and not len(
        vm.cpu.breakpoints
    )


@pytest.mark.parametrize(
    ("install", "packet", "stop", "detail"),
    [
        (
            lambda vm, fn: vm.cpu.filter_write_cr(3, fn),
            b"QRfx.Filter:cr_write,3,1",
            "cr_write,cr=3,val=2000,old=1000",
            ("val", 0x2000),
        ),
        (
            lambda vm, fn: vm.cpu.filter_read_cr(0, fn),
            b"QRfx.Filter:cr_read,0,1",
            "cr_read,cr=0",
            ("cr", 0),
        ),
        (
            lambda vm, fn: vm.cpu.filter_exception(CPUException.page_fault, fn),
            b"QRfx.Filter:excp,e,1",
            "excp,vec=e,err=4,cr2=1234",
            ("cr2", 0x1234),
        ),
        (
            lambda vm, fn: vm.cpu.filter_cpuid(None, fn),
            b"QRfx.Filter:cpuid,all,1",
            "cpuid,leaf=1,sub=0",
            ("leaf", 1),
        ),
        (
            lambda vm, fn: vm.cpu.filter_cpuid(0x40000000, fn),
            b"QRfx.Filter:cpuid,40000000,1",
            "cpuid,leaf=40000000,sub=0",
            ("leaf", 0x40000000),
        ),
        (
            lambda vm, fn: vm.cpu.filter_msr(0x174, fn),
            b"QRfx.Filter:msr,174,1",
            "msr,msr=174,dir=w,val=10",
            ("dir", "w"),
        ),
        (
            lambda vm, fn: vm.cpu.filter_io(0x70, fn),
            b"QRfx.Filter:io,70,1",
            "io,port=70,size=1,dir=out,val=8f",
            ("val", 0x8F),
        ),
        (
            lambda vm, fn: vm.cpu.filter_npf(fn),
            b"QRfx.Filter:npf,1",
            "npf,gpa=1fa00000,dir=w",
            ("gpa", 0x1FA00000),
        ),
    ],
)
def test_event_filters(install, packet: bytes, stop: str, detail: tuple[str, object]) -> None:  # type: ignore[no-untyped-def]
    vm, stub = vm_with()
    seen = []

    def fn(vm: VM) -> bool:
        seen.append(getattr(vm.event, detail[0]))
        return True

    install(vm, fn)
    assert stub.sent[-1] == packet
    stub.rules[b"c"] = f(f"T05rfx:{stop};")
    assert vm.resume() is True
    assert seen == [detail[1]]


def test_unclaimed_event_returns_control() -> None:
    vm, _ = vm_with({b"c": f("T05rfx:cr_write,cr=0,val=1,old=0;")})
    assert vm.resume() is True and vm.event.kind is not None


def test_release_write_cr() -> None:
    vm, stub = vm_with()
    vm.cpu.filter_write_cr(3, lambda vm: True)
    vm.cpu.release_write_cr(3)
    assert stub.sent[-1] == b"QRfx.Filter:cr_write,3,0" and not vm.cpu.filters.table


def test_singlestep_filter_steps_until_true() -> None:
    vm, stub = vm_with({b"s": f("T05")})
    n = []
    vm.cpu.filter_singlestep(lambda vm: (n.append(1), len(n) == 3)[1])
    assert vm.singlestep() is True and stub.sent.count(b"s") == 3


def test_memory_packets_and_errors() -> None:
    vm, stub = vm_with(
        {
            b"qRfx.PhysReadBin:": lambda p: f(b"b" + b"*" * int(p.split(b",")[1], 16)),
            b"qRfx.VirtReadBin:1000,dead0000": f("E14"),
            b"qRfx.VirtReadBin:": lambda p: f(b"b" + bytes(range(int(p.split(b",")[2], 16)))),
            b"qRfx.V2P:1000,ffff0000": f("E14"),
            b"qRfx.V2P:": f("2000"),
            b"M": f("OK"),
        }
    )
    assert vm.mem.pread(0, 0x5000) == b"*" * 0x5000
    reads = [p for p in stub.sent if p.startswith(b"qRfx.PhysReadBin")]
    assert reads == [b"qRfx.PhysReadBin:0,3ff8", b"qRfx.PhysReadBin:3ff8,1008"]
    assert vm.mem.read_dword(0x10) == 0x03020100
    assert vm.mem.read_qword(0x10, cr3=0x9000) == 0x0706050403020100
    assert stub.sent[-1] == b"qRfx.VirtReadBin:9000,10,8"
    with pytest.raises(AddressNotMapped, match="0xdead0000.*cr3 0x1000"):
        vm.mem.vread(0xDEAD0000, 4)
    assert vm.mem.translate(0x400000) == 0x2000
    with pytest.raises(AddressNotMapped):
        vm.mem.translate(0xFFFF0000)
    vm.mem.write_word(0x10, 0xBEEF)
    assert stub.sent[-1] == b"M10,2:efbe"
    vm.mem.pwrite(0x100, b"\x01\x02")
    assert stub.sent[-1] == b"QRfx.PhysWrite:100:0102"


def test_set_active_cr3_routes_virtual_reads() -> None:
    vm, stub = vm_with({b"qRfx.VirtReadBin:": f(b"b\x00")})
    vm.cpu.set_active_cr3(0x7000, keep=True)
    assert stub.sent[-1] == b"QRfx.ActiveCr3:7000,keep"
    vm.mem.read_byte(0x10)
    assert stub.sent[-1] == b"qRfx.VirtReadBin:7000,10,1"


def test_stub_errors_and_detach() -> None:
    vm, stub = vm_with({b"Z1": f("E0e")})
    with pytest.raises(StubError, match="E0e"):
        vm.cpu.breakpoints.add_hw_insn(0x1000)
    assert len(vm.cpu.breakpoints) == 0
    vm.cpu.gpr.rbx = 5
    vm.detach()
    assert stub.sent[-2:] == [b"P1=0500000000000000", b"D"]
    with pytest.raises(NotAttached, match="attach"):
        vm.cpu.gpr.rax  # noqa: B018


def test_context_manager() -> None:
    stub = FakeStub(
        {
            b"qSupported": QSUPPORTED,
            b"QStartNoAckMode": f("OK"),
            b"?": f("T05"),
            b"D": f("OK"),
            QXFER: xfer(STUB_TARGET_XML),
        }
    )
    with VM(CPUFamily.AMD, "fake", transport=stub, keepalive=None) as vm:
        assert vm.attached and vm.event.reason is StopReason.ATTACH
    assert not vm.attached and stub.sent[-1] == b"D"


def test_status_parses_the_ctrl_c_window_in_guest_time() -> None:
    from ramooflax.model.vm import Status

    st = Status.parse(
        b"mode:long;exits:1f;cr3:1000;rip:401000;cpl:3;lbr:0;stepping:0;ctrlc:27100;tsc_hz:9502f900"
    )
    assert st.cpl == 3 and st.exits == 0x1F
    assert st.ctrlc_guest_us == pytest.approx(0x27100 * 1e6 / 2_500_000_000)
    assert Status.parse(b"mode:long;ctrlc:0;tsc_hz:9502f900").ctrlc_guest_us is None
    assert Status.parse(b"mode:real").ctrlc_guest_us is None


def test_wait_on_a_stopped_vm_says_what_to_do() -> None:
    from ramooflax.errors import NotRunning

    vm, _ = vm_with()
    with pytest.raises(NotRunning, match=r"needs the VM running: call vm.cont\(\)"):
        vm.wait()


@pytest.mark.parametrize(
    ("family", "backend", "error"),
    [
        (CPUFamily.AMD, "svm", None),
        (CPUFamily.INTEL, "vmx", None),
        (CPUFamily.AMD, "vmx", "runs the vmx backend, not svm .*CPUFamily.INTEL"),
        (CPUFamily.INTEL, "svm", "runs the svm backend, not vmx .*CPUFamily.AMD"),
        (CPUFamily.INTEL, None, None),  # a stub that does not say: taken at its word
    ],
)
def test_attach_checks_the_backend(
    family: CPUFamily, backend: str | None, error: str | None
) -> None:
    status = "mode:long;exits:2a;threads:1" + (f";backend:{backend}" if backend else "")
    stub = FakeStub(
        {
            b"qSupported": QSUPPORTED,
            b"QStartNoAckMode": f("OK"),
            b"?": f("T05"),
            QXFER: xfer(STUB_TARGET_XML),
            b"qRfx.Status": f(status),
            b"D": f("OK"),
        }
    )
    vm = VM(family, "fake", timeout=0.5, transport=stub, keepalive=None)
    if error:
        with pytest.raises(WrongFamily, match=error):
            vm.attach()
        assert not vm.attached
        return
    vm.attach()
    assert vm.status().backend == backend
    vm.detach()
