"""`ramooflax`: the command line of the Ramooflax client and lab.

Each subcommand is one function taking the parsed arguments; the parser
describes every command and option (`ramooflax --help`, `ramooflax COMMAND
--help`), and the command list in the top-level help is built from it.
"""

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax import __version__
from ramooflax.errors import ClientError, LabError, RamooflaxError

if TYPE_CHECKING:
    from ramooflax.model import VM
    from ramooflax.os.linux import Linux

Handler = Callable[[argparse.Namespace], int]
DEFAULT_SMP = 2  # real machines have several cores: so does the lab's default
GUEST_ARCHES = ("amd64", "i386")
FIRMWARES = ("bios", "uefi")
EMULATORS = ("qemu", "bochs")


def cmd_build_guest(args: argparse.Namespace) -> int:
    from ramooflax.lab import guest

    print(guest.build(args.arch, args.force, args.kernel_package, args.firmware))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ramooflax.lab import run
    from ramooflax.lab.machine import MachineSpec

    bochs = args.emulator == "bochs"
    if bochs and args.cpu is not None:
        from ramooflax.lab import bochs as bochs_lab

        bochs_lab.check_cpu(args.cpu)
    smp = args.smp if args.smp is not None else (1 if bochs else DEFAULT_SMP)
    spec = MachineSpec(
        guest=args.guest,
        with_hv=not args.no_hv,
        mem=args.mem,
        smp=smp,
        cpu=args.cpu,
        emulator=args.emulator,
        console_port=args.console_port,
        ctrl_port=args.ctrl_port,
        log=args.log,
        usb=args.usb,
        hv_options=" ".join(args.hv_option),
        kernel_package=args.kernel_package,
        ctrl=args.ctrl,
        board=args.machine,
        firmware=args.firmware,
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
    only = [g for arg in args.only for g in arg.split(",") if g]
    if args.emulator == "bochs":
        from ramooflax.lab import bochs

        cpus = [bochs.check_cpu(c) for c in args.cpu or [bochs.DEFAULT_CPU]]
        if args.endings:
            raise LabError("--endings runs under QEMU only (drop --emulator bochs)")
    else:
        cpus = args.cpu or [qemu.DEFAULT_CPU]
    pairs = conformance.run_pairs(
        cpus,
        logs,
        only,
        args.group_timeout,
        say=lambda msg: say("conformance", msg),
        emulator=args.emulator,
    )
    failed = 0
    for cpu, pair in pairs.items():
        verdicts = conformance.compare(pair)
        failed += sum(v.failed for v in verdicts)
        print(
            f"\n== -cpu {cpu}: native {len(pair.native.checks())} checks "
            f"({pair.native.boots} boot), hv {len(pair.hv.checks())} checks "
            f"({pair.hv.boots} boots); logs in {logs}"
        )
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
    if args.all:
        return _dump_all(args)
    if args.phys is None:
        raise ClientError("give --phys ADDR LEN, or --all for the whole RAM")
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


def _dump_all(args: argparse.Namespace) -> int:
    from ramooflax.dump import dump_all, ram_ranges

    try:
        args.output.open("wb").close()
    except OSError as exc:
        raise ClientError(f"cannot write {args.output}: {exc.strerror}") from None
    try:
        with _vm(args.target) as vm:
            ranges, source = ram_ranges(vm, args.ranges)
            if not args.quiet:
                listed = ", ".join(f"0x{s:x}-0x{e - 1:x}" for s, e in ranges)
                print(f"RAM ranges from {source}: {listed}", file=sys.stderr)
            n = dump_all(vm, args.output, args.format, progress=not args.quiet, ranges=ranges)
    except BaseException:
        args.output.unlink(missing_ok=True)
        raise
    print(f"wrote {n} bytes of RAM to {args.output} ({args.format})")
    return 0


def _linux(vm: "VM", vmlinuz: Path | None = None) -> "Linux":
    from ramooflax.os.linux import Linux

    linux = Linux.from_package(vm, vmlinuz) if vmlinuz else Linux.from_memory(vm)
    if linux.stats is not None:
        print(
            f"kernel profile: {linux.stats} ({linux.profile.banner.split(chr(0))[0][:60]})",
            file=sys.stderr,
        )
    return linux


def cmd_ps(args: argparse.Namespace) -> int:
    from ramooflax.os import tables

    with _vm(args.target) as vm:
        linux = _linux(vm, args.vmlinuz)
        if args.vmas is not None:
            tables.show(tables.vmas(linux.task(args.vmas), linux.vmas(linux.task(args.vmas))))
        elif args.modules:
            tables.show(tables.modules(linux.modules()))
        else:
            tables.show(tables.ps(linux.ps()))
    return 0


def cmd_isf(args: argparse.Namespace) -> int:
    from ramooflax.plugins.volatility import write_isf

    with _vm(args.target) as vm:
        doc = write_isf(_linux(vm), args.output, progress=not args.quiet)
    print(f"wrote {args.output}: {len(doc['user_types'])} types, {len(doc['symbols'])} symbols")
    return 0


def cmd_vol(args: argparse.Namespace) -> int:
    from ramooflax.plugins.volatility import run

    target, plugin, rest = args.target, args.plugin, list(args.args)
    if ":" not in target and plugin is not None and not target.startswith("serial"):
        target, plugin, rest = DEFAULT_TARGET, target, [plugin, *rest]
    if plugin is None:
        target, plugin = DEFAULT_TARGET, target
    for opt in ("--save-lime", "--isf"):  # ours, also when given after the plugin
        if opt in rest:
            i = rest.index(opt)
            if i + 1 >= len(rest):
                raise ClientError(f"{opt} needs a file name")
            setattr(args, opt[2:].replace("-", "_"), Path(rest[i + 1]))
            del rest[i : i + 2]
    if args.save_lime is not None:
        _writable(args.save_lime)
    from ramooflax.plugins.volatility import PageRecord, save_lime, write_isf

    record = PageRecord()
    with _vm(target) as vm, tempfile.TemporaryDirectory(prefix="ramooflax-isf-") as tmp:
        linux = _linux(vm)
        isf = args.isf
        if isf is None and "," in plugin:  # one ISF for them all
            isf = Path(tmp) / "vmlinux.json"
            write_isf(linux, isf, progress=False)
        for name in plugin.split(","):
            print(run(linux, name, rest, isf, record), end="")
        if args.save_lime is not None:
            ranges = save_lime(linux, record, args.save_lime)
            pages = len(record.read)
            print(
                f"wrote {args.save_lime}: the {pages} pages Volatility used ({pages * 4} KiB) "
                f"in {len(ranges)} ranges, as LiME",
                file=sys.stderr,
            )
    return 0


def _target_and(words: list[str], what: str) -> tuple[str, str]:
    """([HOST:PORT], X) from one or two positional words."""
    if len(words) == 1:
        return DEFAULT_TARGET, words[0]
    if len(words) == 2:
        return words[0], words[1]
    raise ClientError(f"give [HOST:PORT] {what}, e.g. 127.0.0.1:1234 {what}")


def _writable(path: Path) -> None:
    try:
        path.open("ab").close()
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror}") from None


