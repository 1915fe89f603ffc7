"""The Bochs machine's bochsrc (ramooflax/lab/bochs.py), the relay that
serves its control line (relay.py) and the CLI's checks, with no Bochs: the
text is parsed back into sections and options and checked line by line."""

import socket
import threading
import time
from pathlib import Path

import pytest

from ramooflax.cli import build_parser
from ramooflax.errors import LabError
from ramooflax.lab import bochs
from ramooflax.lab.relay import SerialRelay


def config(tmp_path: Path, **changes: object) -> bochs.Config:
    fields: dict[str, object] = {
        "guest": tmp_path / "guest.img",
        "console_port": 41001,
        "ctrl_port": 41002,
        "ctrl_line_port": 41003,
        "log": tmp_path / "hv.log",
        "work": tmp_path,
        "bochs_log": tmp_path / "bochs.log",
    }
    fields.update(changes)
    return bochs.Config(**fields)  # type: ignore[arg-type]


def sections(text: str) -> dict[str, dict[str, str]]:
    """bochsrc text as {section: {option: value}} (one line per section)."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        assert name not in out, f"section {name} given twice"
        options: dict[str, str] = {}
        for item in rest.split(","):
            key, eq, value = item.strip().partition("=")
            options[key] = value if eq else ""
        out[name.strip()] = options
    return out


def test_the_serial_wiring(tmp_path: Path) -> None:
    rc = sections(bochs.bochsrc(config(tmp_path)))
    assert rc["com1"] == {"enabled": "1", "mode": "socket-client", "dev": "127.0.0.1:41001"}
    assert rc["com2"] == {"enabled": "1", "mode": "socket-client", "dev": "127.0.0.1:41003"}
    assert rc["com3"] == {"enabled": "1", "mode": "file", "dev": f'"{tmp_path}/hv.log"'}


def test_the_cpu_line(tmp_path: Path) -> None:
    cpu = sections(bochs.bochsrc(config(tmp_path, cpu="trinity_apu", smp=2)))["cpu"]
    assert cpu["model"] == "trinity_apu"
    assert cpu["count"] == "2"
    assert cpu["ips"] == str(bochs.IPS)
    assert cpu["reset_on_triple_fault"] == "1"
    assert cpu["ignore_bad_msrs"] == "1"
    assert sections(bochs.bochsrc(config(tmp_path)))["cpu"]["model"] == "corei7_skylake_x"


def test_what_debian_bochs_needs(tmp_path: Path) -> None:
    rc = sections(bochs.bochsrc(config(tmp_path, megs=2048)))
    assert rc["display_library"] == {"rfb": "", "options": '"timeout=0"'}  # no nogui
    assert rc["clock"]["sync"] == "none"
    assert rc["memory"] == {"guest": "2048", "host": "2048"}
    assert rc["speaker"] == {"enabled": "0"}
    assert set(rc["sound"].values()) == {"dummy"}
    assert rc["panic"] == {"action": "fatal"}
    assert rc["boot"] == {"disk": ""}


@pytest.mark.parametrize(
    ("usb", "disks"),
    [
        (None, {"ata0-master": "guest.img"}),
        ("key.img", {"ata0-master": "key.img", "ata0-slave": "guest.img"}),
    ],
)
def test_the_disks(tmp_path: Path, usb: str | None, disks: dict[str, str]) -> None:
    key = tmp_path / usb if usb else None
    rc = sections(bochs.bochsrc(config(tmp_path, usb=key)))
    found = {name: opts for name, opts in rc.items() if name.startswith("ata0-")}
    assert sorted(found) == sorted(disks)
    for unit, image in disks.items():
        opts = found[unit]
        assert opts["type"] == "disk"
        assert opts["mode"] == "volatile"  # the image is never written
        assert opts["path"] == f'"{tmp_path / image}"'
        assert opts["journal"] == f'"{tmp_path / image}.redolog"'


def test_no_dollar_reaches_bochs(tmp_path: Path) -> None:
    # bochsrc expands $VAR, even in a quoted path
    with pytest.raises(LabError, match="quote or a"):
        bochs.bochsrc(config(tmp_path, guest=tmp_path / "$HOME.img"))


@pytest.mark.parametrize(
    ("mem", "megs"), [("512M", 512), ("1G", 1024), ("2G", 2048), ("768", 768), ("64MiB", 64)]
)
def test_megs(mem: str, megs: int) -> None:
    assert bochs.megs(mem) == megs


@pytest.mark.parametrize("mem", ["4G", "3000M", "8M", "lots"])
def test_megs_refused(mem: str) -> None:
    with pytest.raises(LabError, match="--mem"):
        bochs.megs(mem)


def test_an_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"'ryzen'.*corei7_skylake_x \(intel\).*trinity_apu \(amd\)"):
        bochs.bochsrc(config(tmp_path, cpu="ryzen"))
    assert bochs.vendor("trinity_apu") == "amd"
    assert bochs.vendor(bochs.DEFAULT_CPU) == "intel"


def test_the_command_line(tmp_path: Path) -> None:
    argv = bochs.command(tmp_path / "rc", tmp_path / "dbg")
    assert argv[0] == "bochs"
    assert "-q" in argv and "-unlock" in argv
    assert argv[argv.index("-f") + 1] == str(tmp_path / "rc")
    assert argv[argv.index("-rc") + 1] == str(tmp_path / "dbg")
    assert bochs.DEBUGGER_RC.split() == ["continue"]


def test_problems_skip_msr_noise(tmp_path: Path) -> None:
    log = tmp_path / "bochs.log"
    log.write_text(
        "00000000001i[BIOS  ] Booting from 0000:7c00\n"
        "00000000002e[CPU0  ] RDMSR: Unknown register 0xe7\n"
        "00000000003p[BIOS  ] >>PANIC<< No bootable device.\n"
    )
    said = bochs.problems("bochsrc:3: unknown option\n=== banner ===\n", log)
    assert said == [
        "bochsrc:3: unknown option",
        "bochs.log: 00000000003p[BIOS  ] >>PANIC<< No bootable device.",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--emulator", "bochs", "--cpu", "ryzen"], "trinity_apu"),
        (["--emulator", "bochs", "--firmware", "uefi"], "QEMU only"),
        (["--emulator", "bochs", "--ctrl", "net"], "QEMU only"),
        (["--emulator", "bochs", "--mem", "4G"], "16M to 2048M"),
    ],
)
def test_cli_refuses(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["lab", "run", "--no-hv", "--cmd", "true", *argv])
    with pytest.raises(LabError, match=message):
        args.func(args)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--cpu", "EPYC"], "'EPYC' is not one the lab runs"), (["--endings"], "QEMU only")],
)
def test_conformance_cli_refuses(argv: list[str], message: str) -> None:
    args = build_parser().parse_args(["lab", "conformance", "--emulator", "bochs", *argv])
    with pytest.raises(LabError, match=message):
        args.func(args)


# -- the relay ------------------------------------------------------------------


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(5)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_relay_serves_one_client_at_a_time() -> None:
    relay = SerialRelay(0)
    relay.start()
    try:
        line = socket.create_connection(("127.0.0.1", relay.inner_port))  # Bochs's COM2
        first = socket.create_connection(("127.0.0.1", relay.outer_port))
        deadline = time.monotonic() + 5
        while relay.client is None or not relay.line_up:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first.sendall(b"$?#3f")
        assert recv_exactly(line, 5) == b"$?#3f"
        line.sendall(b"+$S05#b8")
        assert recv_exactly(first, 8) == b"+$S05#b8"
        second = socket.create_connection(("127.0.0.1", relay.outer_port))  # waits
        second.sendall(b"x")
        line.settimeout(0.3)
        with pytest.raises(TimeoutError):
            line.recv(1)
        first.close()
        assert recv_exactly(line, 1) == b"x"  # the second client now has the line
        line.sendall(b"y")
        assert recv_exactly(second, 1) == b"y"
        second.close()
        line.close()
    finally:
        relay.close()


def test_relay_port_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(LabError, match=f"TCP port {port} is in use"):
            SerialRelay(port)


def test_relay_drops_output_without_client() -> None:
    relay = SerialRelay(0)
    relay.start()
    try:
        line = socket.create_connection(("127.0.0.1", relay.inner_port))
        while not relay.line_up:
            time.sleep(0.01)
        line.sendall(b"lost")
        time.sleep(0.3)
        client = socket.create_connection(("127.0.0.1", relay.outer_port))
        while relay.client is None:
            time.sleep(0.01)
        line.sendall(b"kept")
        assert recv_exactly(client, 4) == b"kept"
        client.close()
        line.close()
    finally:
        relay.close()
    assert not threading.Thread.is_alive(relay._thread)


def test_bochs_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bochs, "BOCHS", "bochs-not-installed")
    with pytest.raises(LabError, match="not found: install Bochs 2.7 .*apt-get install"):
        bochs.check_installed()


def test_problems_skip_geometry_noise(tmp_path: Path) -> None:
    out = (
        "00000000000i[      ] reading configuration from /x/bochsrc-1\n"
        "00000000000e[      ] /x/bochsrc-1:10: ataX-master/slave CHS set to 0/0/0 - "
        "autodetection enabled\n"
        "00000000000e[      ] /x/bochsrc-1:4: cpu: unknown option 'foo'\n"
    )
    assert bochs.problems(out, tmp_path / "none.log") == [
        "00000000000e[      ] /x/bochsrc-1:4: cpu: unknown option 'foo'"
    ]
