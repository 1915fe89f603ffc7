"""The `ramooflax` command line.

    ramooflax lab build-guest --arch amd64
    ramooflax lab run [--no-hv] [--cmd 'uname -a'] ...
    ramooflax lab usb-image -o usb.img
    ramooflax lab demo
    ramooflax lab conformance [--cpu max] [--only cr4,lmsw]   # test kernel: native vs hv
    ramooflax attach HOST:PORT                 # shell with `vm` attached
    ramooflax regs [HOST:PORT]                 # print gpr and sr, detach
    ramooflax dump --phys ADDR LEN -o FILE [HOST:PORT]

Each subcommand is one function taking the parsed arguments.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax import __version__
from ramooflax.errors import ClientError, RamooflaxError

if TYPE_CHECKING:
    from ramooflax.model import VM

Handler = Callable[[argparse.Namespace], int]
GUEST_ARCHES = ("amd64", "i386")


def cmd_build_guest(args: argparse.Namespace) -> int:
    from ramooflax.lab import guest

    print(guest.build(args.arch, force=args.force))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ramooflax.lab import run
    from ramooflax.lab.machine import MachineSpec

    spec = MachineSpec(
        guest=args.guest,
        with_hv=not args.no_hv,
        mem=args.mem,
        cpu=args.cpu,
        console_port=args.console_port,
        ctrl_port=args.ctrl_port,
        log=args.log,
        usb=args.usb,
        hv_options=" ".join(args.hv_option),
    )
    if args.hv_option and args.no_hv:
        raise ClientError("--hv-option needs the hypervisor: drop --no-hv")
    if args.cmd is not None:
        return run.run_command(spec, args.cmd, args.timeout)
    return run.interactive(spec)


def cmd_usb_image(args: argparse.Namespace) -> int:
    from ramooflax.lab import usb

    print(usb.build(args.output, args.disk))
    return 0


def cmd_conformance(args: argparse.Namespace) -> int:
    from ramooflax.lab import conformance, paths, qemu
    from ramooflax.lab.progress import say

    logs = args.logs or paths.lab_dir() / "conformance"
    cpus = args.cpu or [qemu.DEFAULT_CPU]
    only = [g for arg in args.only for g in arg.split(",") if g]
    pairs = conformance.run_pairs(
        cpus, logs, only, args.group_timeout, say=lambda msg: say("conformance", msg)
    )
    failed = 0
    for cpu, pair in pairs.items():
        verdicts = conformance.compare(pair)
        failed += sum(v.failed for v in verdicts)
        print(f"\n== -cpu {cpu}: native {len(pair.native.checks())} checks "
              f"({pair.native.boots} boot), hv {len(pair.hv.checks())} checks "
              f"({pair.hv.boots} boots); logs in {logs}")  # fmt: skip
        print(conformance.table(verdicts, all_rows=args.all))
        print(conformance.summary(pair, verdicts))
    if args.endings:
        cpu = cpus[0]
        for group in conformance.TRIPLE + conformance.RESETS:
            native = conformance.run_ending(cpu, group, False, logs / "ending")
            hv = conformance.run_ending(cpu, group, True, logs / "ending")
            problems = conformance.judge_ending(native, hv)
            failed += bool(problems)
            print(f"{group}: " + ("as documented" if not problems else "FAIL"))
            for p in problems:
                print("    " + p.replace("\n", "\n    "))
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ramooflax.lab import demo

    return demo.main(mem=args.mem)


DEFAULT_TARGET = "127.0.0.1:1234"


def _vm(target: str) -> "VM":
    from ramooflax.model import VM, CPUFamily

    return VM(CPUFamily.AMD, target)


def cmd_attach(args: argparse.Namespace) -> int:
    vm = _vm(args.target).attach()
    vm.interact()
    return 0


def cmd_regs(args: argparse.Namespace) -> int:
    with _vm(args.target) as vm:
        status = vm.status()
        print(f"mode {status.mode.value}, cpl {status.cpl}, {status.exits} exits")
        print(vm.cpu.gpr.table())
        if not args.gpr_only:
            print(vm.cpu.sr.table())
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    # The file first: a bad path fails before the transfer, not after it.
    try:
        out = args.output.open("wb")
    except OSError as exc:
        raise ClientError(f"cannot write {args.output}: {exc.strerror}") from None
    try:
        with out, _vm(args.target) as vm:
            data = vm.mem.pread(args.addr, args.length, progress=not args.quiet)
            out.write(data)
    except BaseException:
        args.output.unlink(missing_ok=True)  # no half-written dump left behind
        raise
    print(f"wrote {len(data)} bytes of physical memory at 0x{args.addr:x} to {args.output}")
    return 0


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (0x... or decimal)") from None


def _add_client(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("attach", help="attach to a VM and open the shell (`vm` ready)")
    p.add_argument("target", help="HOST:PORT of the control channel, or serial:DEVICE")
    p.set_defaults(func=cmd_attach)

    p = sub.add_parser("regs", help="print the VM's registers (the VM stops briefly)")
    p.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default {DEFAULT_TARGET}")
    p.add_argument("--gpr-only", action="store_true", help="general registers only")
    p.set_defaults(func=cmd_regs)

    p = sub.add_parser("dump", help="dump guest physical memory to a file")
    p.add_argument("--phys", nargs=2, metavar=("ADDR", "LEN"), type=_int, required=True)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default {DEFAULT_TARGET}")
    p.set_defaults(func=cmd_dump)


HV_OPTIONS = ("ctrl_wait", "ctrl_timeout", "ctrl_poll")


def _hv_option(text: str) -> str:
    key, eq, value = text.partition("=")
    if key not in HV_OPTIONS or not eq or not value or " " in value:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give KEY=VALUE with KEY one of {', '.join(HV_OPTIONS)} "
            "(the lab sets ctrl=, log= and disk= itself)"
        )
    return text


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port")
    return port


def _add_lab(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from ramooflax.lab import qemu

    lab = sub.add_parser("lab", help="QEMU lab: guest images, runs, USB image, demo")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)

    p = lab_sub.add_parser("build-guest", help="build a guest disk image from Debian packages")
    p.add_argument("--arch", choices=GUEST_ARCHES, default="amd64")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.set_defaults(func=cmd_build_guest)

    p = lab_sub.add_parser("run", help="boot a guest (under the hypervisor by default)")
    p.add_argument("--guest", choices=GUEST_ARCHES, default="amd64")
    p.add_argument("--no-hv", action="store_true", help="boot the guest without the hypervisor")
    p.add_argument("--mem", default="512M", help="guest RAM (QEMU -m), default 512M")
    p.add_argument("--cpu", help="QEMU CPU model (default EPYC); +svm,+npt are added")
    p.add_argument("--ctrl-port", type=_port, help="TCP port of the hv control channel (COM2)")
    p.add_argument("--console-port", type=_port, help="TCP port of the guest console (COM1)")
    p.add_argument("--log", type=Path, help="hv log file (COM3), default under build/lab/")
    p.add_argument("--cmd", help="run this shell command in the guest, then power off")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed for --cmd")
    p.add_argument("--hv-option", action="append", default=[], type=_hv_option, metavar="KEY=VALUE",
                   help="add a hypervisor boot option (repeatable): ctrl_wait=1, ctrl_timeout=N, "
                        "ctrl_poll=N")  # fmt: skip
    p.add_argument(
        "--usb",
        type=Path,
        metavar="IMAGE",
        help="boot the hv from this USB image (first disk; the guest is second)",
    )
    p.set_defaults(func=cmd_run)

    p = lab_sub.add_parser("usb-image", help="build a GRUB USB image that boots the hypervisor")
    p.add_argument("-o", "--output", type=Path, required=True, help="image file to write")
    p.add_argument(
        "--disk",
        default="0x81",
        help="BIOS drive the hv boots (default 0x81: the disk after the USB key)",
    )
    p.set_defaults(func=cmd_usb_image)

    p = lab_sub.add_parser(
        "conformance",
        help="boot the test kernel natively and under the hv; compare every check",
        description="Boots the conformance test kernel (tests/guest, docs/conformance.md) "
        "without and under the hypervisor and prints, per check, the two results and the "
        "verdict: same, policy or tcg (a documented difference), FAIL. Exit status 1 if any "
        "check fails.",
    )
    p.add_argument("--cpu", action="append", metavar="MODEL",
                   help=f"QEMU CPU model (repeatable; default {qemu.DEFAULT_CPU})")  # fmt: skip
    p.add_argument("--only", action="append", default=[], metavar="GROUPS",
                   help="groups to run (comma-separated): a group (pm32.cr4), a mode (pm32) "
                        "or a family (cr4)")  # fmt: skip
    p.add_argument("--all", action="store_true", help="list every check, not only the differences")
    p.add_argument("--endings", action="store_true",
                   help="also boot the triple-fault and reset groups (one boot each)")  # fmt: skip
    p.add_argument("--group-timeout", type=float, default=4.0, metavar="S",
                   help="seconds without output before a group counts as dead (default 4)")  # fmt: skip
    p.add_argument("--logs", type=Path, help="directory of the QEMU/hv logs (default build/lab)")
    p.set_defaults(func=cmd_conformance)

    p = lab_sub.add_parser("demo", help="boot the amd64 guest under the hv and show both views")
    p.add_argument("--mem", default="512M")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ramooflax", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"ramooflax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_lab(sub)
    _add_client(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "phys", None):
        args.addr, args.length = args.phys
    func: Handler = args.func
    try:
        return func(args)
    except RamooflaxError as exc:
        print(f"ramooflax: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ramooflax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
