"""SVM instructions run by the VM behave as on a CPU without SVM: #UD.

The VM's EFER.SVME must stay set for VMRUN, so without care an SVM
instruction in ring 3 would get the #GP of "SVM on, CPL > 0" (SIGSEGV) where
a CPU without SVM raises #UD (SIGILL). Each case is a tiny static program
built on the host, copied into the guest through its console, and run there.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab

SIGILL_STATUS = 128 + 4
SIGSEGV_STATUS = 128 + 11

# (name, instruction bytes); each program runs it, then exit(0).
SVM_INSNS = [
    ("vmrun", "0x0f,0x01,0xd8"),
    ("vmmcall", "0x0f,0x01,0xd9"),
    ("vmload", "0x0f,0x01,0xda"),
    ("vmsave", "0x0f,0x01,0xdb"),
    ("stgi", "0x0f,0x01,0xdc"),
    ("clgi", "0x0f,0x01,0xdd"),
    ("invlpga", "0x0f,0x01,0xdf"),
]
# These raise #UD natively too (the lab CPU has SVM, but its EFER.SVME is off).
NATIVE_UD = {"vmrun", "vmmcall", "vmload", "vmsave"}

PROGRAM = """
void _start(void)
{
    __asm__ volatile(".byte INSN");
    __asm__ volatile("mov $60, %%eax; xor %%edi, %%edi; syscall" ::: "memory");
}
"""


def build(tmp: Path, name: str, insn: str) -> bytes:
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build the test programs")
    src = tmp / f"{name}.c"
    out = tmp / name
    src.write_text(PROGRAM.replace("INSN", insn))
    flags = ["-O1", "-static", "-nostdlib", "-s", "-Wl,-n", "-Wl,--build-id=none"]
    subprocess.run(["gcc", *flags, "-o", str(out), str(src)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("svm-insn")
    return {name: build(tmp, name, insn) for name, insn in SVM_INSNS}


@pytest.mark.parametrize("name", [n for n, _ in SVM_INSNS])
def test_svm_instruction_is_undefined_under_hv(
    hv_amd64: Machine, programs: dict[str, bytes], name: str
) -> None:
    hv_amd64.put_file(f"/tmp/{name}", programs[name])
    res = hv_amd64.run(f"/tmp/{name}; echo status=$?")
    assert f"status={SIGILL_STATUS}" in res.output, (
        f"{name} in ring 3 under the hypervisor: {res.output!r} "
        f"(SIGILL={SIGILL_STATUS} expected, SIGSEGV={SIGSEGV_STATUS} means the #GP leaked)"
    )


@pytest.mark.parametrize("name", sorted(NATIVE_UD))
def test_same_as_native(nohv_amd64: Machine, programs: dict[str, bytes], name: str) -> None:
    nohv_amd64.put_file(f"/tmp/{name}", programs[name])
    res = nohv_amd64.run(f"/tmp/{name}; echo status=$?")
    assert f"status={SIGILL_STATUS}" in res.output, res.output
