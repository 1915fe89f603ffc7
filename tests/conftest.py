"""Shared pytest fixtures.

Lab tests (marked `lab`) need QEMU >= 10; without it they are skipped with the
reason. Booted machines are session-scoped and shared: every machine that the
selected tests use is started at once when the first one is needed (they boot
in parallel), and each is powered off after the last test that uses it (an
idle guest still costs CPU under TCG, and the lab has 2 cores).
"""

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ramooflax.errors import RamooflaxError
from ramooflax.lab import cpustate, qemu
from ramooflax.lab.machine import Machine, MachineSpec

BACKPORTS_KERNEL = "linux-image-amd64/bookworm-backports"
BOOT_TIMEOUT = 400  # seconds; several guests share 2 cores under TCG
BOCHS_BOOT_TIMEOUT = 900  # Linux under Bochs: 3 to 5 minutes on 2 loaded cores


def guest_nic(model: str) -> tuple[str, ...]:
    """QEMU arguments for a NIC of the guest's own, on a user network of its own."""
    return ("-netdev", "user,id=guestnet,restrict=on", "-device", f"{model},netdev=guestnet")


MACHINES = {
    "hv_amd64": MachineSpec(guest="amd64", with_hv=True, build=True),
    "nohv_amd64": MachineSpec(guest="amd64", with_hv=False, build=True),
    "hv_i386": MachineSpec(guest="i386", with_hv=True, build=True),
    # Four cores (tests/lab/test_smp.py), each booted on first use and
    # powered off after its tests, one at a time: they are heavy on 2 cores.
    "hv_amd64_4": MachineSpec(guest="amd64", with_hv=True, build=True, smp=4),
    "nohv_amd64_4": MachineSpec(guest="amd64", with_hv=False, build=True, smp=4),
    "hv_i386_4": MachineSpec(guest="i386", with_hv=True, build=True, smp=4),
    "nohv_i386_4": MachineSpec(guest="i386", with_hv=False, build=True, smp=4),
    "nohv_i386": MachineSpec(guest="i386", with_hv=False, build=True),
    # A kernel the code was not written against: bookworm-backports' (6.12 today).
    "hv_amd64_bpo": MachineSpec(
        guest="amd64", with_hv=True, build=True, kernel_package=BACKPORTS_KERNEL
    ),
    # Waits at its first instruction (real mode, 0000:0600) for a control
    # client; a stopped VM with a silent client runs again after 3 s.
    "hv_amd64_wait": MachineSpec(
        guest="amd64", with_hv=True, build=True, hv_options="ctrl_wait=1 ctrl_timeout=3"
    ),
    # The control channel on the VMM's own e1000 (ctrl=net:e1000), its port
    # forwarded by QEMU's user network; a silent client is dropped after 3 s.
    "hv_amd64_net": MachineSpec(
        guest="amd64", with_hv=True, build=True, ctrl="net", hv_options="ctrl_timeout=3"
    ),
    # The VMM's other NICs (ctrl=net:e1000e, ctrl=net:igb), each on a q35
    # board (PCIe, an ECAM window), beside a NIC of the guest's own of
    # another model: the 82574L with the guest's 82540EM, the 82576 with the
    # guest's 82574L.
    "hv_q35_e1000e": MachineSpec(
        guest="amd64",
        with_hv=True,
        build=True,
        ctrl="net:e1000e",
        board="q35",
        hv_options="ctrl_timeout=3",
        qemu_args=guest_nic("e1000"),
    ),
    "hv_q35_igb": MachineSpec(
        guest="amd64",
        with_hv=True,
        build=True,
        ctrl="net:igb",
        board="q35",
        hv_options="ctrl_timeout=3",
        qemu_args=guest_nic("e1000e"),
    ),
    # ctrl=net: with a bad address: the VMM says so in its log and keeps the
    # control channel on the UART (COM2), which the lab connects as usual.
    "hv_amd64_badnet": MachineSpec(
        guest="amd64", with_hv=True, build=True, hv_options="ctrl=net:e1000,ip=10.0.2.300"
    ),
    # Bochs (tests/lab/test_bochs.py): the AMD model, one core; the hv boots
    # from a USB key, the guest disk second. About 10x slower than QEMU.
    "bochs_hv_amd64": MachineSpec(
        guest="amd64", with_hv=True, build=True, emulator="bochs", cpu="trinity_apu", smp=1
    ),
    # The one Linux boot under VT-x (tests/lab/test_vmx_linux.py): Bochs's
    # Intel model, one core.
    "bochs_vmx_amd64": MachineSpec(
        guest="amd64", with_hv=True, build=True, emulator="bochs", cpu="corei7_skylake_x", smp=1
    ),
}
# The machine of each control channel, for tests run on both (hv_ctrl).
CHANNEL_MACHINES = {"uart": "hv_amd64", "net": "hv_amd64_net"}
# The machine of each NIC model the VMM drives (hv_nic), and of every
# control link, the UART and each NIC (hv_link).
NIC_MACHINES = {"e1000": "hv_amd64_net", "e1000e": "hv_q35_e1000e", "igb": "hv_q35_igb"}
LINK_MACHINES = {"uart": "hv_amd64"} | {f"net-{nic}": m for nic, m in NIC_MACHINES.items()}
# The fixtures whose parameter names a machine through one of those tables.
PARAM_MACHINES = {"hv_ctrl": CHANNEL_MACHINES, "hv_nic": NIC_MACHINES, "hv_link": LINK_MACHINES}
# Started on first use only: a VM waiting for a client keeps the VMM polling
# its UART flat out, which would slow the other machines' boot on 2 cores.
LAZY = {
    "hv_amd64_badnet",
    "hv_amd64_wait",
    "hv_q35_e1000e",  # the NIC models' machines: booted for their tests, one at a time
    "hv_q35_igb",
    "hv_amd64_4",
    "nohv_amd64_4",
    "hv_i386_4",
    "nohv_i386_4",
    "nohv_i386",
    "bochs_hv_amd64",  # one emulator at a time: Bochs is heavy and slow to boot
    "bochs_vmx_amd64",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "disturbs: provokes guest events (NPF, reset); runs after the other tests"
    )
    config.addinivalue_line(
        "markers", "machines(*names): lab machines a test uses other than through its fixtures"
    )
    config.addinivalue_line(
        "markers", "bochs: runs under Bochs; after every other test (QEMU's machines are off)"
    )


