"""The conformance run (docs/conformance.md).

The test kernel (tests/guest/, ramooflax.lab.testkernel) is booted by GRUB on
the bare emulated machine ("native") and under the hypervisor ("hv"), with
the same QEMU command line but for the hypervisor's own -kernel/-initrd. It
prints one `RFXT <group>.<check> <result>` line per check; the two sets are
compared check by check, and must be equal except where DIFFERENCES (below,
and the table of docs/conformance.md) says why and what the hypervisor must
show instead.

A group that ends the machine (the hypervisor halts, QEMU exits, nothing is
printed for GROUP_TIMEOUT seconds) is recorded as dead, with the reason and
the tail of the hypervisor's log, and the kernel is booted again from the
next group (`from=`): one bad check costs its group, not the run.

    pair = run_pair("EPYC")          # native and hv, in parallel
    for v in compare(pair): ...      # one Verdict per check
"""

import fnmatch
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import facts, testkernel
from ramooflax.lab.machine import Machine, MachineSpec

START = "RFXT-START"
BOOT_TIMEOUT = 60.0  # QEMU start to RFXT-START (SeaBIOS, the hv, GRUB): about 1 s
# A group is hung after GROUP_TIMEOUT seconds of QEMU's own CPU time without
# a line (a check takes milliseconds; CPU time, so that a loaded host does
# not make a slow group look hung), or IDLE_TIMEOUT seconds of wall time.
GROUP_TIMEOUT = 4.0
IDLE_TIMEOUT = 40.0
MAX_BOOTS = 40  # per run: the first boot and one after each dead group
HV_HALTED = ("vmm: halted", "the machine is halted", "setup: halted")
SKIP_TCG = "skip tcg-quirk"
_LINE = re.compile(r"^(RFXT|RFXT-[A-Z]+|RFXB)(?: (.*))?$")

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class Group:
    name: str
    checks: dict[str, str] = field(default_factory=dict)  # full check name -> result
    status: str = "not-run"  # "done", "dead", "not-run"
    reason: str = ""


