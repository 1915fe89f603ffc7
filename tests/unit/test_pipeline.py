"""Pipelined physical reads: the chunk the stub's PacketSize allows, several
requests on the line where the stub offers rfx.pipeline, one at a time
otherwise (and in ack mode), and the replies still owed when the caller is
interrupted settled before the next request."""

import pytest
from client_fake import QXFER, STUB_TARGET_XML, FakeStub, f, xfer
from test_client_model import BASE, g_reply

from ramooflax import VM, CPUFamily
from ramooflax.errors import AddressNotMapped
from ramooflax.model.memory import PIPELINE_DEPTH, READ_CHUNK, read_chunk
from ramooflax.session import Session


class CountingStub(FakeStub):
    """Records, at each read of the line, how many requests the client had sent."""

    def __init__(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **k)
        self.sent_at_recv: list[int] = []

    def recv(self, timeout: float) -> bytes:
        self.sent_at_recv.append(len(self.sent))
        return super().recv(timeout)


def phys_read(p: bytes) -> bytes:
    addr, n = (int(x, 16) for x in p.split(b":")[1].split(b","))
    return f(b"b" + bytes((addr + i) & 0xFF for i in range(n)))


def vm_on(features: str, rules: dict[bytes, bytes] | None = None) -> tuple[VM, CountingStub]:
    stub = CountingStub(
        {
            b"qSupported": f(features),
            b"QStartNoAckMode": f("OK"),
            b"?": f("T05"),
            QXFER: xfer(STUB_TARGET_XML),
            b"g": g_reply(BASE),
            b"qRfx.PhysReadBin:": phys_read,
            b"D": f("OK"),
            **(rules or {}),
        }
    )
    vm = VM(CPUFamily.AMD, "fake", timeout=0.5, transport=stub, keepalive=None)
    return vm.attach(), stub


NET = "PacketSize=20000;qXfer:features:read+;QStartNoAckMode+;rfx.pipeline+"
UART = "PacketSize=20000;qXfer:features:read+;QStartNoAckMode+"


@pytest.mark.parametrize(
    ("features", "chunk"),
    [
        ({"PacketSize": "20000"}, 0x1FFF8),
        ({"PacketSize": "4000"}, 0x3FF8),
        ({}, READ_CHUNK),
        ({"PacketSize": "zz"}, READ_CHUNK),
        ({"PacketSize": "10"}, 0x100),
        ({"PacketSize": "ffffffff"}, 0x100000 - 8),
    ],
)
def test_read_chunk_from_packet_size(features: dict[str, str], chunk: int) -> None:
    assert read_chunk(features) == chunk


def test_pread_pipelines_where_the_stub_offers_it() -> None:
    vm, stub = vm_on(NET)
    mark = len(stub.sent)
    stub.sent_at_recv.clear()
    size = 5 * 0x1FFF8 + 7
    data = vm.mem.pread(0x100, size)
    assert data == bytes((0x100 + i) & 0xFF for i in range(size))
    reads = stub.sent[mark:]
    assert reads[0] == b"qRfx.PhysReadBin:100,1fff8" and len(reads) == 6
    assert reads[-1] == b"qRfx.PhysReadBin:%x,7" % (0x100 + 5 * 0x1FFF8)
    # the first reply was read with PIPELINE_DEPTH requests on the line
    assert stub.sent_at_recv[0] - mark == PIPELINE_DEPTH


def test_pread_one_at_a_time_without_the_feature() -> None:
    vm, stub = vm_on(UART)
    mark = len(stub.sent)
    stub.sent_at_recv.clear()
    vm.mem.pread(0, 3 * 0x1FFF8)
    assert [n - mark for n in stub.sent_at_recv] == [1, 2, 3]


def test_pipeline_in_ack_mode_is_one_at_a_time() -> None:
    stub = CountingStub({b"qRfx.PhysReadBin:": phys_read})
    s = Session(stub, timeout=0.5)  # no handshake: ack mode
    got = list(s.pipeline([f"qRfx.PhysReadBin:{a:x},4" for a in range(3)], depth=3))
    assert got == [b"b" + bytes((a + i) & 0xFF for i in range(4)) for a in range(3)]
    assert stub.sent_at_recv[:3] == [1, 2, 3]


def test_a_hole_in_the_middle_raises_with_its_address() -> None:
    vm, _ = vm_on(NET, {b"qRfx.PhysReadBin:1fff8,": f("E14")})
    with pytest.raises(AddressNotMapped, match="0x1fff8"):
        vm.mem.pread(0, 5 * 0x1FFF8, progress=False)
    # the replies still on the line were taken: the next request gets its own
    assert vm.mem.pread(0, 4) == b"\x00\x01\x02\x03"


def test_an_interrupted_pipeline_owes_its_replies() -> None:
    """The caller leaves with requests on the line: their replies are consumed
    before the next request, which gets its own reply."""
    vm, _ = vm_on(NET)
    s = vm._session
    assert s is not None
    replies = s.pipeline((f"qRfx.PhysReadBin:{a:x},4" for a in range(0, 40, 4)), depth=3)
    assert next(replies) == b"b\x00\x01\x02\x03"
    replies.close()  # as a KeyboardInterrupt in the loop would
    assert vm.mem.pread(0x50, 2) == b"\x50\x51"
