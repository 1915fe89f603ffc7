"""The lab's port check: a port whose last connection QEMU closed (TIME-WAIT,
about a minute) can be listened on again, as QEMU does with SO_REUSEADDR; a
port someone listens on is refused. Real sockets on 127.0.0.1, no QEMU."""

import socket

import pytest

from ramooflax.errors import LabError
from ramooflax.lab import qemu


def listener() -> socket.socket:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as QEMU's chardev
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv


def time_wait_port() -> int:
    """A port left with only a TIME-WAIT socket: the server side closed first,
    as QEMU does when it exits with a client connected."""
    srv = listener()
    port: int = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()  # the server's active close: its side goes to TIME-WAIT
    srv.close()
    client.recv(1)  # the FIN
    client.close()
    return port


def test_a_time_wait_port_is_free() -> None:
    port = time_wait_port()
    with socket.socket() as plain, pytest.raises(OSError):  # what "port in use" came from
        plain.bind(("127.0.0.1", port))
    qemu.check_ports_free(port)


def test_a_listened_port_is_in_use() -> None:
    with listener() as srv:
        port = srv.getsockname()[1]
        with pytest.raises(LabError, match=f"TCP port {port} is in use"):
            qemu.check_ports_free(port)
