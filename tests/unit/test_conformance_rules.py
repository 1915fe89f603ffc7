"""The conformance comparison without a machine: the result parser, the
documented differences (each can fail), and the docs that list them."""

import re
from pathlib import Path

import pytest

from ramooflax.lab import conformance as c
from ramooflax.lab import facts, testkernel

VMM = facts.Range(0x1FA00000, 0x1FFE0000, "vmm")
NATIVE_MAP = "ok n=4 0+9fc00:1 9fc00+400:2 100000+1fee0000:1 1ffe0000+20000:2"
HV_MAP = "ok n=4 0+9fc00:1 9fc00+400:2 100000+1f900000:1 1ffe0000+20000:2"


def pair(native: dict[str, str], hv: dict[str, str]) -> c.Pair:
    def run(with_hv: bool, checks: dict[str, str]) -> c.Run:
        r = c.Run("EPYC", with_hv)
        for check, result in checks.items():
            group = ".".join(check.split(".")[:2])
            r.group(group).checks[check] = result
            r.group(group).status = "done"
            if group not in r.plan:
                r.plan.append(group)
        r.hv_log = f"vmm: range 0x{VMM.start:016x}-0x{VMM.end:016x} (6016 KiB)\n"
        return r

    return c.Pair("EPYC", run(False, native), run(True, hv))


def verdict(check: str, native: str, hv: str) -> c.Verdict:
    return c.compare(pair({check: native}, {check: hv}))[0]


@pytest.mark.parametrize(
    ("result", "events", "fields"),
    [
        ("ok old=0x10 rd=0x12", "ok", {"old": 0x10, "rd": 0x12}),
        ("#GP(0x0)@insn old=0x10 rd=0x10 cpu=lacks", "#GP(0x0)@insn",
         {"old": 0x10, "rd": 0x10, "cpu": "lacks"}),
        ("int0x66@next #DB@insn+3 dr6=0xffff4ff0", "int0x66@next #DB@insn+3", {"dr6": 0xFFFF4FF0}),
        ("skip tcg-quirk", "skip tcg-quirk", {}),
        ("#DF(0x0) cr2=0x800000", "#DF(0x0)", {"cr2": 0x800000}),
    ],
)  # fmt: skip
def test_parse(result: str, events: str, fields: dict[str, object]) -> None:
    assert c.events(result) == events
    assert c.fields(result) == fields


