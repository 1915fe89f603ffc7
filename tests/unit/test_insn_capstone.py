"""Cross-check the length decoder of hv/lib/insn.c against Capstone.

Builds the host CLI build/tests/insn_len (``make -C hv/tests build``) if
needed, feeds it "MODE HEXBYTES" lines and compares every length with the
one Capstone gives. Needs ``pip install capstone pytest``.

Known, deliberate differences (skipped, not hidden):

* 0F B9 (UD1): both manuals give it a ModRM (Intel SDM Vol.2 UD, AMD APM
  Vol.3 UD1); Capstone 5 decodes it as two bytes. The CPU raises #UD
  either way.
* A 66, F2, F3, F0 or REX prefix before a VEX / XOP / EVEX escape: the
  CPU raises #UD (Intel SDM Vol.2 §2.3.2), so we reject it; Capstone
  decodes it.
* 66 0F 78 in 16-bit mode: EXTRQ (ib, ib) on the CPU, where the 66 is a
  mandatory prefix whatever the mode (AMD APM Vol.4 "EXTRQ"); Capstone
  decodes VMREAD there.
* A 66 prefix on a near branch (E8, E9, 0F 80-8F) in 64-bit mode: AMD
  honours it (rel16, AMD APM Vol.3 "JMP (Near)"/"CALL (Near)"), Intel and
  Capstone ignore it (rel32). The VMM runs on AMD, so the decoder follows
  AMD.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

capstone = pytest.importorskip("capstone")

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "tests" / "insn_len"
MODES = {
    16: capstone.CS_MODE_16,
    32: capstone.CS_MODE_32,
    64: capstone.CS_MODE_64,
}
RANDOM_PER_MODE = 4000
SEED = 0x5A3D

LEGACY_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}

# (mode, hex bytes, expected length) -- hand-picked, also checked against
# Capstone so the table itself cannot be wrong.
HAND_PICKED: list[tuple[int, str, int]] = [
    # general purpose
    (64, "90", 1),
    (64, "4801c8", 3),  # add rax, rcx
    (64, "48b88877665544332211", 10),  # mov rax, imm64
    (64, "b878563412", 5),  # mov eax, imm32
    (64, "66b83412", 4),  # mov ax, imm16
    (32, "b878563412", 5),
    (16, "b83412", 3),
    (16, "66b878563412", 6),
    (64, "c7042578563412efbeadde", 11),  # mov dword [abs], imm32 (SIB no base)
    (64, "48c7c0ffffffff", 7),
    (64, "c705f0ffffff01000000", 10),  # RIP-relative
    (64, "8b442408", 4),  # mov eax, [rsp+8]
    (64, "8b8424ff000000", 7),
    (64, "678b00", 3),  # addr32
    (32, "8b0500100000", 6),  # mov eax, [abs32]
    (16, "8b060010", 4),  # mov ax, [disp16]
    (16, "8b4702", 3),  # mov ax, [bx+2]
    (16, "8b870010", 4),  # mov ax, [bx+disp16]
    (16, "678b442408", 5),  # 32-bit addressing with SIB
    (32, "678b4702", 4),  # 16-bit addressing in 32-bit mode
    (64, "f6c101", 3),  # test cl, 1
    (64, "f7c101000000", 6),  # test ecx, imm32
    (64, "66f7c10100", 5),
    (64, "f7d1", 2),  # not ecx (no imm)
    (64, "f6d1", 2),
    (32, "c8100001", 4),  # enter 16, 1
    (32, "9a785634120800", 7),  # call far ptr16:32
    (16, "9a34120800", 5),  # call far ptr16:16
    (32, "ea785634120800", 7),
    (64, "a08877665544332211", 9),  # mov al, moffs64
    (64, "67a044332211", 6),  # mov al, moffs32
    (32, "a144332211", 5),
    (16, "a13412", 3),
    (32, "67a13412", 4),
    (64, "e800000000", 5),
    (64, "eb00", 2),
    (64, "0f8400000000", 6),
    (16, "0f840000", 4),
    (64, "6a01", 2),
    (64, "6878563412", 5),
    (64, "c20800", 3),
    (64, "cd80", 2),
    (64, "e460", 2),
    (64, "48630c24", 4),  # movsxd
    (64, "c6f801", 3),  # xabort
    (64, "c7f800000000", 6),  # xbegin
    # prefixes, string instructions
    (64, "f3a4", 2),  # rep movsb
    (64, "f348a5", 3),  # rep movsq
    (64, "f2ae", 2),  # repne scasb
    (32, "f366ab", 3),  # rep stosw
    (16, "f3a5", 2),
    (64, "f0480fb10a", 5),  # lock cmpxchg [rdx], rcx
    (64, "64488b042528000000", 9),  # mov rax, fs:[0x28]
    (64, "2e0f1f840000000000", 9),  # cs nop
    (64, "6666662e0f1f840000000000", 12),
    (64, "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f090", -1),  # 16 bytes: too long
    (64, "2e2e2e2e2e2e2e2e2e2e2e2e2e2e90", 15),  # exactly 15
    # x87
    (64, "d9c0", 2),  # fld st0
    (64, "dd442408", 4),
    (64, "dfe0", 2),  # fnstsw ax
    (32, "d9ee", 2),
    # system
    (64, "0f0b", 2),  # ud2
    (64, "0f05", 2),
    (64, "0fa2", 2),  # cpuid
    (64, "0f30", 2),  # wrmsr
    (64, "0f32", 2),  # rdmsr
    (64, "0f31", 2),
    (64, "0f20c0", 3),  # mov rax, cr0
    (64, "0f22d8", 3),  # mov cr3, rax
    (64, "440f20c0", 4),  # mov rax, cr8
    (64, "0f2000", 3),  # mod ignored: still 3
    (64, "0f21f8", 3),  # mov rax, dr7
    (32, "0f0118", 3),  # lidt [eax]
    (64, "0f0114250000000000", 8),
    (64, "0f01d8", 3),  # vmrun
    (64, "0f01d9", 3),  # vmmcall
    (64, "0f01da", 3),  # vmload
    (64, "0f01db", 3),  # vmsave
    (64, "0f01dc", 3),  # stgi
    (64, "0f01dd", 3),  # clgi
    (64, "0f01de", 3),  # skinit
    (64, "0f01df", 3),  # invlpga
    (64, "0f01f8", 3),  # swapgs
    (64, "0f01f9", 3),  # rdtscp
    (64, "0f0138", 3),  # invlpg [rax]
    (64, "0f00d8", 3),  # ltr ax
    (16, "0f00160010", 5),  # lldt [0x1000] -- disp16
    (64, "0fae38", 3),  # clflush [rax]
    (64, "0faef0", 3),  # mfence
    (64, "0fc7f8", 3),  # rdseed
    (64, "f30f1efa", 4),  # endbr64
    # SSE / 3-byte maps / 3DNow! / SSE4a
    (64, "660f6fc1", 4),
    (64, "f30f6f0424", 5),
    (64, "660f3a0fc108", 6),  # palignr
    (64, "660f3800c1", 5),  # pshufb
    (64, "660f70c11b", 5),  # pshufd
    (64, "0fc2c100", 4),  # cmpps
    (64, "0f0fc0b4", 4),  # pfmul (3DNow!)
    (64, "660f78c00102", 6),  # extrq
    (64, "f20f78c1aabb", 6),  # insertq
    (64, "0f7800", 3),  # vmread
    # VEX / EVEX / XOP
    (64, "c5f877", 3),  # vzeroupper
    (64, "c5fc28c1", 4),  # vmovaps ymm0, ymm1
    (64, "c4e3790fc108", 6),  # vpalignr
    (64, "c4e27d18442408", 7),  # vbroadcastss
    (32, "c5f877", 3),
    (32, "c40000", 2),  # les (not VEX in 32-bit mode)
    (64, "62f17c4858c1", 6),  # vaddps zmm
    (64, "62f17c48c6c101", 7),  # vshufps zmm, imm
    (64, "62f17c48584424ff", 8),  # disp8*N is still one byte
    (32, "6200", 2),  # bound
    (64, "8fe878c00000aa", 6),  # vprotb (XOP map 8): length 6
    (64, "8fe9789000", 5),  # vprotb (XOP map 9)
    (64, "8fea78100000000000", 9),  # bextr imm32 (XOP map A)
    (64, "8f00", 2),  # pop [rax]
]


_BUILT = False


def build_cli() -> None:
    """Builds (or refreshes) build/tests/insn_len once per session."""
    global _BUILT
    if not _BUILT:
        proc = subprocess.run(
            ["make", "-C", str(ROOT / "hv" / "tests"), "cli"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, "building insn_len failed:\n" + proc.stdout + proc.stderr
        _BUILT = True


def run_cli(rows: list[tuple[int, bytes]]) -> list[int]:
    """Returns our decoded lengths (-1 = rejected) for (mode, bytes) rows."""
    build_cli()
    text = "".join(f"{mode} {code.hex()}\n" for mode, code in rows)
    out = subprocess.run(
        [str(CLI)], input=text, text=True, capture_output=True, check=True
    ).stdout.split()
    assert len(out) == len(rows), "insn_len printed one line per input"
    return [int(x) for x in out]


_DISASM: dict[int, capstone.Cs] = {}


def capstone_len(mode: int, code: bytes) -> int:
    """Returns Capstone's length of the first instruction, or -1."""
    md = _DISASM.get(mode)
    if md is None:
        md = _DISASM[mode] = capstone.Cs(capstone.CS_ARCH_X86, MODES[mode])
    for insn in md.disasm_lite(code, 0, 1):
        return insn[1]
    return -1


