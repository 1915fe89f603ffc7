"""Two clients on one control port: QEMU's TCP chardev serves one at a time
and leaves the second connected but unanswered. Both sides say so: the
client's timeout names a held line, and the lab's own `monitor` names another
client when its fresh connection gets no reply.

On the ctrl_timeout=3 machine: the second client's packets reach the VMM
once the first leaves, and stop the VM until that timeout drops them.
"""

import time

import pytest

from ramooflax import VM, CPUFamily, CPUMode
from ramooflax.errors import ChannelTimeout, GuestTimeout
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab

CTRL_TIMEOUT_S = 3  # the hv_amd64_wait machine's ctrl_timeout


def test_a_held_line_is_named_by_both_sides(hv_amd64_wait: Machine) -> None:
    machine = hv_amd64_wait
    assert machine.config is not None
    target = f"127.0.0.1:{machine.config.ctrl_port}"

    # The lab holds the line (its monitor connection stays open): a client waits in vain.
    assert "exits" in machine.hv_summary().lower() and machine.ctrl_held
    second = VM(CPUFamily.AMD, target, timeout=3, keepalive=None)
    with pytest.raises(ChannelTimeout, match="held by another client"):
        second.attach()
    assert not second.attached
    machine.free_ctrl_port()
    assert not machine.ctrl_held
    time.sleep(CTRL_TIMEOUT_S + 1)  # the late qSupported's session times out

    # A client holds the line: the lab's own monitor says another client has it.
    with VM(CPUFamily.AMD, target) as vm:
        assert vm.status().mode is CPUMode.LONG
        with pytest.raises(GuestTimeout, match="another client holds the hv control port"):
            machine.monitor("exits", timeout=3)
        assert vm.status().mode is CPUMode.LONG  # the holder's session is intact
    time.sleep(CTRL_TIMEOUT_S + 1)
    assert machine.run("echo free", timeout=60).output == "free\n"
    assert "exits" in machine.hv_summary()  # the lab's own monitor has the line again


def test_a_new_client_after_a_vanished_one_is_acked(hv_amd64_wait: Machine) -> None:
    from ramooflax.lab.rawgdb import RawGdb

    port = hv_amd64_wait.free_ctrl_port()
    with RawGdb.connect(port) as gone:  # no-ack mode, the VM running, then gone
        gone.interrupt()
        assert gone.wait_stop(timeout=15).startswith(b"T02")
        gone.noack()
        gone.send("c")
    time.sleep(0.5)
    with RawGdb.connect(port) as new:
        assert new.command("QStartNoAckMode", timeout=15) == b"OK"
        acked = new.acks_seen > 0
        new.ack = False
        assert new.command("D", timeout=15) == b"OK"
    assert acked, "QStartNoAckMode got no `+`: a client in ack mode waits for one"