@pytest.mark.parametrize(
    ("check", "native", "hv", "status"),
    [
        # equal results pass, any difference fails
        ("pm32.tf.cpuid", "#DB@next dr6=0xffff4ff0", "#DB@next dr6=0xffff4ff0", "same"),
        ("pm32.tf.cpuid", "#DB@next dr6=0xffff4ff0", "#DB@insn+3 dr6=0xffff4ff0", "FAIL"),
        ("pm32.tf.cpuid", "#DB@next dr6=0xffff4ff0", "#DB@next dr6=0xffff0ff0", "FAIL"),
        # skipped natively: the APM's #GP at the instruction, the register unchanged
        ("pm32.cr4.bit12", "skip tcg-quirk", "#GP(0x0)@insn old=0x10 rd=0x10 cpu=lacks", "tcg"),
        ("pm32.cr4.bit12", "skip tcg-quirk", "#GP(0x0)@next old=0x10 rd=0x10 cpu=lacks", "FAIL"),
        ("pm32.cr4.bit12", "skip tcg-quirk", "ok old=0x10 rd=0x1010 cpu=lacks", "FAIL"),
        ("pm32.cr4.bit12", "skip tcg-quirk", "#GP(0x0)@insn old=0x10 rd=0x1010 cpu=lacks", "FAIL"),
        # TCG takes NW without CD; the APM does not
        ("pm32.cr0.bit29", "ok old=0x11 rd=0x20000011", "#GP(0x0)@insn old=0x11 rd=0x11", "tcg"),
        ("pm32.cr0.bit29", "ok old=0x11 rd=0x20000011", "ok old=0x11 rd=0x20000011", "FAIL"),
        # with CD already set, NW is a plain bit: compared as such
        ("pm32.cr0.bit29", "ok old=0x40000011 rd=0x60000011", "ok old=0x40000011 rd=0x60000011",
         "same"),
        ("long.cr0.bit40", "ok old=0x80000011 rd=0x80000011",
         "#GP(0x0)@insn old=0x80000011 rd=0x80000011", "tcg"),
        ("long.cr0.bit30", "ok old=0x80000011 rd=0xc0000011", "ok old=0x80000011 rd=0xc0000011",
         "same"),
        ("pm32.efer.bit20", "ok old=0x0 rd=0x0 cpu=lacks", "#GP(0x0)@insn old=0x0 rd=0x0 cpu=lacks",
         "tcg"),
        ("pm32.efer.bit20", "ok old=0x0 rd=0x0 cpu=lacks", "ok old=0x0 rd=0x0 cpu=lacks", "FAIL"),
        ("pm32.efer.bit11", "ok old=0x0 rd=0x800 cpu=has", "ok old=0x0 rd=0x800 cpu=has", "same"),
        ("pm32.efer.bit13", "ok old=0x0 rd=0x0 cpu=has", "ok old=0x0 rd=0x0 cpu=has", "tcg"),
        ("pm32.efer.bit13", "ok old=0x0 rd=0x0 cpu=has", "#GP(0x0)@insn old=0x0 rd=0x0 cpu=has",
         "tcg"),
        ("pm32.efer.bit13", "ok old=0x0 rd=0x0 cpu=has", "ok old=0x0 rd=0x2000 cpu=has", "FAIL"),
        # SVM hidden
        ("pm32.efer.bit12", "ok old=0x0 rd=0x1000 cpu=has",
         "#GP(0x0)@insn old=0x0 rd=0x0 cpu=lacks", "policy"),
        ("pm32.efer.bit12", "ok old=0x0 rd=0x1000 cpu=has", "ok old=0x0 rd=0x1000 cpu=has",
         "FAIL"),
        ("pm32.svm.cpuid_e1", "ok svm=1 ecx=0x00000175", "ok svm=0 ecx=0x00000171", "policy"),
        ("pm32.svm.cpuid_e1", "ok svm=1 ecx=0x00000175", "ok svm=0 ecx=0x00000170", "FAIL"),
        ("pm32.svm.cpuid_ea", "ok eax=0x1 ebx=0x10 ecx=0x0 edx=0x1",
         "ok eax=0x0 ebx=0x0 ecx=0x0 edx=0x0", "policy"),
        ("pm32.svm.vm_cr", "ok val=0x0", "#GP(0x0)@insn val=0x0", "policy"),
        ("pm32.svm.vm_cr", "ok val=0x0", "ok val=0x0", "FAIL"),
        # the memory map without the VMM's range
        ("real.int.e820", NATIVE_MAP, HV_MAP, "policy"),
        ("real.int.e820", NATIVE_MAP, NATIVE_MAP, "FAIL"),
        ("real.int.e801", "ok ax=0x3c00 bx=0x1efe cx=0x3c00 dx=0x1efe cf=0",
         "ok ax=0x3c00 bx=0x1ea0 cx=0x3c00 dx=0x1ea0 cf=0", "policy"),
        ("real.int.e801", "ok ax=0x3c00 bx=0x1efe cx=0x3c00 dx=0x1efe cf=0",
         "ok ax=0x3c00 bx=0x1efe cx=0x3c00 dx=0x1efe cf=0", "FAIL"),
        ("pm32.boot.mem", "ok lower=639 upper=523136", "ok lower=639 upper=517120", "policy"),
        ("pm32.boot.mem", "ok lower=639 upper=523136", "ok lower=639 upper=523136", "FAIL"),
        # TCG's injection: #NP accepted in place of #DF, nothing else
        ("long.df.gp_np_gate", "#DF(0x0)", "#DF(0x0)", "tcg"),
        ("long.df.gp_np_gate", "#DF(0x0)", "#NP(0x6a)@insn", "tcg"),
        ("long.df.gp_np_gate", "#DF(0x0)", "#GP(0xfff8)@insn", "FAIL"),
        ("long.df.gp_bad_gate", "#DF(0x0)", "#GP(0x6a)@insn", "FAIL"),
        # VMX hidden on an Intel CPU (the vmx backend); the same results on AMD
        ("real.vmx.cpuid_1", "ok vmx=1", "ok vmx=0", "policy"),
        ("real.vmx.cpuid_1", "ok vmx=1", "ok vmx=1", "FAIL"),
        ("real.vmx.cpuid_1", "ok vmx=0", "ok vmx=0", "same"),
        ("pm32.boot.cpuid_1", "ok eax=0x00050654 ecx=0x77faf3bf edx=0xbfebfbff",
         "ok eax=0x00050654 ecx=0x77faf39f edx=0xbfebfbff", "policy"),
        ("pm32.boot.cpuid_1", "ok eax=0x00050654 ecx=0x77faf3bf edx=0xbfebfbff",
         "ok eax=0x00050654 ecx=0x77faf3bf edx=0xbfebfbff", "FAIL"),
        ("pm16.vmx.feature_control", "ok val=0x5", "ok val=0x1", "policy"),
        ("pm16.vmx.feature_control", "ok val=0x5", "ok val=0x5", "FAIL"),
        ("pm16.vmx.feature_control", "#GP(0x0)@insn val=0x0", "#GP(0x0)@insn val=0x0", "same"),
        ("long.vmx.vmx_basic", "ok val=0xd810000000002b", "#GP(0x0)@insn val=0x0", "policy"),
        ("long.vmx.vmx_basic", "ok val=0xd810000000002b", "ok val=0xd810000000002b", "FAIL"),
        # an AMD model: TCG reads the MSR as 0 natively, and so under the hv
        ("pm32.vmx.vmx_basic", "ok val=0x0", "ok val=0x0", "same"),
        ("pm32.cr4.bit13", "ok old=0x10 rd=0x2010 cpu=has",
         "#GP(0x0)@insn old=0x10 rd=0x10 cpu=lacks", "policy"),
        ("pm32.cr4.bit13", "ok old=0x10 rd=0x2010 cpu=has", "ok old=0x10 rd=0x2010 cpu=has",
         "FAIL"),
    ],
)  # fmt: skip
def test_judge(check: str, native: str, hv: str, status: str) -> None:
    v = verdict(check, native, hv)
    assert v.status == status, v.note