# Fixtures that hand out a machine under another name.
FIXTURE_MACHINE = {"hv_amd64_waiting": "hv_amd64_wait"}


def machines_of(item: pytest.Item) -> set[str]:
    """The lab machines a test uses: its fixtures, or a parameter naming one
    (tests that take the machine with request.getfixturevalue)."""
    fixtures = getattr(item, "fixturenames", ())
    names = {name for name in MACHINES if name in fixtures}
    names |= {FIXTURE_MACHINE[f] for f in fixtures if f in FIXTURE_MACHINE}
    for mark in item.iter_markers("machines"):  # @pytest.mark.machines("hv_amd64_4", ...)
        names |= set(mark.args)
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        names |= {v for v in callspec.params.values() if isinstance(v, str) and v in MACHINES}
        for fixture, table in PARAM_MACHINES.items():  # the machine of that channel or NIC
            param = callspec.params.get(fixture)
            if param in table:
                names.add(table[param])
    return names


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the machines still needed
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that provoke events on a shared machine run last, then the Bochs
    # tests; within a module, the tests of each machine booted on first use
    # run together, so it boots once (stable sort: the order is kept otherwise).
    module_at: dict[str, int] = {}
    for item in items:
        module_at.setdefault(item.nodeid.split("::")[0], len(module_at))

    def order(item: pytest.Item) -> tuple[bool, bool, int, str]:
        lazy = sorted(machines_of(item) & LAZY)
        return (
            # Bochs last: by then each QEMU machine is off after its last test,
            # and one emulator at a time runs on the 2 cores.
            item.get_closest_marker("bochs") is not None,
            item.get_closest_marker("disturbs") is not None,
            module_at[item.nodeid.split("::")[0]],
            lazy[0] if lazy else "",
        )

    items.sort(key=order)
    last: dict[str, str] = {}
    for item in items:
        for name in machines_of(item):
            last[name] = item.nodeid
    config.stash[_WANTED] = set(last)
    config.stash[_LAST_USE] = last


_WANTED = pytest.StashKey[set[str]]()
_LAST_USE = pytest.StashKey[dict[str, str]]()
_POOL = pytest.StashKey["Pool"]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed lab test's report says where each CPU of each running
    hypervisor machine is (VM, or which VMM function): a hung VMM shows."""
    report = yield
    pool = item.config.stash.get(_POOL, None)
    if report.failed and pool is not None:
        for name, machine in pool.machines.items():
            if machine.spec.with_hv and machine.alive() and machine.qemu_monitor is not None:
                cfg = machine.config
                vmm = cfg.hv[2] if isinstance(cfg, qemu.Config) and cfg.hv else None
                states = cpustate.cpu_states(machine.qemu_monitor, machine.log_text(), vmm)
                report.sections.append((f"where the CPUs of {name} are", states))
    return report


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Power a machine off once the last test that uses it is done."""
    pool = item.config.stash.get(_POOL, None)
    if pool is None:
        return
    for name, nodeid in item.config.stash.get(_LAST_USE, {}).items():
        if nodeid == item.nodeid and name in pool.machines:
            pool.stop(name)


