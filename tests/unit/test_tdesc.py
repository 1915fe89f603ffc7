"""The register layout comes from the stub's target.xml: the document captured
from the real stub (tests/unit/data/stub-target.xml; tests/lab/test_gdb.py
checks the live stub still sends it) gives the numbers, sizes, g-packet
offsets and views; a missing or malformed document is a clear error."""

import pytest
from client_fake import QXFER, STUB_TARGET_XML, FakeStub, f, xfer

from ramooflax import VM, CPUFamily
from ramooflax.errors import ProtocolError
from ramooflax.session import Session
from ramooflax.tdesc import Layout, TargetDescriptionError, read_target_xml

LAYOUT = Layout.from_xml(STUB_TARGET_XML.decode())


@pytest.mark.parametrize(
    ("name", "num", "size", "offset"),
    [
        ("rax", 0, 8, 0),
        ("rip", 16, 8, 128),
        ("eflags", 17, 4, 136),
        ("gs", 23, 4, 160),
        ("st0", 24, 10, 164),
        ("fop", 39, 4, 272),
        ("xmm0", 40, 16, 276),
        ("mxcsr", 56, 4, 532),
        ("cr0", 57, 8, 536),
        ("efer", 62, 8, 576),
        ("dbgctl", 69, 8, 632),
        ("cs_base", 70, 8, 640),
        ("gs_attr", 87, 4, 732),
        ("gdtr_base", 88, 8, 736),
        ("ldtr", 92, 4, 760),
        ("tr_attr", 99, 4, 796),
        ("kernel_gs_base", 100, 8, 800),
        ("lstar", 102, 8, 816),
        ("sysenter_eip", 107, 8, 856),
        ("pat", 108, 8, 864),
    ],
)
def test_stub_layout(name: str, num: int, size: int, offset: int) -> None:
    r = LAYOUT.by_name[name]
    assert (r.num, r.size, r.offset) == (num, size, offset)


def test_stub_views() -> None:
    assert LAYOUT.architecture == "i386:x86-64"
    assert LAYOUT.g_size == 872  # the stub's `g` reply: 1744 hex digits
    assert LAYOUT.gpr_names[:3] == ["rax", "rbx", "rcx"] and LAYOUT.gpr_names[-6:] == [
        "cs",
        "ss",
        "ds",
        "es",
        "fs",
        "gs",
    ]
    assert len(LAYOUT.gpr_names) == 24
    assert LAYOUT.sr_names[0] == "cr0" and LAYOUT.sr_names[-1] == "pat"
    assert len(LAYOUT.sr_names) == 52
    # The read-only `system` struct (for gdb's `info registers system`) is
    # no value of its own and is not in the `g` packet.
    system = LAYOUT.by_name["system"]
    assert system.num == 109 and not system.scalar and "system" not in LAYOUT.sr_names
    assert LAYOUT.p_packet("cr3", 0x1000) == "P3b=0010000000000000"


def test_parse_g_reads_the_offsets() -> None:
    raw = bytearray(LAYOUT.g_size)
    raw[128:136] = (0xFFFFFFFF81000000).to_bytes(8, "little")
    raw[552:560] = (0x1234000).to_bytes(8, "little")  # cr3: register 59, at 536 + 2 * 8
    values = LAYOUT.parse_g(raw.hex().encode())
    assert values["rip"] == 0xFFFFFFFF81000000 and values["cr3"] == 0x1234000
    with pytest.raises(ProtocolError, match="872"):
        LAYOUT.parse_g(raw[:-8].hex().encode())


def test_xinclude_and_regnum() -> None:
    core = """<feature name="org.gnu.gdb.i386.core"><reg name="rip" bitsize="64" type="code_ptr"/>
        <reg name="eflags" bitsize="32" type="int32"/><reg name="cs" bitsize="32" type="int32"/>
        </feature>"""
    top = """<?xml version="1.0"?><target><architecture>i386:x86-64</architecture>
        <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="core.xml"/>
        <feature name="org.ramooflax.system"><reg name="cr0" bitsize="64" regnum="40"
        group="system"/><reg name="cr3" bitsize="64" group="system"/><reg name="efer"
        bitsize="64" group="system"/><reg name="cs_base" bitsize="64" group="system"/>
        <reg name="cs_attr" bitsize="32" group="system"/></feature></target>"""
    layout = Layout.from_xml(top, include={"core.xml": core}.__getitem__)
    assert [layout.num(n) for n in ("rip", "cs", "cr0", "cr3")] == [0, 2, 40, 41]
    assert layout.by_name["cr0"].offset == 16 and layout.gpr_names == ["rip", "eflags", "cs"]


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<target><feature", "not well-formed XML"),
        ("<feature name='x'/>", "starts with <feature>"),
        ("<target><architecture>i386</architecture></target>", "describes no register"),
        ("<target><feature><reg name='rip' bitsize='0'/></feature></target>", "bad <reg>"),
        (
            "<target><feature><reg name='rip' bitsize='64'/></feature></target>",
            "no register eflags, cs, cr0, cr3, efer, cs_base, cs_attr",
        ),
        (
            "<target><xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='a.xml'/></target>",
            "cannot fetch",
        ),
    ],
)
def test_bad_documents(xml: str, message: str) -> None:
    with pytest.raises(TargetDescriptionError, match=message):
        Layout.from_xml(xml)


def test_read_in_chunks_through_a_session() -> None:
    stub = FakeStub({QXFER: xfer(STUB_TARGET_XML)})
    text = read_target_xml(Session(stub, timeout=0.2).request)
    assert text.encode() == STUB_TARGET_XML
    asked = [p for p in stub.sent if p.startswith(QXFER)]
    assert len(asked) == -(-len(STUB_TARGET_XML) // 0xFF0)  # one packet per chunk


QSUPPORTED = "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+"


@pytest.mark.parametrize(
    ("qsupported", "qxfer", "message"),
    [
        ("PacketSize=4000;QStartNoAckMode+", f(""), "offers no qXfer:features:read"),
        (QSUPPORTED, f(""), "answered qXfer:features:read:target.xml with an empty reply"),
        (QSUPPORTED, f("E00"), "answered qXfer:features:read:target.xml with b'E00'"),
        (QSUPPORTED, xfer(b"<target>"), "not well-formed"),
    ],
)
def test_attach_without_a_usable_description(qsupported: str, qxfer: object, message: str) -> None:
    stub = FakeStub(
        {b"qSupported": f(qsupported), b"QStartNoAckMode": f("OK"), b"?": f("T05"), QXFER: qxfer}  # type: ignore[dict-item]
    )
    vm = VM(CPUFamily.AMD, "fake", timeout=0.5, transport=stub, keepalive=None)
    with pytest.raises(TargetDescriptionError, match=message):
        vm.attach()
    assert not vm.attached and stub.closed