@dataclass
class Run:
    """One configuration's results, over as many boots as its dead groups took."""

    cpu: str
    with_hv: bool
    emulator: str = "qemu"  # or "bochs" (one core; cpu is then a Bochs model)
    plan: list[str] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    bench: dict[str, int] = field(default_factory=dict)
    boots: int = 0
    seconds: float = 0.0
    hv_log: str = ""  # the first boot's: it names the VMM's range
    done: bool = False
    last: str = ""  # the last line of the last boot

    @property
    def label(self) -> str:
        return "hv" if self.with_hv else "native"

    def __repr__(self) -> str:
        dead = sum(g.status == "dead" for g in self.groups.values())
        return (f"<Run {self.label} -cpu {self.cpu}: {len(self.checks())} checks, "
                f"{dead} dead groups, {self.boots} boots>")  # fmt: skip

    def checks(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in self.plan or list(self.groups):
            if name in self.groups:
                out.update(self.groups[name].checks)
        return out

    def group(self, name: str) -> Group:
        return self.groups.setdefault(name, Group(name))


@dataclass
class Pair:
    cpu: str
    native: Run
    hv: Run

    def __repr__(self) -> str:
        return f"<Pair -cpu {self.cpu}: {self.native!r} {self.hv!r}>"

    def vmm_range(self) -> facts.Range:
        return facts.vmm_range(self.hv.hv_log)


def _group_of(check: str) -> str:
    return ".".join(check.split(".")[:2])


def log_tail(log: str, lines: int = 8, all_lines: bool = False) -> str:
    """What the VMM said once the VM ran: its `vmm:` and `vm:` lines (not the
    VMCB dumps and exit counts), the last `lines` of them, indented; with
    all_lines, the last lines of the whole log (setup's too)."""
    if all_lines:
        said = log.strip().splitlines()[-lines:]
    else:
        text = log.split("vmm: starting the VM", 1)[-1]
        said = [x for x in text.splitlines() if x.startswith(("vmm:", "vm:"))][-lines:]
    return "\n".join(f"    {x}" for x in said) or "    (nothing after `vmm: starting the VM`)"


def _cpu_seconds(machine: Machine) -> float:
    """CPU time QEMU has used (user + system, /proc/PID/stat); 0 if unknown."""
    import os

    if machine.proc is None:
        return 0.0
    try:
        stat = Path(f"/proc/{machine.proc.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_tail(machine: Machine) -> str:
    return log_tail(machine.log_text())


class _Reader:
    """Turns the console transcript into RFXT lines, as they come."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.pos = 0
        self.partial = ""
        self.current: str | None = None
        self.seen_start = False
        self.planned = False
        self.fatal = ""

    def feed(self, text: str) -> bool:
        """Handles the new complete lines; True if there were any."""
        chunk = text[self.pos :]
        self.pos = len(text)
        if not chunk:
            return False
        data = (self.partial + chunk).replace("\r", "")
        *lines, self.partial = data.split("\n")
        for line in lines:
            self.line(line.strip())
        return bool(lines)

    def line(self, line: str) -> None:
        match = _LINE.match(line)
        if not match:
            return
        kind, rest = match.group(1), match.group(2) or ""
        run = self.run
        run.last = line
        if kind == START:
            self.seen_start = True
        elif kind == "RFXT-PLAN" and not self.planned:
            self.planned = True
            if run.boots == 1:
                run.plan = rest.split()
        elif kind == "RFXT-BEGIN":
            self.current = rest
            run.group(rest).status = "running"
        elif kind == "RFXT-END":
            run.group(rest).status = "done"
            self.current = None
        elif kind == "RFXT-DONE":
            run.done = True
        elif kind == "RFXT-FATAL":
            self.fatal = line
        elif kind == "RFXB":
            name, _, value = rest.partition(" ")
            if value.strip().isdigit():
                run.bench[name] = int(value)
        elif kind == "RFXT":
            check, _, result = rest.partition(" ")
            run.group(_group_of(check)).checks[check] = result


def _boot(run: Run, cmdline: str, log: Path, group_timeout: float, say: Say) -> str | None:
    """Boots the kernel once with cmdline, adding what it prints to run.

    Returns None when the kernel finished, else the group that was running
    (or due) when the machine died; that group is marked dead with why."""
    image = testkernel.image(cmdline)
    spec = MachineSpec(with_hv=run.with_hv, cpu=run.cpu, image=image, log=log, ready_marker=START)
    if run.emulator != "qemu":
        spec = replace(spec, emulator=run.emulator, smp=1)
    machine = Machine(spec)
    reader = _Reader(run)
    machine.start()
    try:
        last = time.monotonic()
        last_cpu = 0.0
        why = ""
        while not why:
            if reader.feed(machine.console_text()):
                last, last_cpu = time.monotonic(), _cpu_seconds(machine)
            if run.done:
                break
            idle = time.monotonic() - last
            busy = _cpu_seconds(machine) - last_cpu
            if not reader.seen_start:
                hung = idle > BOOT_TIMEOUT
            else:
                hung = busy > group_timeout or idle > max(IDLE_TIMEOUT, group_timeout)
            if reader.fatal:
                why = f"the kernel stopped: {reader.fatal}"
            elif not machine.alive():
                why = (
                    f"{machine.emulator_name} exited "
                    f"(status {machine.proc.returncode if machine.proc else '?'}): "
                    "the machine reset or shut down (QEMU runs with -no-reboot)"
                )
            elif run.with_hv and any(m in machine.log_text() for m in HV_HALTED):
                why = "the hypervisor halted"
            elif hung:
                why = (
                    f"no output for {idle:.0f} s ({busy:.0f} s of {machine.emulator_name}'s "
                    "CPU): the machine hangs or loops"
                )
            else:
                time.sleep(0.05)
        if run.with_hv and not run.hv_log:
            run.hv_log = machine.log_text()
        if run.done:
            return None
        time.sleep(0.2)  # what was on its way when it died
        reader.feed(machine.console_text())
        if not reader.seen_start:
            # Nothing ran: every group of this boot is dead, for the same reason.
            reason = f"the test kernel never started: {why} (boot {run.boots}: {cmdline})"
            if run.with_hv:
                reason += f"\n  hv log ({log}):\n{log_tail(machine.log_text(), 6, all_lines=True)}"
            else:
                reason += f"\n  last console lines:\n{machine.console_text()[-600:]}"
            for name in run.plan:
                if run.group(name).status == "not-run":
                    run.group(name).status = "dead"
                    run.group(name).reason = reason
            say(f"[{run.label} {run.cpu}] {why} before the kernel started")
            return None
        victim = reader.current or _next_group(run)
        if victim is None:
            raise LabError(f"the machine died after its last group ({run.label}): {why}")
        group = run.group(victim)
        group.status = "dead"
        where = f"after {list(group.checks)[-1]}" if group.checks else "before its first check"
        group.reason = f"{why}, {where} (boot {run.boots}: {cmdline or 'no options'})"
        if run.with_hv:
            group.reason += f"\n  hv log tail ({log}):\n{_log_tail(machine)}"
            if why.startswith("no output"):
                group.reason += "\n" + _exits_now(machine)
        say(f"[{run.label} {run.cpu}] {victim}: {why}")
        return victim
    finally:
        machine.stop()


def _exits_now(machine: Machine) -> str:
    """For a hang under the hv: which exits the VMM keeps taking (`monitor
    exits` twice, a second apart), or that it does not answer at all."""
    from ramooflax.errors import RamooflaxError

    try:
        first = facts.exit_counts(machine.monitor("exits", 2))[1]
        time.sleep(1)
        second = facts.exit_counts(machine.monitor("exits", 2))[1]
    except RamooflaxError:
        return "  the VMM does not answer on its control channel: the VM runs without exits"
    rates = sorted(((n - first.get(k, 0), k) for k, n in second.items()), reverse=True)
    busy = ", ".join(f"{k} {d}/s" for d, k in rates if d > 0)[:200]
    return f"  exits in one second: {busy or 'none (the VM runs without exits)'}"


def _next_group(run: Run) -> str | None:
    for name in run.plan:
        if run.group(name).status == "not-run":
            return name
    return None


def run(
    cpu: str,
    with_hv: bool,
    logs: Path,
    only: Iterable[str] = (),
    group_timeout: float = GROUP_TIMEOUT,
    max_boots: int = MAX_BOOTS,
    say: Say = _quiet,
    options: Iterable[str] = (),
    emulator: str = "qemu",
) -> Run:
    """All the selected groups in one configuration (a boot, and one more
    after each group that killed the machine). options: more kernel options
    (`bench_runs=N`); emulator: "bochs" runs it under Bochs (one core)."""
    logs.mkdir(parents=True, exist_ok=True)
    result = Run(cpu, with_hv, emulator)
    base = ([] if with_hv else ["tcg_quirks=1"]) + list(options)
    only = list(only)
    result.plan = testkernel.plan(only)  # the kernel's RFXT-PLAN replaces it
    if only:
        base.append("only=" + ",".join(only))
    started = time.monotonic()
    start_from: str | None = None
    while True:
        cmdline = " ".join(base + ([f"from={start_from}"] if start_from else []))
        result.boots += 1
        log = logs / f"{result.label}-{cpu.replace(',', '_')}-{result.boots}.log"
        dead = _boot(result, cmdline, log, group_timeout, say)
        if dead is None:
            break
        start_from = _next_group(result)
        if start_from is None:
            break
        if result.boots >= max_boots:
            for name in result.plan:
                group = result.group(name)
                if group.status == "not-run":
                    group.reason = f"not run: the machine died {result.boots} times before"
            break
    result.seconds = time.monotonic() - started
    say(
        f"[{result.label} {cpu}] {len(result.checks())} checks in {result.seconds:.1f} s, "
        f"{result.boots} boot(s)"
    )
    return result


def run_pair(
    cpu: str,
    logs: Path,
    only: Iterable[str] = (),
    group_timeout: float = GROUP_TIMEOUT,
    say: Say = _quiet,
) -> Pair:
    """The native and the hv run of one CPU model, side by side (two QEMUs)."""
    only = list(only)
    out: dict[bool, Run] = {}
    errors: list[BaseException] = []

    def go(with_hv: bool) -> None:
        try:
            out[with_hv] = run(cpu, with_hv, logs, only, group_timeout, say=say)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(hv,), daemon=True) for hv in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return Pair(cpu, out[False], out[True])


def run_pairs(
    cpus: Iterable[str],
    logs: Path,
    only: Iterable[str] = (),
    group_timeout: float = GROUP_TIMEOUT,
    workers: int = 2,
    say: Say = _quiet,
    emulator: str = "qemu",
) -> dict[str, Pair]:
    """The pairs of several CPU models, on `workers` QEMUs at a time: the hv
    runs (they boot again after each dead group) are started first. Under
    Bochs (emulator "bochs", Bochs models) one machine runs at a time."""
    from concurrent.futures import ThreadPoolExecutor

    cpus, only = list(dict.fromkeys(cpus)), list(only)
    jobs = [(cpu, True) for cpu in cpus] + [(cpu, False) for cpu in cpus]
    if emulator != "qemu":
        workers = 1
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            job: pool.submit(
                run, job[0], job[1], logs, only, group_timeout, MAX_BOOTS, say, (), emulator
            )
            for job in jobs
        }
        results = {job: f.result() for job, f in futures.items()}
    return {cpu: Pair(cpu, results[(cpu, False)], results[(cpu, True)]) for cpu in cpus}


# -- comparing --------------------------------------------------------------

_FIELD = re.compile(r"(\w+)=(0x[0-9a-f]+|\d+|\w+)")


def fields(result: str) -> dict[str, int | str]:
    """The name=value fields of a result line (numbers as int)."""
    out: dict[str, int | str] = {}
    for key, value in _FIELD.findall(result):
        if value.startswith("0x"):
            out[key] = int(value, 16)
        elif value.isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    return out


def events(result: str) -> str:
    """The leading part of a result: "ok", "skip <why>" or the events
    ("#GP(0x0)@insn #DB@next"), without DR6 and the value fields."""
    out = []
    for token in result.split():
        if token.startswith("dr6="):
            continue
        if "=" in token:
            break
        out.append(token)
    return " ".join(out)


@dataclass(frozen=True)
class Context:
    pair: Pair

    def vmm(self) -> facts.Range:
        return self.pair.vmm_range()


Expect = Callable[[Context, str, str], str | None]


def apm_gp(_: Context, native: str, hv: str) -> str | None:
    """#GP(0) at the instruction, and the register left as it was."""
    got = events(hv)
    if got != "#GP(0x0)@insn":
        return f"expected #GP(0x0)@insn, got {got!r}"
    f = fields(hv)
    if "old" in f and "rd" in f and f["old"] != f["rd"]:
        return f"the faulting write changed the register: old=0x{f['old']:x} rd=0x{f['rd']:x}"
    return None


def svm_bit_cleared(_: Context, native: str, hv: str) -> str | None:
    """CPUID 8000_0001 ECX as natively, but bit 2 (SVM) clear."""
    n, h = fields(native), fields(hv)
    if events(hv) != "ok" or "ecx" not in h or "ecx" not in n:
        return f"expected the leaf, got {hv!r}"
    want = int(n["ecx"]) & ~(1 << 2)
    if h["ecx"] != want:
        return f"expected ecx=0x{want:08x} (SVM cleared), got ecx=0x{int(h['ecx']):08x}"
    return None


def leaf_zero(_: Context, native: str, hv: str) -> str | None:
    """CPUID 8000_000A (SVM features) all zero."""
    h = fields(hv)
    if events(hv) != "ok" or any(h.get(r) != 0 for r in ("eax", "ebx", "ecx", "edx")):
        return f"expected eax=ebx=ecx=edx=0, got {hv!r}"
    return None


def vmx_bit_cleared(_: Context, native: str, hv: str) -> str | None:
    """CPUID 1 as natively, but ECX[5] (VMX) clear."""
    n, h = fields(native), fields(hv)
    if events(hv) != "ok":
        return f"expected the leaf, got {hv!r}"
    if "vmx" in n:
        return None if h.get("vmx") == 0 else f"expected vmx=0, got {hv!r}"
    want = int(n["ecx"]) & ~(1 << 5)
    if h.get("ecx") != want or h.get("eax") != n.get("eax") or h.get("edx") != n.get("edx"):
        return f"expected ecx=0x{want:08x} (VMX cleared), the rest as natively, got {hv!r}"
    return None


def feature_control_off(_: Context, native: str, hv: str) -> str | None:
    """IA32_FEATURE_CONTROL as a CPU without VMX shows it: locked, VMX off (1)."""
    if events(hv) != "ok" or fields(hv).get("val") != 1:
        return f"expected ok val=0x1 (locked, both VMX enables clear), got {hv!r}"
    return None


def _map(result: str) -> list[facts.Range]:
    return [
        facts.Range(int(a, 16), int(a, 16) + int(n, 16), t)
        for a, n, t in re.findall(r"([0-9a-f]+)\+([0-9a-f]+):(\d+)", result)
    ]


def carve(ranges: list[facts.Range], hole: facts.Range) -> list[facts.Range]:
    """ranges with hole taken out (entries split or cut where they overlap it)."""
    out: list[facts.Range] = []
    for r in ranges:
        if not r.overlaps(hole):
            out.append(r)
            continue
        if r.start < hole.start:
            out.append(facts.Range(r.start, hole.start, r.kind))
        if r.end > hole.end:
            out.append(facts.Range(hole.end, r.end, r.kind))
    return out


def map_carved(ctx: Context, native: str, hv: str) -> str | None:
    """The memory map natively, without the VMM's range."""
    want = carve(_map(native), ctx.vmm())
    got = _map(hv)
    if events(hv) != "ok" or got != want:
        show = " ".join(f"{r.start:x}+{r.size:x}:{r.kind}" for r in want)
        return f"expected the native map without the VMM range {ctx.vmm()}: {show}"
    return None


def e801_carved(ctx: Context, native: str, hv: str) -> str | None:
    """INT 15h E801h: the 64 KiB blocks above 16 MiB end at the VMM's range."""
    n, h = fields(native), fields(hv)
    blocks = min(int(n["bx"]), max(0, (ctx.vmm().start - (16 << 20)) >> 16))
    want = {"ax": n["ax"], "cx": n["cx"], "bx": blocks, "dx": blocks, "cf": 0}
    bad = {k: h.get(k) for k, v in want.items() if h.get(k) != v}
    return f"expected {want}, differs in {bad}" if bad else None


def mem_carved(ctx: Context, native: str, hv: str) -> str | None:
    """multiboot mem_upper (KiB from 1 MiB): it ends at the VMM's range."""
    n, h = fields(native), fields(hv)
    upper = min(int(n["upper"]), (ctx.vmm().start - (1 << 20)) >> 10)
    if h.get("lower") != n["lower"] or h.get("upper") != upper:
        return f"expected lower={n['lower']} upper={upper}, got {hv!r}"
    return None


def native_or_gp(ctx: Context, native: str, hv: str) -> str | None:
    """As natively, or #GP(0) at the instruction with the register unchanged."""
    if hv == native or apm_gp(ctx, native, hv) is None:
        return None
    return f"expected the native result or #GP(0x0)@insn with the register unchanged, got {hv!r}"


def df_or_injected_np(_: Context, native: str, hv: str) -> str | None:
    """#DF, or the #NP of the gate as QEMU's SVM event injection gives it."""
    got = events(hv)
    if got in ("#DF(0x0)", "#NP(0x6a)@insn"):
        return None
    return f"expected #DF(0x0) (or #NP(0x6a)@insn from TCG's injection), got {got!r}"


def _cd_clear(_: str, native: str) -> bool:
    return not int(fields(native).get("old", 0)) & (1 << 30)


def _lacks(_: str, native: str) -> bool:
    return "cpu=lacks" in native


def _has_vmx(_: str, native: str) -> bool:
    """The native result shows a CPU with VMX (the Intel models under Bochs)."""
    f = fields(native)
    if "vmx" in f:
        return f["vmx"] == 1
    if "ecx" in f and "eax" in f:  # pm32.boot.cpuid_1
        return bool(int(f["ecx"]) & (1 << 5))
    return events(native) == "ok" and bool(int(f.get("val", 0)) & 4)


def _vmx_basic_read(_: str, native: str) -> bool:
    """IA32_VMX_BASIC read natively with a VMCS revision in it: a CPU with VMX
    (QEMU's TCG answers 0 on an AMD model, as it does for MSRs it lacks)."""
    return events(native) == "ok" and int(fields(native).get("val", 0)) != 0


def _cpu_has(_: str, native: str) -> bool:
    return "cpu=has" in native


def _always(_: str, __: str) -> bool:
    return True


def _tcg_skipped(_: str, native: str) -> bool:
    return native.startswith(SKIP_TCG)


def _high_bit(check: str, _: str) -> bool:
    bit = check.rsplit(".bit", 1)[-1]
    return bit.isdigit() and int(bit) >= 32


@dataclass(frozen=True)
class Difference:
    """A documented difference: for the checks `pattern` names (and whose
    native result `when` accepts), the hv result is judged by `expect`
    instead of being compared with the native one."""

    pattern: str
    kind: str  # "policy": the hypervisor's own; "tcg": QEMU's TCG departs from the APM
    summary: str
    ref: str
    expect: Expect
    when: Callable[[str, str], bool] = _always  # (check, native result)

    def applies(self, check: str, native: str) -> bool:
        return fnmatch.fnmatchcase(check, self.pattern) and self.when(check, native)


_HIDDEN = "docs/architecture.md §7-§8 (intercepts, the SVM backend): SVM is the VMM's own"
_VMX = "docs/vmx.md (the policy, as on AMD): VMX is the VMM's own"
DIFFERENCES: tuple[Difference, ...] = (
    Difference("*.cpuid_e1", "policy", "CPUID 8000_0001 ECX[2] (SVM) is clear", _HIDDEN,
               svm_bit_cleared),
    Difference("*.cpuid_ea", "policy", "CPUID 8000_000A (SVM features) reads as zeros", _HIDDEN,
               leaf_zero),
    Difference("*.efer.bit12", "policy", "EFER.SVME cannot be set: #GP(0), as without SVM",
               _HIDDEN, apm_gp),
    Difference("*.svm.vm_cr", "policy", "RDMSR VM_CR (C001_0114h): #GP(0), as without SVM",
               "APM Vol.2 §15.30.1", apm_gp),
    Difference("*.svm.hsave_pa", "policy",
               "RDMSR VM_HSAVE_PA (C001_0117h): #GP(0), as without SVM", "APM Vol.2 §15.30.4",
               apm_gp),
    Difference("pm32.boot.cpuid_1", "policy", "CPUID 1 ECX[5] (VMX) is clear", _VMX,
               vmx_bit_cleared, _has_vmx),
    Difference("*.vmx.cpuid_1", "policy", "CPUID 1 ECX[5] (VMX) is clear", _VMX,
               vmx_bit_cleared, _has_vmx),
    Difference("*.vmx.feature_control", "policy",
               "RDMSR IA32_FEATURE_CONTROL (3Ah): locked with VMX off, as without VMX",
               "Intel SDM Vol.3C §23.7", feature_control_off, _has_vmx),
    Difference("*.vmx.vmx_basic", "policy", "RDMSR IA32_VMX_BASIC (480h): #GP(0), as without VMX",
               "Intel SDM Vol.3D Appendix A.1", apm_gp, _vmx_basic_read),
    Difference("*.cr4.bit13", "policy", "CR4.VMXE cannot be set: #GP(0), as without VMX", _VMX,
               apm_gp, _cpu_has),
    Difference("real.int.e820", "policy", "INT 15h E820h: the map without the VMM's range",
               "docs/boot-stub.md (what the BIOS keeps doing)", map_carved),
    Difference("pm32.boot.mmap", "policy",
               "GRUB's multiboot map (from E820h): without the VMM's range",
               "docs/boot-stub.md", map_carved),
    Difference("real.int.e801", "policy",
               "INT 15h E801h: memory above 16 MiB ends at the VMM's range",
               "docs/boot-stub.md", e801_carved),
    Difference("pm32.boot.mem", "policy", "multiboot mem_upper ends at the VMM's range",
               "docs/boot-stub.md", mem_carved),
    Difference("*.df.gp_np_gate", "tcg",
               "a #GP reflected by the VMM through a not-present gate: TCG's SVM event "
               "injection never makes the #NP a #DF (QEMU target/i386/tcg/system/svm_helper.c: "
               "an injected exception skips the double-fault bookkeeping)",
               "APM Vol.2 §8.2.9 Table 8-7, §15.20", df_or_injected_np),
    Difference("*", "tcg", "skipped natively (the write hangs or kills QEMU's TCG); "
               "the APM's answer: #GP(0), register unchanged",
               "APM Vol.2 §3.1 (CR0, CR3, CR4), §14.6-14.7; Intel SDM Vol.3A §2.5-2.6, §4.1.2",
               apm_gp, _tcg_skipped),
    Difference("*.efer.bit13", "tcg",
               "EFER.LMSLE: TCG drops it and its VMRUN refuses it, yet CPUID 8000_0008 EBX[20] "
               "(LMSLE unsupported) is clear: dropped as natively, or #GP(0)",
               "APM Vol.2 §3.1.7; APM Vol.3 Appendix E (CPUID 8000_0008 EBX)", native_or_gp,
               lambda c, n: "cpu=has" in n),
    Difference("*.efer.bit*", "tcg", "an EFER bit the CPU lacks: TCG drops it silently, "
               "the APM says #GP(0)", "APM Vol.2 §3.1.7 (EFER, reserved bits MBZ)", apm_gp,
               _lacks),
    Difference("*.cr0.bit29", "tcg", "CR0.NW without CD: TCG takes it, the APM says #GP(0)",
               "APM Vol.3 MOV CRn; Intel SDM Vol.2B MOV (control registers)", apm_gp,
               _cd_clear),
    Difference("*.cr0.nw_no_cd", "tcg", "CR0.NW without CD: TCG takes it, the APM says #GP(0)",
               "APM Vol.3 MOV CRn", apm_gp),
    Difference("*.cr0.bit*", "tcg",
               "CR0[63:32]: TCG drops the bits, the APM says #GP(0) (reserved, MBZ)",
               "APM Vol.2 §3.1.1", apm_gp, _high_bit),
    Difference("*.cr0.pg_lme_no_pae", "tcg",
               "CR0.PG with EFER.LME and no CR4.PAE: TCG ignores the write, the APM says #GP(0)",
               "APM Vol.2 §14.6.1", apm_gp),
    Difference("pae.efer.bit8", "tcg",
               "EFER.LME set while paging: TCG takes it, the APM says #GP(0)",
               "APM Vol.2 §14.6.1; Intel SDM Vol.3A §4.1.2", apm_gp),
    Difference("*.efer.lme_clear", "tcg",
               "EFER.LME cleared in long mode: TCG takes it, the APM says #GP(0)",
               "APM Vol.2 §14.6.1; Intel SDM Vol.3A §4.1.2", apm_gp),
)  # fmt: skip


def rule_for(check: str, native: str) -> Difference | None:
    for diff in DIFFERENCES:
        if diff.applies(check, native):
            return diff
    return None


@dataclass(frozen=True)
class Verdict:
    check: str
    native: str | None
    hv: str | None
    status: str  # "same", "policy", "tcg", "FAIL"
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def _death(run: Run, check: str) -> str:
    group = run.groups.get(_group_of(check))
    if group is None or not group.reason:
        return f"the {run.label} run has no result for it"
    return f"the {run.label} run has no result: its group died: {group.reason}"


def judge(ctx: Context, check: str, native: str | None, hv: str | None) -> Verdict:
    if native is None:
        return Verdict(check, native, hv, "FAIL", _death(ctx.pair.native, check))
    if hv is None:
        return Verdict(check, native, hv, "FAIL", _death(ctx.pair.hv, check))
    diff = rule_for(check, native)
    if diff is None:
        if native == hv:
            return Verdict(check, native, hv, "same")
        return Verdict(check, native, hv, "FAIL", "the hv result differs from the native one")
    try:
        bad = diff.expect(ctx, native, hv)
    except (KeyError, ValueError, LabError) as exc:
        bad = f"cannot judge it: {exc}"
    if bad:
        return Verdict(check, native, hv, "FAIL", f"{diff.summary} ({diff.ref}): {bad}")
    return Verdict(check, native, hv, diff.kind, diff.summary)


def compare(pair: Pair, group: str | None = None) -> list[Verdict]:
    """One verdict per check of the pair (of one group), in the kernel's order."""
    ctx = Context(pair)
    native, hv = pair.native.checks(), pair.hv.checks()
    names = list(native) + [c for c in hv if c not in native]
    if group is not None:
        names = [c for c in names if _group_of(c) == group]
        if not names:
            for run_ in (pair.native, pair.hv):
                g = run_.groups.get(group)
                if g is not None and g.status == "dead":
                    return [Verdict(group, None, None, "FAIL", f"{run_.label}: {g.reason}")]
            if group not in pair.native.plan:
                return [Verdict(group, None, None, "FAIL", "the native run did not plan it")]
    return [judge(ctx, c, native.get(c), hv.get(c)) for c in names]


def explain(verdicts: Iterable[Verdict], limit: int = 40) -> str:
    """The failing verdicts as text, one per line (a dead group's reason once)."""
    lines: list[str] = []
    reasons: set[str] = set()
    bad = [v for v in verdicts if v.failed]
    for v in bad[:limit]:
        note = v.note
        if "group died:" in note:
            head, _, reason = note.partition("group died: ")
            if reason in reasons:
                note = head + "group died (above)"
            reasons.add(reason)
        lines.append(f"{v.check}\n    native: {v.native}\n    hv:     {v.hv}\n    {note}")
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit} more")
    return "\n".join(lines)


def _short(text: str | None, width: int) -> str:
    text = "-" if text is None else text
    return text if len(text) <= width else text[: width - 1] + "~"


def table(verdicts: Iterable[Verdict], all_rows: bool = False) -> str:
    """A row per check: check, verdict, native result, hv result; only the
    rows that are not plainly the same unless all_rows. A dead group's checks
    are one row."""
    rows: list[tuple[str, str, str, str]] = []
    dead: set[str] = set()
    for v in verdicts:
        if not all_rows and v.status == "same":
            continue
        if v.failed and (v.native is None or v.hv is None):
            group = _group_of(v.check)
            if group in dead:
                continue
            dead.add(group)
            side = "hv" if v.hv is None else "native"
            rows.append((group + ".*", "FAIL", "" if side == "native" else "(results)",
                         "no result: group died" if side == "hv" else ""))  # fmt: skip
            continue
        rows.append((v.check, v.status, _short(v.native, 44), _short(v.hv, 44)))
    if not rows:
        return "(every check gives the same result natively and under the hypervisor)"
    w = [max(len(r[i]) for r in rows + [("check", "verdict", "native", "hv")]) for i in range(3)]
    out = [f"{'check':<{w[0]}}  {'verdict':<{w[1]}}  {'native':<{w[2]}}  hv"]
    out += [f"{a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}" for a, b, c, d in rows]
    return "\n".join(out)


def summary(pair: Pair, verdicts: list[Verdict]) -> str:
    """Counts per verdict, and each dead group with why."""
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    lines = ["verdicts: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    for run_ in (pair.native, pair.hv):
        for name in run_.plan:
            group = run_.groups.get(name)
            if group is not None and group.reason:
                lines.append(f"{run_.label} {name}: {group.reason}")
    return "\n".join(lines)


# -- the groups that end the machine ----------------------------------------

TRIPLE = ("pm32.triple_np", "pm32.triple_gp")
RESETS = ("pm32.reset_92", "pm32.reset_cf9", "pm32.reset_kbd")


@dataclass(frozen=True)
class Ending:
    """How a machine-ending group went in one configuration."""

    group: str
    with_hv: bool
    lines: dict[str, str]
    qemu_exited: bool
    hv_log: str


def run_ending(cpu: str, group: str, with_hv: bool, logs: Path, wait: float = 6.0) -> Ending:
    """Boots the kernel with only=<group>; waits for it to end the machine,
    or to say it survived, or for `wait` seconds of quiet."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{'hv' if with_hv else 'native'}-{group}.log"
    result = Run(cpu, with_hv)
    reader = _Reader(result)
    machine = Machine(
        MachineSpec(
            with_hv=with_hv, cpu=cpu, image=testkernel.image(f"only={group}"), log=log,
            ready_marker=START,
        )
    )  # fmt: skip
    machine.start()
    try:
        last = time.monotonic()
        while machine.alive() and not result.done:
            if reader.feed(machine.console_text()):
                last = time.monotonic()
            limit = wait if reader.seen_start else BOOT_TIMEOUT
            if time.monotonic() - last > limit:
                break
            if with_hv and "the VM shut down" in machine.log_text():
                time.sleep(0.3)
                break
            time.sleep(0.05)
        reader.feed(machine.console_text())
        return Ending(group, with_hv, result.checks(), not machine.alive(), machine.log_text())
    finally:
        machine.stop()


def judge_ending(native: Ending, hv: Ending) -> list[str]:
    """What is wrong with a machine-ending group's pair (empty: as documented).

    Natively the machine resets (QEMU exits, -no-reboot) after the kernel
    says it is armed; under the hypervisor a reset is blocked and logged and
    the kernel goes on, a triple fault is logged and the machine resets."""
    problems = []
    armed = f"{native.group}.armed"
    survived = f"{native.group}.survived"
    if native.lines.get(armed) != "ok" or not native.qemu_exited or survived in native.lines:
        problems.append(
            f"native: expected `{armed} ok` then QEMU's exit; got exit={native.qemu_exited}, "
            f"lines {native.lines}"
        )
    if hv.lines.get(armed) != "ok":
        problems.append(f"hv: the kernel never armed the group: lines {hv.lines}")
    tail = log_tail(hv.hv_log)
    if not hv.qemu_exited:
        tail += "\n    (the machine was still up, printing nothing: halted or looping)"
    if native.group in RESETS:
        if hv.lines.get(survived) != "ok":
            problems.append(f"hv: the reset was not blocked (no `{survived} ok`): hv log:\n{tail}")
        if "reset attempt by the VM" not in hv.hv_log:
            problems.append(f"hv: the reset attempt is not in the hv log:\n{tail}")
    else:
        if "the VM shut down (triple fault)" not in hv.hv_log:
            problems.append(
                f"hv: no triple fault in the hv log (the VMM logs it, then resets the machine "
                f"as its chipset would):\n{tail}"
            )
        if survived in hv.lines:
            problems.append(f"hv: the kernel went on after the triple fault: {hv.lines[survived]}")
    return problems