@dataclass
class Pool:
    """Machines started together on first use; errors are kept per machine."""

    wanted: set[str]
    logs: Path
    machines: dict[str, Machine] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)

    def machine(self, name: str) -> Machine:
        # Logs go to a pytest temporary directory: `make clean` may wipe build/.
        return Machine(replace(MACHINES[name], log=self.logs / f"hv-{name}.log"))

    def start_all(self) -> None:
        for name in sorted(self.wanted - LAZY):
            machine = self.machine(name)
            try:
                machine.start()
            except RamooflaxError as exc:
                self.errors[name] = str(exc)
                machine.stop()
                continue
            self.machines[name] = machine

    def started(self, name: str) -> Machine:
        """The machine, started (QEMU up, console connected) but maybe not booted."""
        if name in self.errors:
            pytest.fail(f"machine {name} is not available:\n{self.errors[name]}", pytrace=False)
        if name not in self.machines:
            self.wanted.add(name)
            machine = self.machine(name)
            machine.start()
            self.machines[name] = machine
        return self.machines[name]

    def get(self, name: str) -> Machine:
        machine = self.started(name)
        if name not in self.ready:
            timeout = BOCHS_BOOT_TIMEOUT if machine.spec.emulator == "bochs" else BOOT_TIMEOUT
            try:
                machine.wait_ready(timeout)
            except RamooflaxError as exc:
                self.errors[name] = str(exc)
                pytest.fail(f"machine {name} did not boot:\n{exc}", pytrace=False)
            self.ready.add(name)
        if not machine.alive():
            pytest.fail(
                f"machine {name} is no longer running ({machine.emulator_name} exited)",
                pytrace=False,
            )
        return machine

    def stop(self, name: str) -> None:
        """Power one machine off before the session ends (its resources back)."""
        machine = self.machines.pop(name, None)
        if machine is not None:
            machine.stop()
        self.ready.discard(name)

    def stop_all(self) -> None:
        for machine in self.machines.values():
            machine.stop()


@pytest.fixture(scope="session")
def qemu_ok() -> None:
    try:
        qemu.version()
    except RamooflaxError as exc:
        pytest.skip(f"lab tests need QEMU >= 10: {exc}")


@pytest.fixture(scope="session")
def bochs_ok() -> None:
    from ramooflax.lab import bochs

    try:
        bochs.check_installed()
    except RamooflaxError as exc:
        pytest.skip(f"Bochs lab tests need Bochs 2.7: {exc}")


@pytest.fixture(scope="session")
def bochs_hv_amd64(lab_pool: Pool, bochs_ok: None) -> Machine:
    """The amd64 guest under the hypervisor in Bochs (trinity_apu, one core)."""
    return lab_pool.get("bochs_hv_amd64")


@pytest.fixture(scope="session")
def bochs_vmx_amd64(lab_pool: Pool, bochs_ok: None) -> Machine:
    """The amd64 guest under the hypervisor's VT-x backend in Bochs (one core)."""
    return lab_pool.get("bochs_vmx_amd64")


@pytest.fixture(scope="session")
def lab_pool(request: pytest.FixtureRequest, qemu_ok: None) -> Iterator[Pool]:
    # Not tmp_path_factory: a concurrent pytest run may prune its directories.
    logs = Path(tempfile.mkdtemp(prefix="ramooflax-lab-"))
    pool = Pool(set(request.config.stash.get(_WANTED, set())), logs)
    request.config.stash[_POOL] = pool
    pool.start_all()
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session")
def hv_amd64(lab_pool: Pool) -> Machine:
    """The amd64 guest under the hypervisor (booted once per session)."""
    return lab_pool.get("hv_amd64")


@pytest.fixture(scope="session", params=sorted(CHANNEL_MACHINES))
def hv_ctrl(request: pytest.FixtureRequest, lab_pool: Pool) -> Machine:
    """The amd64 machine of each control channel (uart, net), each booted
    once and shared: a test that takes it runs on both channels (select one
    with -k uart / -k net)."""
    return lab_pool.get(CHANNEL_MACHINES[request.param])


@pytest.fixture(scope="session", params=sorted(NIC_MACHINES))
def hv_nic(request: pytest.FixtureRequest, lab_pool: Pool) -> Machine:
    """The machine of each NIC model the VMM drives (e1000 on pc; e1000e and
    igb on q35), each booted once and shared (-k e1000e selects one)."""
    return lab_pool.get(NIC_MACHINES[request.param])


