"""An RSP relay between gdb (stdin/stdout) and the VMM's stub (any transport).

    target remote | python -m ramooflax.gdb.proxy 127.0.0.1:1234

gdb talks to the relay as to a stub; the relay talks to the VMM with a
ramooflax Session (acks, no-ack mode, console output, resends) and passes
every packet through, with three changes:

* the program counter: outside 64-bit code the stub reports `rip` as IP
  (or EIP), while breakpoints and memory packets take linear addresses.
  In `g` and `p` replies the relay puts CS.base + IP in `rip`, and takes it
  back out of `P`/`G` writes, so gdb's `$pc` is the linear address there
  (docs/gdb.md). A stub that offers `QRfx.LinearPc+` in qSupported does it
  itself (the relay then asks it to and changes nothing);
* keep-alive: while the VM is stopped and gdb is quiet, a `qRfx.Status`
  every few seconds keeps the VMM from dropping the session;
* `monitor` output arrives whole, as `O` packets followed by `OK`.

The register layout (where `rip`, `cs_base` and the mode registers sit in
the `g` packet) comes from the stub's target.xml (ramooflax.tdesc).
"""

import os
import queue
import signal
import sys
import threading
import time
from typing import BinaryIO

from ramooflax import rsp, x86mode
from ramooflax.errors import ChannelLost, RamooflaxError, StubError
from ramooflax.session import Session
from ramooflax.tdesc import Layout, read_target_xml
from ramooflax.transport import open_transport

KEEPALIVE_S = 1.0  # well inside the VMM's ctrl_timeout (10 s by default, 3 s in tests)
MODE_REGS = ("cr0", "efer", "eflags", "cs_attr", "cs_base")


def _resumes(packet: bytes) -> bool:
    if packet.startswith(b"vCont;"):
        return True
    return packet[:1] in (b"c", b"s", b"C", b"S") and not packet.startswith(b"qC")