def cmd_plot_memmap(args: argparse.Namespace) -> int:
    from ramooflax.plugins.memmap import collect, draw, output_format

    target, pid_text = _target_and(args.where, "PID")
    if not pid_text.isdigit():
        raise ClientError(f"{pid_text!r} is not a process id (`ramooflax ps` lists them)")
    output_format(args.output)
    fresh = not args.output.exists()
    _writable(args.output)
    try:
        with _vm(target) as vm:
            mm = collect(
                _linux(vm),
                int(pid_text),
                others=args.others,
                progress=None if args.quiet else _progress,
            )
        draw(mm, args.output)
    except BaseException:
        if fresh:
            args.output.unlink(missing_ok=True)
        raise
    print(
        f"wrote {args.output}: {mm.task.comm} (pid {mm.task.pid}), {len(mm.areas)} areas, "
        f"{len(mm.tables)} table pages, {mm.bytes_read / 1e3:.0f} kB read in {mm.seconds:.1f} s"
    )
    return 0


def cmd_plot_boot(args: argparse.Namespace) -> int:
    from ramooflax.plugins.boot_timeline import record, write_html

    fresh = not args.output.exists()
    _writable(args.output)
    try:
        with _vm(args.target) as vm:
            trace = record(vm, timeout=args.timeout, progress=not args.quiet)
        write_html(trace, args.output)
    except BaseException:
        if fresh:
            args.output.unlink(missing_ok=True)
        raise
    print(
        f"wrote {args.output}: {len(trace.steps)} events, {trace.vm_seconds:.1f} s of VM time "
        f"({trace.wall_seconds:.0f} s traced)"
    )
    return 0


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ramooflax.plugins import registry

    for p in registry():
        print(f"{p.name:14} {p.module:36} {p.summary}")
    return 0