def test_missing_result_names_the_dead_group() -> None:
    p = pair({"pm32.lmsw.lmsw.m.ts": "ok cr0=0x19 old=0x11"}, {})
    p.hv.group("pm32.lmsw").status = "dead"
    p.hv.group("pm32.lmsw").reason = "the hypervisor halted, after pm32.lmsw.lmsw.r.clear_pe"
    v = c.compare(p)[0]
    assert v.failed and "the hypervisor halted" in v.note


def test_a_dead_group_with_no_check_fails() -> None:
    p = pair({"l57.cr0.bit0": "ok"}, {})
    p.hv.group("l57.cr0").status = "dead"
    p.hv.group("l57.cr0").reason = "the hypervisor halted, before its first check"
    assert [v.failed for v in c.compare(p, "l57.cr0")] == [True]


def test_carve() -> None:
    assert c.carve([facts.Range(0, 100, "1")], facts.Range(40, 60)) == [
        facts.Range(0, 40, "1"),
        facts.Range(60, 100, "1"),
    ]
    assert c.carve([facts.Range(0, 10, "1")], facts.Range(40, 60)) == [facts.Range(0, 10, "1")]


def test_every_difference_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text()
    for diff in c.DIFFERENCES:
        assert f"`{diff.pattern}`" in doc, f"docs/conformance.md does not list `{diff.pattern}`"


def test_groups_def() -> None:
    groups = testkernel.groups()
    names = [g for g, _ in groups]
    assert len(names) == len(set(names)), "a group is listed twice in groups.def"
    assert all(re.fullmatch(r"[a-z0-9]+\.[a-z0-9_]+", n) for n in names)
    explicit = {g for g, e in groups if e}
    assert set(c.TRIPLE + c.RESETS) <= explicit


@pytest.mark.parametrize(
    ("only", "some", "none"),
    [
        ([], ["pm32.boot", "l57.lmsw"], ["pm32.triple_np", "pm32.bench"]),
        (["cr4"], ["real.cr4", "l57.cr4"], ["real.cr0"]),
        (["pm32"], ["pm32.cr0", "pm32.df"], ["pae.cr0", "pm32.triple_np"]),
        (["pm32*"], ["pm32.io"], ["pm32.reset_92"]),
        (["triple_np"], ["pm32.triple_np"], ["pm32.triple_gp"]),
        (["bench", "long.tf"], ["pm32.bench", "long.tf"], ["long.cr0"]),
    ],
)
def test_plan_follows_the_kernels_rule(only: list[str], some: list[str], none: list[str]) -> None:
    plan = testkernel.plan(only)
    assert set(some) <= set(plan) and not set(none) & set(plan), plan