class Relay:
    """One gdb connection to one VMM session."""

    def __init__(self, session: Session, gdb_in: BinaryIO, gdb_out: BinaryIO) -> None:
        self.session = session
        self.gdb_in = gdb_in
        self.gdb_out = gdb_out
        self.gdb_ack = True  # gdb starts in ack mode, until QStartNoAckMode
        self.last_reply = b""
        self.events: queue.Queue[rsp.Event | None] = queue.Queue()
        self.layout: Layout | None = None
        self.rewrite = True
        self.state: dict[str, int] | None = None  # MODE_REGS at this stop
        session.on_console = self._console

    # -- the gdb side -------------------------------------------------------
    def _read_gdb(self) -> None:
        parser = rsp.PacketParser()
        fd = self.gdb_in.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                self.events.put(None)
                return
            for ev in parser.feed(data):
                self.events.put(ev)

    def _to_gdb(self, payload: bytes) -> None:
        self.last_reply = payload
        self.gdb_out.write(rsp.frame(payload))
        self.gdb_out.flush()

    def _console(self, text: bytes) -> None:
        self.gdb_out.write(rsp.frame(b"O" + text.hex().encode()))
        self.gdb_out.flush()

    # -- the program counter ---------------------------------------------------
    def _mode(self) -> dict[str, int]:
        if self.state is None:
            assert self.layout is not None
            values = self.layout.parse_g(self.session.checked("g"))
            self.state = {n: values[n] for n in MODE_REGS}
        return self.state

    def _bits(self) -> tuple[int, int]:
        s = self._mode()
        return x86mode.code_bits(s["cr0"], s["efer"], s["eflags"], s["cs_attr"]), s["cs_base"]

    def _g_reply(self, reply: bytes) -> bytes:
        assert self.layout is not None
        if rsp.is_error(reply) or not reply:
            return reply
        values = self.layout.parse_g(reply)
        self.state = {n: values[n] for n in MODE_REGS}
        bits, base = self._bits()
        rip = self.layout.by_name["rip"]
        raw = bytearray(rsp.hex_decode(reply))
        pc = x86mode.linear_pc(values["rip"], base, bits)
        raw[rip.offset : rip.offset + rip.size] = pc.to_bytes(rip.size, "little")
        return raw.hex().encode()

    def _rip_value(self, hexval: bytes, to_linear: bool) -> bytes:
        assert self.layout is not None
        size = self.layout.by_name["rip"].size
        value = rsp.le_hex_to_int(hexval)
        bits, base = self._bits()
        new = (
            x86mode.linear_pc(value, base, bits) if to_linear else x86mode.ip_of(value, base, bits)
        )
        return rsp.int_to_le_hex(new, size).encode()

    def _rewrite_request(self, packet: bytes) -> bytes:
        assert self.layout is not None
        rip = self.layout.by_name["rip"]
        if packet.startswith(b"P"):
            num, _, value = packet[1:].partition(b"=")
            if int(num, 16) == rip.num:
                return b"P" + num + b"=" + self._rip_value(value, to_linear=False)
            # A write to a mode or segment register changes what the next pc means.
            self.state = None
        elif packet.startswith(b"G"):
            raw = bytearray(rsp.hex_decode(packet[1:]))
            field = raw[rip.offset : rip.offset + rip.size].hex().encode()
            raw[rip.offset : rip.offset + rip.size] = rsp.hex_decode(
                self._rip_value(field, to_linear=False)
            )
            self.state = None
            return b"G" + raw.hex().encode()
        return packet

    def _rewrite_reply(self, packet: bytes, reply: bytes) -> bytes:
        assert self.layout is not None
        if packet == b"g":
            return self._g_reply(reply)
        rip = self.layout.by_name["rip"].num
        if (
            packet.startswith(b"p")
            and reply
            and not rsp.is_error(reply)
            and int(packet[1:], 16) == rip
        ):
            return self._rip_value(reply, to_linear=True)
        return reply

    # -- serving ------------------------------------------------------------
    def serve(self) -> None:
        s = self.session
        features = s.handshake()
        self.layout = Layout.from_xml(
            read_target_xml(s.request), lambda a: read_target_xml(s.request, a)
        )
        if features.get("QRfx.LinearPc") == "+":
            s.expect_ok("QRfx.LinearPc:1")
            self.rewrite = False
        threading.Thread(target=self._read_gdb, name="gdb-in", daemon=True).start()
        while True:
            try:
                ev = self.events.get(timeout=KEEPALIVE_S)
            except queue.Empty:
                if time.monotonic() - s.last_activity >= KEEPALIVE_S:
                    s.request("qRfx.Status")  # the VM is stopped and gdb quiet
                continue
            if ev is None:
                return  # gdb closed the pipe
            if ev.kind is rsp.Kind.NACK and self.gdb_ack:
                self.gdb_out.write(rsp.frame(self.last_reply))
                self.gdb_out.flush()
            elif ev.kind is rsp.Kind.BAD_CHECKSUM and self.gdb_ack:
                self.gdb_out.write(rsp.NACK)
                self.gdb_out.flush()
            elif ev.kind is rsp.Kind.PACKET:
                if self.gdb_ack:
                    self.gdb_out.write(rsp.ACK)
                    self.gdb_out.flush()
                if self._packet(ev.data):
                    return
            # ACKs from gdb, and 0x03 while the VM is stopped, carry nothing.

    def _packet(self, packet: bytes) -> bool:
        """Serve one packet from gdb; True once the session is over (detach)."""
        s = self.session
        if packet == b"QStartNoAckMode":
            self._to_gdb(b"OK")  # the relay's own link; the VMM's is set up already
            self.gdb_ack = False
            return False
        if packet.startswith(b"qRcmd,"):
            self._monitor(packet)
            return False
        if _resumes(packet):
            self._run(packet)
            return False
        if self.rewrite:
            packet = self._rewrite_request(packet)
        reply = s.request(packet)
        if self.rewrite:
            reply = self._rewrite_reply(packet, reply)
        self._to_gdb(reply)
        return packet in (b"D", b"k") or packet.startswith(b"D;")

    def _monitor(self, packet: bytes) -> None:
        command = rsp.hex_decode(packet[len(b"qRcmd,") :]).decode("utf-8", "replace")
        try:
            text = self.session.monitor(command)
        except StubError as exc:
            self._to_gdb(b"" if "unknown" in exc.reply else exc.reply.encode())
            return
        for off in range(0, len(text.encode()), 512):
            self._console(text.encode()[off : off + 512])
        self._to_gdb(b"OK")
        self.state = None  # `monitor` may change what memory and registers mean

    def _run(self, packet: bytes) -> None:
        """Resume the VM and relay its stop; gdb's 0x03 interrupts it."""
        s = self.session
        self.state = None
        s.resume(packet.decode("ascii", "replace"))
        while True:
            stop = s.poll_stop()
            if stop is not None:
                self._to_gdb(stop.raw.encode())
                return
            try:
                ev = self.events.get(timeout=0.02)
            except queue.Empty:
                continue
            if ev is None:
                s.transport.send(rsp.INTERRUPT)  # gdb left while the VM ran
                s.wait_stop(s.timeout)
                return
            if ev.kind is rsp.Kind.INTERRUPT:
                s.transport.send(rsp.INTERRUPT)
            elif ev.kind is rsp.Kind.PACKET and self.gdb_ack:
                self.gdb_out.write(rsp.ACK)  # all-stop gdb sends none while running
                self.gdb_out.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ramooflax.gdb.proxy HOST:PORT|serial:DEVICE", file=sys.stderr)
        return 2
    # gdb passes Ctrl-C on as 0x03 in the pipe; the terminal's SIGINT is not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        session = Session(open_transport(args[0]))
        Relay(session, sys.stdin.buffer, sys.stdout.buffer).serve()
    except ChannelLost as exc:
        print(f"ramooflax gdb: {exc}", file=sys.stderr)
        return 1
    except RamooflaxError as exc:
        print(f"ramooflax gdb: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