def known_difference(mode: int, code: bytes) -> bool:
    """True for the encodings listed in the module doc."""
    return (
        amd_near_branch_66(mode, code)
        or is_ud1(mode, code)
        or prefixed_vex(mode, code)
        or extrq16(mode, code)
    )


def opcode_start(mode: int, code: bytes) -> int:
    """Returns the index after the legacy (and REX) prefixes."""
    i = 0
    while i < len(code) and (
        code[i] in LEGACY_PREFIXES or (mode == 64 and 0x40 <= code[i] <= 0x4F)
    ):
        i += 1
    return i


def prefixed_vex(mode: int, code: bytes) -> bool:
    """True for a VEX/XOP/EVEX escape after 66, F2, F3, F0 or REX."""
    i = opcode_start(mode, code)
    if i >= len(code) - 1 or code[i] not in (0xC4, 0xC5, 0x62, 0x8F):
        return False
    nxt = code[i + 1]
    if code[i] == 0x8F:
        escape = (nxt & 0x1F) >= 8
    else:
        escape = mode == 64 or nxt >= 0xC0
    return escape and any(b in (0x66, 0xF2, 0xF3, 0xF0) or 0x40 <= b <= 0x4F for b in code[:i])


def extrq16(mode: int, code: bytes) -> bool:
    """True for 66 0F 78 in 16-bit mode."""
    i = opcode_start(mode, code)
    return mode == 16 and 0x66 in code[:i] and code[i : i + 2] == b"\x0f\x78"


