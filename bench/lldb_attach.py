"""Seconds from starting a debugger to its first stop, lldb against gdb, on
one amd64 guest under the hypervisor: `lldb --batch -o "gdb-remote ..."` and
`gdb -batch -ex "target remote ..."`, each reading rip and detaching,
alternating RUNS times (default 5). Prints the medians, lldb / gdb, the
memory reads lldb made to attach (from its packet log: a scan for a kernel
image shows as hundreds), and whether lldb meets the target (< 2 s)."""

import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import LOGS, boot

TARGET_S = 2.0


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    took = time.monotonic() - start
    if "rip" not in done.stdout:
        raise SystemExit(f"{argv[0]} did not read rip:\n{done.stdout}\n{done.stderr}")
    return took


def memory_reads(log: Path) -> int:
    """The m/x packets in lldb's packet log of its last run."""
    text = log.read_text("utf-8", "replace")
    log.unlink()
    return len(re.findall(r"send packet: \$[mx][0-9a-f]+,", text))


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    gdb = shutil.which("gdb-multiarch") or shutil.which("gdb")
    if shutil.which("lldb") is None or gdb is None:
        print("lldb_attach.py needs lldb and gdb (tools/install-deps.sh installs both)")
        return 2
    machine = boot("lldb-attach")
    try:
        port = machine.free_ctrl_port()
        target = f"127.0.0.1:{port}"
        log = LOGS / "lldb-packets.log"
        lldb_argv = ["lldb", "--batch", "-o", f"log enable -f {log} gdb-remote packets"]
        lldb_argv += ["-o", f"gdb-remote {target}", "-o", "register read rip"]
        lldb_argv += ["-o", "process detach"]
        gdb_argv = [gdb, "-nx", "-batch", "-ex", f"target remote {target}"]
        gdb_argv += ["-ex", "info registers rip", "-ex", "detach"]
        lldb_s, gdb_s, reads = [], [], []
        for i in range(runs):
            lldb_s.append(timed(lldb_argv))
            reads.append(memory_reads(log))
            gdb_s.append(timed(gdb_argv))
            print(
                f"run {i + 1}: lldb {lldb_s[-1]:.2f} s ({reads[-1]} memory reads), "
                f"gdb {gdb_s[-1]:.2f} s",
                flush=True,
            )
    finally:
        machine.stop()
    lldb_med, gdb_med = statistics.median(lldb_s), statistics.median(gdb_s)
    print(
        f"median: lldb {lldb_med:.2f} s, gdb {gdb_med:.2f} s; lldb / gdb = {lldb_med / gdb_med:.2f}"
    )
    print(f"lldb's memory reads per attach (its packet log): {max(reads)} at most")
    verdict = "meets" if lldb_med < TARGET_S else "misses"
    print(f"lldb attach {lldb_med:.2f} s {verdict} the {TARGET_S:.0f} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
