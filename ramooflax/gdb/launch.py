"""`ramooflax gdb TARGET [GDB ARGS...]`: the user's gdb, set up for the VM.

gdb gets the extension (extension.py, into its own Python) and connects
through the relay (proxy.py), run by this Python:

    gdb -q -ex 'python ...install()' \\
        -ex 'target remote | /path/to/python -m ramooflax.gdb.proxy TARGET' ARGS...

GDB ARGS come last: `-batch -ex 'x/4i $pc'` or `-x script.gdb` run after the
connection is made.
"""

import os
import shlex
import shutil
import sys
from pathlib import Path

from ramooflax.errors import ClientError

REMOTE_TIMEOUT_S = 20  # seconds gdb waits for a reply (its default: 2)


def gdb_argv(target: str, args: list[str], gdb: str = "gdb") -> list[str]:
    """The command line that starts gdb on target."""
    package_root = str(Path(__file__).resolve().parents[2])
    capstone_dir = ""
    try:
        import capstone  # type: ignore[import-untyped]

        capstone_dir = str(Path(capstone.__file__).parent)
    except ImportError:
        pass
    setup = (
        f"python import sys; sys.path.insert(0, {package_root!r}); "
        f"import ramooflax.gdb.extension as rfx_ext; rfx_ext.install({capstone_dir!r} or None)"
    )
    relay = f"{shlex.quote(sys.executable)} -m ramooflax.gdb.proxy {shlex.quote(target)}"
    # gdb gives a reply 2 s by default, then sends its next packet and takes
    # the late reply for that one's: a VM under emulation, the relay and a
    # busy machine can take longer than that for the first packets.
    argv = [gdb, "-q", "-ex", setup, "-ex", f"set remotetimeout {REMOTE_TIMEOUT_S}"]
    if "-batch" in args or "--batch" in args:
        # gdb 13 in batch mode, with a software breakpoint planted, may end a
        # `continue` before the VM stops (then "Cannot execute this command
        # while the target is running"); synchronous target I/O does not.
        argv += ["-ex", "maint set target-async off"]
    return [*argv, "-ex", f"target remote | {relay}", *args]


def run(target: str, args: list[str]) -> int:
    """Replace this process with gdb (its exit status is the command's)."""
    gdb = os.environ.get("RAMOOFLAX_GDB", "gdb")
    path = shutil.which(gdb)
    if path is None:
        raise ClientError(
            f"{gdb} not found: install gdb (apt-get install gdb) or set RAMOOFLAX_GDB"
        )
    argv = gdb_argv(target, args, path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, argv)
    return 0  # not reached
