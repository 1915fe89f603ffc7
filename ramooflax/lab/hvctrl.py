"""The lab's own client of the hypervisor's control channel (COM2 over TCP):
`monitor` commands for the lab (exit counters, the VMM's range).

It is a ramooflax Session (the one codec and session logic) that resumes the
VM after each command, since its packet stopped it. QEMU's TCP chardev
serves one client at a time, so the lab keeps the connection only between
its own commands when nobody else needs the line (Machine.free_ctrl_port()
closes it); `connected` says whether it holds the line now.
"""

from ramooflax.errors import ChannelLost, ChannelTimeout, GuestTimeout, LabError, StubError
from ramooflax.session import Session
from ramooflax.transport import Tcp


class HvControl:
    """The lab's connection to the VMM's GDB stub on 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._session: Session | None = None

    @property
    def connected(self) -> bool:
        """True while the lab holds the control port (no other client can use it)."""
        return self._session is not None

    def connect(self, timeout: float = 10) -> None:
        transport = Tcp("127.0.0.1", self.port, connect_timeout=timeout)
        try:
            transport.connect()
        except ChannelLost as exc:
            raise LabError(f"cannot connect to the hv control port {self.port}: {exc}") from None
        self._session = Session(transport)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def monitor(self, command: str, timeout: float = 15) -> str:
        """`monitor COMMAND`: its output. The VM runs again afterwards.

        The VMM polls the channel only on vm-exits, so replies can take seconds.
        """
        if self._session is None:
            self.connect()
        assert self._session is not None
        session = self._session
        try:
            text = session.monitor(command, timeout)
        except ChannelTimeout as exc:
            self.close()
            if not session.heard:
                # The lab's connection is new (it closes it for other clients), so
                # a silent line is one QEMU gives to someone else.
                raise GuestTimeout(
                    f"`monitor {command}`: another client holds the hv control port "
                    f"{self.port} (gdb, `ramooflax attach`, a VM object): the port serves "
                    "one client at a time and left the lab's connection unanswered for "
                    f"{timeout:.0f} s; detach that client first"
                ) from None
            raise GuestTimeout(
                f"the VMM did not answer `monitor {command}` on control port {self.port} "
                f"within {timeout:.0f} s: {exc}"
            ) from None
        except StubError as exc:
            session.resume("c")
            raise LabError(f"`monitor {command}`: {exc}") from None
        except ChannelLost as exc:
            self.close()
            raise LabError(f"the hv control connection closed (QEMU exited?): {exc}") from None
        session.resume("c")  # our packet stopped the VM: else it waits for ctrl_timeout
        return text