def is_ud1(mode: int, code: bytes) -> bool:
    """True for 0F B9 (UD1)."""
    i = opcode_start(mode, code)
    return code[i : i + 2] == b"\x0f\xb9"


def amd_near_branch_66(mode: int, code: bytes) -> bool:
    """True for a 66-prefixed near branch in 64-bit mode (see module doc)."""
    if mode != 64:
        return False
    i, has66 = 0, False
    while i < len(code) and (code[i] in LEGACY_PREFIXES or 0x40 <= code[i] <= 0x4F):
        has66 |= code[i] == 0x66
        i += 1
    if not has66 or i >= len(code):
        return False
    rex_w = i > 0 and 0x48 <= code[i - 1] <= 0x4F
    op = code[i : i + 2]
    branch = op[:1] in (b"\xe8", b"\xe9") or (
        len(op) == 2 and op[0] == 0x0F and 0x80 <= op[1] <= 0x8F
    )
    return branch and not rex_w


def test_hand_picked_table() -> None:
    """Every hand-picked row decodes to its expected length, like Capstone."""
    rows, want = [], []
    for mode, hexs, expect in HAND_PICKED:
        code = bytes.fromhex(hexs)
        rows.append((mode, code))
        want.append(expect)
    got = run_cli(rows)
    bad = []
    for (mode, code), ours, expect in zip(rows, got, want):
        cs = capstone_len(mode, code)
        if ours != expect or cs != expect:
            bad.append(f"mode {mode} {code.hex()}: ours {ours}, table {expect}, capstone {cs}")
    assert not bad, "\n".join(bad)


def random_code(rng: random.Random) -> bytes:
    """Returns 15 random bytes, biased towards prefixes and 0F escapes."""
    out = bytearray()
    while rng.random() < 0.3:
        out.append(rng.choice(sorted(LEGACY_PREFIXES)))
    if rng.random() < 0.3:
        out.append(0x0F)
        if rng.random() < 0.2:
            out.append(rng.choice((0x38, 0x3A)))
    out.extend(rng.getrandbits(8) for _ in range(15))
    return bytes(out[:15])


@pytest.mark.parametrize("mode", [16, 32, 64])
def test_random_against_capstone(mode: int) -> None:
    """Random bytes that Capstone decodes get the same length from us."""
    rng = random.Random(SEED + mode)
    rows = []
    while len(rows) < RANDOM_PER_MODE:
        code = random_code(rng)
        if capstone_len(mode, code) < 0 or known_difference(mode, code):
            continue
        rows.append((mode, code))
    got = run_cli(rows)
    bad = [
        f"mode {mode} {code.hex()}: ours {ours}, capstone {capstone_len(mode, code)}"
        for (mode, code), ours in zip(rows, got)
        if ours != capstone_len(mode, code)
    ]
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad[:60])
