"""The lab's control NIC and board (--ctrl net[:MODEL], --machine): the QEMU
device, the board and the hv's ctrl= option each choice gives."""

from pathlib import Path

import pytest

from ramooflax.errors import LabError
from ramooflax.lab import qemu


@pytest.mark.parametrize(
    ("ctrl", "nic"),
    [("uart", None), ("net", "e1000"), ("net:e1000", "e1000"), ("net:e1000e", "e1000e")]
    + [("net:igb", "igb")],
)
def test_ctrl_names_a_nic(ctrl: str, nic: str | None) -> None:
    assert qemu.ctrl_nic(ctrl) == nic


@pytest.mark.parametrize("ctrl", ["net:rtl8139", "net:", "tcp", "uart:e1000", "net:E1000E"])
def test_a_bad_ctrl_says_what_is_allowed(ctrl: str) -> None:
    with pytest.raises(LabError, match="uart, net or net:MODEL, MODEL one of e1000, e1000e, igb"):
        qemu.ctrl_nic(ctrl)


def config(tmp_path: Path, ctrl: str, board: str = "pc") -> qemu.Config:
    return qemu.Config(
        guest=tmp_path / "guest.img",
        console_port=1,
        ctrl_port=2,
        log=tmp_path / "log",
        cpu="EPYC",
        ctrl=ctrl,
        board=board,
    )


@pytest.mark.parametrize(
    ("ctrl", "board", "device"),
    [
        ("net", "pc", "e1000,netdev=ctl"),
        ("net:e1000e", "q35", "e1000e,netdev=ctl"),
        ("net:igb", "q35", "igb,netdev=ctl"),
    ],
)
def test_qemu_command_has_the_nic_on_the_board(
    tmp_path: Path, ctrl: str, board: str, device: str
) -> None:
    argv = qemu.command(config(tmp_path, ctrl, board))
    assert argv[argv.index("-machine") + 1] == board
    assert argv[argv.index("-device", argv.index("-netdev")) + 1] == device
    assert "hostfwd=tcp:127.0.0.1:2-10.0.2.15:1234" in " ".join(argv)
    assert qemu.ctrl_net_option(device.split(",")[0]) == (
        f"ctrl=net:{device.split(',')[0]},ip=10.0.2.15,port=1234"
    )


def test_uart_has_no_nic_and_a_bad_board_is_refused(tmp_path: Path) -> None:
    argv = qemu.command(config(tmp_path, "uart"))
    assert "-netdev" not in argv and argv[argv.index("-machine") + 1] == "pc"
    with pytest.raises(LabError, match="unknown machine 'isapc': one of pc, q35"):
        qemu.command(config(tmp_path, "uart", "isapc"))
