"""Guest conformance (docs/conformance.md): the test kernel's checks give the
same results on the bare emulated machine and under the hypervisor, on three
CPU models, except for the documented differences.

Each CPU model's two runs are made once for the module (conformance.run_pairs:
two QEMUs at a time); each test judges one group of checks. The groups that
end the machine (triple fault, reset) are booted on their own, on the
default model only.
"""

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ramooflax.lab import conformance, qemu, testkernel

pytestmark = pytest.mark.lab

CPUS = (qemu.DEFAULT_CPU, "max", "qemu64")  # max: LA57 and PKU; qemu64: no 1 GiB pages
GROUPS = [name for name, explicit in testkernel.groups() if not explicit]
ENDING = list(conformance.TRIPLE + conformance.RESETS)


def _say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Progress on the terminal, past pytest's capture (the runs take minutes)."""
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def say(msg: str) -> None:
        if capman is None:
            print(f"[conformance] {msg}", file=sys.stderr, flush=True)
            return
        with capman.global_and_fixture_disabled():
            print(f"[conformance] {msg}", file=sys.stderr, flush=True)

    return say


def _cpus_wanted(request: pytest.FixtureRequest) -> list[str]:
    """The CPU models of the selected tests of this module (boot only those)."""
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None and "cpu" in callspec.params:
            wanted.append(callspec.params["cpu"])
    return list(dict.fromkeys(wanted)) or [qemu.DEFAULT_CPU]


@pytest.fixture(scope="module")
def logs() -> Path:
    # Not tmp_path_factory: a concurrent pytest run may prune its directories.
    return Path(tempfile.mkdtemp(prefix="ramooflax-conformance-"))


@pytest.fixture(scope="module")
def pairs(request: pytest.FixtureRequest, qemu_ok: None, logs: Path) -> dict[str, conformance.Pair]:
    return conformance.run_pairs(_cpus_wanted(request), logs, say=_say(request))


@pytest.mark.parametrize(("cpu", "group"), [(c, g) for c in CPUS for g in GROUPS])
def test_group(pairs: dict[str, conformance.Pair], cpu: str, group: str) -> None:
    verdicts = conformance.compare(pairs[cpu], group)
    assert verdicts, f"no check of {group} ran on -cpu {cpu}"
    bad = [v for v in verdicts if v.failed]
    assert not bad, (
        f"{len(bad)} of {len(verdicts)} checks of {group} fail on -cpu {cpu} "
        f"(native vs hypervisor; docs/conformance.md):\n{conformance.explain(verdicts)}"
    )


def test_plan_is_groups_def(pairs: dict[str, conformance.Pair]) -> None:
    """The kernel runs the groups of groups.def, in its order (the harness reads the file)."""
    pair = next(iter(pairs.values()))
    assert pair.native.plan == GROUPS


@pytest.fixture(scope="module")
def endings(
    request: pytest.FixtureRequest, qemu_ok: None, logs: Path
) -> dict[str, tuple[conformance.Ending, conformance.Ending]]:
    from concurrent.futures import ThreadPoolExecutor

    say = _say(request)
    say(f"booting the machine-ending groups: {', '.join(ENDING)}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {
            (g, hv): pool.submit(conformance.run_ending, qemu.DEFAULT_CPU, g, hv, logs / "ending")
            for g in ENDING
            for hv in (False, True)
        }
        done = {key: job.result() for key, job in jobs.items()}
    return {g: (done[(g, False)], done[(g, True)]) for g in ENDING}


@pytest.mark.parametrize("group", ENDING)
def test_machine_ending(
    endings: dict[str, tuple[conformance.Ending, conformance.Ending]], group: str
) -> None:
    """Natively the machine resets (QEMU -no-reboot exits); under the hypervisor a
    reset is blocked and logged, a triple fault logged and the machine halted."""
    problems = conformance.judge_ending(*endings[group])
    assert not problems, f"{group}:\n" + "\n".join(problems)