@pytest.fixture(scope="session", params=sorted(LINK_MACHINES))
def hv_link(request: pytest.FixtureRequest, lab_pool: Pool) -> Machine:
    """The machine of every control link: the UART and each NIC model."""
    return lab_pool.get(LINK_MACHINES[request.param])


@pytest.fixture(scope="session")
def hv_amd64_net(lab_pool: Pool) -> Machine:
    return lab_pool.get("hv_amd64_net")


@pytest.fixture
def hv_amd64_badnet(lab_pool: Pool) -> Iterator[Machine]:
    """Booted for its test and powered off after it."""
    yield lab_pool.get("hv_amd64_badnet")
    lab_pool.stop("hv_amd64_badnet")


@pytest.fixture(scope="session")
def nohv_amd64(lab_pool: Pool) -> Machine:
    """The amd64 guest on the bare (emulated) machine."""
    return lab_pool.get("nohv_amd64")


@pytest.fixture(scope="session")
def hv_i386(lab_pool: Pool) -> Machine:
    """The i386 (686 kernel) guest under the hypervisor."""
    return lab_pool.get("hv_i386")


@pytest.fixture(scope="session")
def hv_amd64_bpo(lab_pool: Pool) -> Machine:
    """amd64 with bookworm-backports' kernel (zstd vmlinuz, 6.3+ kallsyms order)."""
    return lab_pool.get("hv_amd64_bpo")


@pytest.fixture(scope="session")
def hv_amd64_waiting(lab_pool: Pool) -> Machine:
    """amd64 under the hv with ctrl_wait=1 ctrl_timeout=3, as started: the VM may
    still wait at 0000:0600 for a client (check `lab_pool.ready`)."""
    return lab_pool.started("hv_amd64_wait")


@pytest.fixture(scope="session")
def hv_amd64_wait(lab_pool: Pool, hv_amd64_waiting: Machine) -> Machine:
    """The ctrl_wait=1 ctrl_timeout=3 machine, booted to its shell: if no test
    released the waiting VM yet, a `D` packet on the control port does."""
    if "hv_amd64_wait" not in lab_pool.ready and "hv_amd64_wait" not in lab_pool.errors:
        release_waiting_vm(hv_amd64_waiting)
    return lab_pool.get("hv_amd64_wait")


def wait_for_ctrl_wait(machine: Machine) -> int:
    """The control port, once the VMM waits for a client at the VM's first
    instruction: bytes sent before it opens its UART are lost."""
    import time

    assert machine.config is not None
    deadline = time.monotonic() + 120
    while "ctrl_wait: the VM waits" not in machine.log_text():
        if time.monotonic() > deadline or not machine.alive():
            raise AssertionError("the VMM never reached its ctrl_wait point")
        time.sleep(0.2)
    return machine.config.ctrl_port


def release_waiting_vm(machine: Machine) -> None:
    from ramooflax.lab.rawgdb import RawGdb

    with RawGdb.connect(wait_for_ctrl_wait(machine)) as client:
        assert client.command("?", timeout=30)[:1] == b"T"
        assert client.command("D", timeout=30) == b"OK"


# -- programs for the guest ----------------------------------------------------

PROGRAMS = Path(__file__).parent / "lab" / "programs"


@dataclass
class GuestProgram:
    """A static amd64 program (no libc) built from tests/lab/programs/NAME.c."""

    binary: bytes  # stripped
    symbols: dict[str, int]


@pytest.fixture(scope="session")
def guest_program(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], GuestProgram]:
    """build(name, text_base): link at text_base, an address no other guest
    program uses, so a hardware breakpoint there stops only this program."""
    if not shutil.which("gcc") or not shutil.which("nm"):
        pytest.skip("gcc and binutils are needed to build the guest test programs")
    out_dir = tmp_path_factory.mktemp("guest-programs")

    def build(name: str, text_base: int) -> GuestProgram:
        out = out_dir / name
        flags = ["-O1", "-static", "-nostdlib", "-Wl,-n", "-Wl,--build-id=none"]
        flags.append(f"-Wl,-Ttext-segment={text_base:#x}")
        subprocess.run(["gcc", *flags, "-o", str(out), str(PROGRAMS / f"{name}.c")], check=True)
        nm = subprocess.run(["nm", str(out)], capture_output=True, text=True, check=True)
        symbols = {}
        for line in nm.stdout.splitlines():
            addr, _, sym = line.split()
            symbols[sym] = int(addr, 16)
        subprocess.run(["strip", str(out)], check=True)
        return GuestProgram(out.read_bytes(), symbols)

    return build