def cmd_gdb(args: argparse.Namespace) -> int:
    from ramooflax.gdb import launch

    return launch.run(args.target, args.gdb_args)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (0x... or decimal)") from None


def _target(text: str) -> str:
    from ramooflax.transport import open_transport

    try:
        open_transport(text)
    except ClientError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT or serial:DEVICE[@BAUD] (e.g. 127.0.0.1:1234)"
        ) from None
    return text


TARGET_HELP = "the control channel: HOST:PORT (TCP) or serial:DEVICE[@BAUD]"


def _add_client(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _command(sub, "attach", "open the Python shell with `vm` attached to the VM (it stops)")
    p.add_argument("target", metavar="TARGET", type=_target, help=TARGET_HELP)
    p.set_defaults(func=cmd_attach)

    p = _command(sub, "regs", "print the VM's registers (the VM stops briefly, then runs on)")
    p.add_argument(
        "target",
        metavar="TARGET",
        nargs="?",
        default=DEFAULT_TARGET,
        type=_target,
        help=f"{TARGET_HELP}; default {DEFAULT_TARGET}",
    )
    p.add_argument("--gpr-only", action="store_true", help="general registers only")
    p.set_defaults(func=cmd_regs)

    p = _command(sub, "dump", "copy guest-physical memory to a file, with a progress bar")
    p.add_argument(
        "--phys",
        nargs=2,
        metavar=("ADDR", "LEN"),
        type=_int,
        help="the physical address and the length in bytes (0x... or decimal)",
    )
    p.add_argument("--all", action="store_true", help="all of the VM's RAM (LiME or raw)")
    p.add_argument("--format", choices=("lime", "raw"), default="lime", help="with --all")
    p.add_argument(
        "--ranges",
        choices=("auto", "kernel", "vmm"),
        default="auto",
        help="with --all: the RAM ranges from the guest kernel's map (System RAM in "
        "iomem), the VMM's view, or auto: the kernel's when readable",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        required=True,
        help="the file to write (removed again if the dump fails or is interrupted)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "target",
        metavar="TARGET",
        nargs="?",
        default=DEFAULT_TARGET,
        type=_target,
        help=f"{TARGET_HELP}; default {DEFAULT_TARGET}",
    )
    p.set_defaults(func=cmd_dump)

    p = _command(sub, "ps", "the guest's processes (Linux), from its memory")
    p.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default {DEFAULT_TARGET}")
    p.add_argument("--modules", action="store_true", help="the loaded modules instead")
    p.add_argument("--vmas", type=int, metavar="PID", help="a process's memory areas instead")
    p.add_argument("--vmlinuz", type=Path, help="use the kernel package instead of memory")
    p.set_defaults(func=cmd_ps)

    p = _command(sub, "isf", "write a Volatility 3 ISF from the kernel's BTF and kallsyms")
    p.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default {DEFAULT_TARGET}")
    p.add_argument("-o", "--output", type=Path, required=True, help="the ISF (JSON) to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_isf)

    p = _command(sub, "vol", "run a Volatility 3 plugin on the live, stopped VM")
    p.add_argument("target", help="[HOST:PORT] (default 127.0.0.1:1234), then PLUGIN")
    p.add_argument(
        "plugin",
        nargs="?",
        help="e.g. linux.pslist, linux.pstree, linux.lsmod (several: linux.pslist,linux.lsmod)",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="the plugin's --options")
    p.add_argument("--isf", type=Path, help="an ISF to use (default: made from the kernel)")
    p.add_argument(
        "--save-lime",
        type=Path,
        metavar="FILE",
        help="also write the pages the plugins read as a sparse LiME dump, for "
        "Volatility offline (vol -f FILE -s ISF_DIR ...)",
    )
    p.set_defaults(func=cmd_vol)

    plot = _command(sub, "plot", "pictures: a process's memory map, the boot timeline")
    plot_sub = plot.add_subparsers(dest="plot_command", metavar="PICTURE", required=True)
    p = _command(
        plot_sub,
        "memmap",
        "a process's areas, page tables and shared pages (Graphviz: .svg, .png, .pdf or .dot)",
    )
    p.add_argument(
        "where",
        nargs="+",
        metavar="[HOST:PORT] PID",
        help=f"the process id (`ramooflax ps`), after the target (default {DEFAULT_TARGET})",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="e.g. map.svg")
    p.add_argument(
        "--others",
        type=int,
        default=16,
        metavar="N",
        help="walk up to N other processes to say who shares pages (default 16)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_plot_memmap)
    p = _command(
        plot_sub,
        "boot",
        "the boot timeline as an HTML page (a VM booted "
        "with ctrl_wait=1, still waiting at its first instruction)",
    )
    p.add_argument("target", nargs="?", default=DEFAULT_TARGET, help=f"default {DEFAULT_TARGET}")
    p.add_argument("-o", "--output", type=Path, required=True, help="e.g. boot.html")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_plot_boot)

    p = _command(sub, "plugins", "list the installed analysis plugins")
    p.set_defaults(func=cmd_plugins)

    p = _command(sub, "gdb", "start gdb on the VM, set up for real mode, 16- and 32-bit code too")
    p.add_argument("target", metavar="TARGET", type=_target, help=TARGET_HELP)
    p.add_argument(
        "gdb_args",
        metavar="GDB_ARGS",
        nargs=argparse.REMAINDER,
        help="passed to gdb after the connection (e.g. -batch -ex 'x/4i $pc')",
    )
    p.set_defaults(func=cmd_gdb)


HV_OPTIONS = ("ctrl_wait", "ctrl_timeout", "ctrl_poll")


def _hv_option(text: str) -> str:
    key, eq, value = text.partition("=")
    if key not in HV_OPTIONS or not eq or not value or " " in value:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give KEY=VALUE with KEY one of {', '.join(HV_OPTIONS)} "
            "(the lab sets ctrl=, log= and disk= itself)"
        )
    return text


def _cores(text: str) -> int:
    """--smp N: 1-64 cores."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--smp takes a number of cores, not {text!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"--smp {n}: the lab runs 1 to 64 cores")
    return n


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def _ctrl(text: str) -> str:
    from ramooflax.lab import qemu

    try:
        qemu.ctrl_nic(text)
    except LabError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


KERNEL_HELP = (
    "a Debian kernel package instead of linux-image-amd64/686, e.g. "
    "linux-image-amd64=6.12.95-1~bpo12+1 (from bookworm-backports)"
)


def _add_lab(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from ramooflax.lab import qemu
    from ramooflax.lab.bochs import DEFAULT_CPU as bochs_default
    from ramooflax.lab.bochs import MODELS as bochs_models

    lab = _command(
        sub, "lab", "the QEMU (or Bochs) lab: guest disks, boots under the hypervisor, USB image"
    )
    lab_sub = lab.add_subparsers(
        dest="lab_command",
        metavar="COMMAND",
        required=True,
        help="build-guest, run, usb-image, conformance or demo",
    )

    p = _command(lab_sub, "build-guest", "build a guest disk (MBR, GRUB, Debian kernel, busybox)")
    p.add_argument(
        "--arch",
        choices=GUEST_ARCHES,
        default="amd64",
        help="the guest's architecture (default amd64; i386 boots Debian's 686 kernel)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--kernel-package", metavar="NAME[=VERSION]", help=KERNEL_HELP)
    p.add_argument(
        "--firmware",
        choices=FIRMWARES,
        default="bios",
        help="bios: MBR disk, GRUB i386-pc (default); uefi: GPT disk, an ESP "
        "with GRUB x86_64-efi (amd64)",
    )
    p.set_defaults(func=cmd_build_guest)

    p = _command(lab_sub, "run", "boot a guest under the hv; run --cmd in it, or use its console")
    p.add_argument(
        "--guest",
        choices=GUEST_ARCHES,
        default="amd64",
        help="the guest disk to boot (default amd64)",
    )
    p.add_argument("--no-hv", action="store_true", help="boot the guest without the hypervisor")
    p.add_argument(
        "--kernel-package",
        metavar="NAME[=VERSION]",
        help="the guest built with this kernel (see build-guest)",
    )
    p.add_argument(
        "--mem", default="512M", help="guest RAM (QEMU -m), default 512M (Bochs: at most 2G)"
    )
    p.add_argument(
        "--smp",
        type=_cores,
        help=f"cores of the machine (QEMU -smp), default {DEFAULT_SMP} "
        "(under Bochs 1: each core slows the emulation down)",
    )
    p.add_argument(
        "--emulator",
        choices=EMULATORS,
        default="qemu",
        help="qemu: QEMU TCG, AMD-V (default); bochs: Bochs 2.7, VT-x on "
        "its Intel models, AMD-V on trinity_apu, about 10x slower "
        "(docs/lab.md)",
    )
    p.add_argument(
        "--cpu",
        metavar="MODEL",
        help=f"CPU model: QEMU's (default {qemu.DEFAULT_CPU}; +svm,+npt are "
        f"added) or, with --emulator bochs, one of {', '.join(bochs_models)} "
        f"(default {bochs_default})",
    )
    p.add_argument(
        "--ctrl-port",
        metavar="PORT",
        type=_port,
        help="TCP port of the hypervisor's control channel (COM2, or with --ctrl net the host "
        "port forwarded to the VMM's NIC; default: a free one)",
    )
    p.add_argument(
        "--ctrl",
        type=_ctrl,
        default="uart",
        metavar="uart|net[:MODEL]",
        help="the control channel: uart (COM2, default) or net (a NIC the VMM owns, "
        "10.0.2.15:1234 on QEMU's user network, forwarded from --ctrl-port); MODEL is "
        f"the NIC, one of {', '.join(qemu.CTRL_NICS)} (default e1000; e1000e and igb are "
        "PCIe parts: use them with --machine q35)",
    )
    p.add_argument(
        "--machine",
        choices=qemu.BOARDS,
        default="pc",
        help="QEMU's board: pc (i440FX, default) or q35 (PCIe, with an ECAM window)",
    )
    p.add_argument(
        "--console-port",
        metavar="PORT",
        type=_port,
        help="TCP port of the guest console (COM1; default: a free one)",
    )
    p.add_argument("--log", type=Path, help="hv log file (COM3), default under build/lab/")
    p.add_argument("--cmd", help="run this shell command in the guest, then power off")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed for --cmd")
    p.add_argument(
        "--hv-option",
        action="append",
        default=[],
        type=_hv_option,
        metavar="KEY=VALUE",
        help="add a hypervisor boot option (repeatable): ctrl_wait=1, ctrl_timeout=N, ctrl_poll=N",
    )
    p.add_argument(
        "--usb",
        type=Path,
        metavar="IMAGE",
        help="boot the hv from this USB image (first disk; the guest is second)",
    )
    p.add_argument(
        "--firmware",
        choices=FIRMWARES,
        default="bios",
        help="bios: SeaBIOS, the hv from multiboot (default); uefi: OVMF, the hv "
        "as ramooflax.efi on a key booted before the guest disk "
        "(docs/uefi.md)",
    )
    p.set_defaults(func=cmd_run)

    p = _command(
        lab_sub,
        "usb-image",
        "write the hypervisor's USB key: it boots BIOS machines (GRUB in the MBR) and UEFI "
        "ones (\\EFI\\BOOT\\BOOTX64.EFI on an EFI System Partition)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="image file to write")
    p.add_argument(
        "--disk",
        default="0x81",
        help="BIOS drive the hv boots (default 0x81: the disk after the USB key)",
    )
    p.set_defaults(func=cmd_usb_image)

    p = _command(
        lab_sub,
        "conformance",
        "boot the test kernel natively and under the hv; compare every check",
    )
    p.epilog = (
        "Boots the conformance test kernel (tests/guest, docs/conformance.md) "
        "without and under the hypervisor and prints, per check, the two results and the "
        "verdict: same, policy or tcg (a documented difference), FAIL. Exit status 1 if any "
        "check fails."
    )
    p.add_argument(
        "--cpu",
        action="append",
        metavar="MODEL",
        help=f"QEMU CPU model (repeatable; default {qemu.DEFAULT_CPU}), or a Bochs "
        f"one with --emulator bochs (default {bochs_default})",
    )
    p.add_argument(
        "--emulator",
        choices=EMULATORS,
        default="qemu",
        help="qemu (default) or bochs: one machine at a time, one core (docs/lab.md)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GROUPS",
        help="groups to run (comma-separated): a group (pm32.cr4), a mode (pm32) or a family (cr4)",
    )
    p.add_argument("--all", action="store_true", help="list every check, not only the differences")
    p.add_argument(
        "--endings",
        action="store_true",
        help="also boot the triple-fault and reset groups (one boot each)",
    )
    p.add_argument(
        "--group-timeout",
        type=float,
        default=4.0,
        metavar="S",
        help="seconds without output before a group counts as dead (default 4)",
    )
    p.add_argument("--logs", type=Path, help="directory of the QEMU/hv logs (default build/lab)")
    p.set_defaults(func=cmd_conformance)

    p = _command(lab_sub, "demo", "boot the amd64 guest under the hv and show both views")
    p.add_argument("--mem", default="512M", help="guest RAM (QEMU -m), default 512M")
    p.set_defaults(func=cmd_demo)


def _command(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, what: str
) -> argparse.ArgumentParser:
    """A subcommand whose one-line description serves its own --help and the command list."""
    return sub.add_parser(name, description=what[0].upper() + what[1:] + ".")


def _commands(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, str]]:
    """(command, one-line description) for every subcommand of parser, depth first."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                what = (sub.description or "").rstrip(".")
                out.append((f"{path}{name}", what[:1].lower() + what[1:]))
                out += _commands(sub, f"{path}{name} ")
    return out


ABOUT = """\
The client and the lab of Ramooflax, a thin bare-metal x86 hypervisor (AMD-V or
Intel VT-x) that boots before an installed OS, runs it in a VM, and lets a remote debugger
control that VM: registers (system ones too), physical and virtual memory,
breakpoints, single-step and filters on vm-exits.

The client commands talk to the hypervisor's control channel (the GDB remote
protocol and its qRfx extensions) over TCP or a serial line; the lab boots real
Debian guests under the hypervisor in QEMU."""

EPILOG = """\
TARGET is HOST:PORT (in the lab: 127.0.0.1 and the --ctrl-port of `lab run`) or
serial:DEVICE[@BAUD]. `ramooflax COMMAND --help` lists a command's options.
Documentation: docs/client.md (the client and the shell), docs/protocol.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ramooflax", description=ABOUT, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"ramooflax {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="one of the commands below"
    )
    _add_client(sub)
    _add_lab(sub)
    commands = _commands(parser)
    width = max(len(name) for name, _ in commands) + 2
    listing = "\n".join(f"  {name:<{width}}{what}" for name, what in commands)
    parser.epilog = f"commands:\n{listing}\n\n{EPILOG}"
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
