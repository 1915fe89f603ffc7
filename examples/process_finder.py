#!/usr/bin/env python3
"""The original Ramooflax paper's annex in Python 3: find a process by name, print its cr3.

    examples/process_finder.py NAME [HOST:PORT] [--vmlinuz PATH] [--family intel]

Attaches, filters CR3 writes, and at each one walks the Linux task list
from init_task looking for a task whose comm contains NAME. Works on the
64-bit (amd64) and the 32-bit (686, non-PAE) guests: the architecture comes
from the VM's mode, symbols and offsets from the guest kernel's own memory
(kallsyms and BTF: Linux.from_memory, cached by the kernel's banner), or
from its package with --vmlinuz. Prints `found NAME pid=N cr3=0x... in S s`.
"""

import argparse
import sys
import time

from ramooflax import VM, CPUFamily
from ramooflax.errors import RamooflaxError
from ramooflax.os.linux import Linux, Profile, Task


def find_process(vm: VM, name: str, profile: Profile | None = None) -> tuple[Task, Linux]:
    """Resume the attached VM until a task named like `name` exists; return it."""
    linux = Linux.from_memory(vm) if profile is None else Linux(vm, profile)
    found: list[Task] = []

    def cr3_hook(vm: VM) -> bool:
        task = linux.find(name)
        if task is None:
            return False  # not there yet: resume silently
        found.append(task)
        return True  # give control back

    if not cr3_hook(vm):  # maybe it already runs
        vm.cpu.filter_write_cr(3, cr3_hook)
        vm.resume()
        vm.cpu.release_write_cr(3)
    return found[0], linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="a substring of the task's comm")
    ap.add_argument("target", nargs="?", default="127.0.0.1:1234", help="HOST:PORT or serial:DEV")
    ap.add_argument("--vmlinuz", help="the guest's vmlinuz (default: none, the kernel's memory)")
    ap.add_argument(
        "--family",
        choices=[f.value for f in CPUFamily],
        default=CPUFamily.AMD.value,
        help="the VMM's backend: amd (SVM, the default) or intel (VT-x)",
    )
    args = ap.parse_args(argv)

    from pathlib import Path

    vm = VM(CPUFamily(args.family), args.target)
    start = time.monotonic()
    vm.attach()
    try:
        profile = None
        if args.vmlinuz:
            profile = Linux.from_package(vm, Path(args.vmlinuz)).profile
        task, linux = find_process(vm, args.name, profile)
        elapsed = time.monotonic() - start
        print(
            f"found {task.comm} pid={task.pid} task=0x{task.addr:x} "
            f"cr3=0x{task.cr3:x} in {elapsed:.2f} s (slide 0x{linux.slide:x}; "
            f"seen from vCPU {vm.cpu.index} of {len(vm.cpus)})"
        )
    finally:
        vm.detach()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RamooflaxError as exc:
        sys.exit(f"process_finder: error: {exc}")
