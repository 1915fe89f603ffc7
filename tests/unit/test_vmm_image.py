"""Checks on the hypervisor images that ``make -C hv`` produces.

* vmm.elf is a self-relocating static PIE: ``nm -u`` prints nothing, every
  relocation is R_X86_64_RELATIVE (and there is at least one, applied by
  vmm/entry.S), the ELF type is ET_DYN and there is no PT_INTERP.
* loader.elf is a 32-bit i386 ELF with a Multiboot (v1) header: magic
  0x1BADB002, 32-bit aligned, completely within the first 8192 bytes of the
  file, with magic + flags + checksum == 0 mod 2^32 (Multiboot 0.6.96 §3.1.1
  and §3.1.2).

Every check is a function that raises AssertionError; the ``*_can_fail``
tests run each one against a file that must not pass, so a check that
silently accepts everything is itself caught.

Needs make, gcc, ld, nm and readelf (the hypervisor's own build tools).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HV_OUT = ROOT / "build" / "hv"
VMM = HV_OUT / "vmm.elf"
LOADER = HV_OUT / "loader.elf"
SETUP = HV_OUT / "setup.elf"

TOOLS = ("make", "gcc", "ld", "nm", "readelf")
missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"missing tools: {missing}")

ENV = {**os.environ, "LC_ALL": "C"}

ET_EXEC, ET_DYN = 2, 3
PT_INTERP = 3
EM_386, EM_X86_64 = 3, 62
MB_MAGIC = 0x1BADB002
MB_SEARCH = 8192


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, env=ENV, capture_output=True, text=True, check=False
    )


# --------------------------------------------------------------------------
# ELF parsing (ELF header and program headers, little endian only)


def elf_header(data: bytes) -> dict[str, int]:
    """The ELF header fields we use: class (1 = 32-bit, 2 = 64-bit), type,
    machine and the program header table location."""
    assert len(data) >= 52 and data[:4] == b"\x7fELF", "not an ELF file"
    cls, endian = data[4], data[5]
    assert endian == 1, f"not little endian (EI_DATA {endian})"
    if cls == 1:
        (
            e_type,
            e_machine,
            _ver,
            _entry,
            e_phoff,
            _shoff,
            _flags,
            _ehsize,
            e_phentsize,
            e_phnum,
        ) = struct.unpack_from("<HHIIIIIHHH", data, 16)
    elif cls == 2:
        assert len(data) >= 64, "truncated ELF64 header"
        (
            e_type,
            e_machine,
            _ver,
            _entry,
            e_phoff,
            _shoff,
            _flags,
            _ehsize,
            e_phentsize,
            e_phnum,
        ) = struct.unpack_from("<HHIQQQIHHH", data, 16)
    else:
        raise AssertionError(f"bad EI_CLASS {cls}")
    return {
        "class": cls,
        "type": e_type,
        "machine": e_machine,
        "phoff": e_phoff,
        "phentsize": e_phentsize,
        "phnum": e_phnum,
    }


def program_header_types(data: bytes) -> list[int]:
    """p_type of every program header (p_type is the first word in both
    ELF32 and ELF64 program headers)."""
    hdr = elf_header(data)
    want = 32 if hdr["class"] == 1 else 56
    assert hdr["phnum"] == 0 or hdr["phentsize"] == want, f"e_phentsize {hdr['phentsize']}"
    end = hdr["phoff"] + hdr["phnum"] * hdr["phentsize"]
    assert end <= len(data), "program headers past the end of the file"
    return [
        struct.unpack_from("<I", data, hdr["phoff"] + i * hdr["phentsize"])[0]
        for i in range(hdr["phnum"])
    ]


def phdr_offset(data: bytes, index: int) -> int:
    hdr = elf_header(data)
    return hdr["phoff"] + index * hdr["phentsize"]


# --------------------------------------------------------------------------
# The checks


def check_no_undefined(path: Path) -> None:
    res = run("nm", "-u", path)
    assert res.returncode == 0, f"nm -u {path} failed: {res.stderr}"
    assert res.stdout.strip() == "", f"{path.name} has undefined symbols:\n{res.stdout}"


RELOC_SECTION = re.compile(r"^Relocation section '([^']+)' at offset \S+ contains (\d+) entr")
RELOC_ENTRY = re.compile(r"^[0-9a-f]+\s+[0-9a-f]+\s+(R_\S+)")


def relocation_types(readelf_r: str) -> list[str]:
    """Relocation types from `readelf -rW` output. Each section's entry count
    is cross-checked with the announced one, so that a format change cannot
    make entries disappear unnoticed."""
    types: list[str] = []
    section, announced, seen = None, 0, 0
    for line in readelf_r.splitlines() + [""]:
        m = RELOC_SECTION.match(line)
        if m or not line.strip():
            if section is not None:
                assert seen == announced, (
                    f"{section}: parsed {seen} entries, readelf announced {announced}"
                )
            section = None
        if m:
            section, announced, seen = m.group(1), int(m.group(2)), 0
            continue
        e = RELOC_ENTRY.match(line)
        if e:
            assert section is not None, f"relocation outside a section: {line!r}"
            types.append(e.group(1))
            seen += 1
    return types


def check_only_relative_relocs(path: Path) -> int:
    res = run("readelf", "-rW", path)
    assert res.returncode == 0, f"readelf -rW {path} failed: {res.stderr}"
    types = relocation_types(res.stdout)
    assert types, f"{path.name}: no relocations (a PIE with data pointers has some)"
    others = sorted({t for t in types if t != "R_X86_64_RELATIVE"})
    assert not others, f"{path.name}: relocations other than R_X86_64_RELATIVE: {others}"
    return len(types)


def check_static_pie(path: Path) -> None:
    data = path.read_bytes()
    hdr = elf_header(data)
    assert hdr["class"] == 2, f"{path.name}: not ELF64"
    assert hdr["machine"] == EM_X86_64, f"{path.name}: e_machine {hdr['machine']}"
    assert hdr["type"] == ET_DYN, f"{path.name}: e_type {hdr['type']}, want ET_DYN"
    types = program_header_types(data)
    assert types, f"{path.name}: no program headers"
    assert PT_INTERP not in types, f"{path.name}: has a PT_INTERP"


def find_multiboot(data: bytes) -> int | None:
    """Offset of the first Multiboot header as GRUB and QEMU find it: magic
    on a 4-byte boundary, the 12 bytes within the first 8192, valid
    checksum. None if there is none."""
    for off in range(0, min(len(data), MB_SEARCH) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if magic == MB_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return off
    return None


def check_loader(path: Path) -> int:
    data = path.read_bytes()
    hdr = elf_header(data)
    assert hdr["class"] == 1, f"{path.name}: EI_CLASS {hdr['class']}, want ELFCLASS32"
    assert hdr["machine"] == EM_386, f"{path.name}: e_machine {hdr['machine']}, want EM_386"
    assert hdr["type"] == ET_EXEC, f"{path.name}: e_type {hdr['type']}, want ET_EXEC"
    off = find_multiboot(data)
    if off is None:
        head = data[:MB_SEARCH]
        near = [
            i for i in range(len(head) - 3) if head[i : i + 4] == MB_MAGIC.to_bytes(4, "little")
        ]
        raise AssertionError(
            f"{path.name}: no valid Multiboot header in the first {MB_SEARCH} bytes "
            f"(magic found at {near or 'no offset'})"
        )
    return off


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def built() -> None:
    res = run("make", "-s", "-C", "hv")
    if res.returncode != 0:
        pytest.fail(f"make -s -C hv failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    for f in (VMM, LOADER, SETUP):
        assert f.is_file(), f"{f} was not built"


@pytest.fixture(scope="module")
def bad_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A relocatable object with undefined symbols and PC-relative/GOT
    relocations: everything vmm.elf must not have."""
    d = tmp_path_factory.mktemp("bad")
    src = d / "bad.c"
    src.write_text(
        "extern int ext_var;\nextern void ext_fn(void);\n"
        "int f(void) { ext_fn(); return ext_var; }\n"
    )
    obj = d / "bad.o"
    res = run("gcc", "-O2", "-fpie", "-c", "-o", obj, src)
    assert res.returncode == 0, res.stderr
    return obj


# --------------------------------------------------------------------------
# The image tests


def test_vmm_no_undefined_symbols(built: None) -> None:
    check_no_undefined(VMM)


def test_vmm_only_relative_relocations(built: None) -> None:
    assert check_only_relative_relocs(VMM) >= 1


def test_vmm_is_static_pie(built: None) -> None:
    check_static_pie(VMM)


def test_loader_is_multiboot_elf32(built: None) -> None:
    check_loader(LOADER)


# --------------------------------------------------------------------------
# Each check must be able to fail


def test_undefined_check_can_fail(bad_object: Path) -> None:
    with pytest.raises(AssertionError, match="undefined symbols"):
        check_no_undefined(bad_object)


def test_reloc_check_can_fail(built: None, bad_object: Path) -> None:
    with pytest.raises(AssertionError, match="other than R_X86_64_RELATIVE"):
        check_only_relative_relocs(bad_object)
    # setup.elf is static, non-PIE: no relocations at all
    with pytest.raises(AssertionError, match="no relocations"):
        check_only_relative_relocs(SETUP)


def test_reloc_parser_counts() -> None:
    text = (
        "\nRelocation section '.rela.dyn' at offset 0x90b0 contains 2 entries:\n"
        "    Offset             Info             Type               Symbol's Value  Symbol's Name + Addend\n"
        "0000000000008740  0000000000000008 R_X86_64_RELATIVE                         6da6\n"
        "0000000000008750  0000000100000006 R_X86_64_GLOB_DAT       0000000000000000 foo + 0\n"
    )
    assert relocation_types(text) == ["R_X86_64_RELATIVE", "R_X86_64_GLOB_DAT"]
    # an entry line the parser does not recognise is caught by the count
    with pytest.raises(AssertionError, match="parsed 2 entries, readelf announced 3"):
        relocation_types(text.replace("contains 2", "contains 3") + "0x8760 garbled\n")
    assert relocation_types("\nThere are no relocations in this file.\n") == []


def test_static_pie_check_can_fail(built: None, tmp_path: Path) -> None:
    # setup.elf is ET_EXEC
    with pytest.raises(AssertionError, match="want ET_DYN"):
        check_static_pie(SETUP)
    # loader.elf is 32-bit
    with pytest.raises(AssertionError, match="not ELF64"):
        check_static_pie(LOADER)
    # vmm.elf with one program header turned into a PT_INTERP
    data = bytearray(VMM.read_bytes())
    types = program_header_types(bytes(data))
    assert types
    struct.pack_into("<I", data, phdr_offset(bytes(data), len(types) - 1), PT_INTERP)
    patched = tmp_path / "vmm-interp.elf"
    patched.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="PT_INTERP"):
        check_static_pie(patched)


def test_loader_check_can_fail(built: None, tmp_path: Path) -> None:
    # vmm.elf is 64-bit
    with pytest.raises(AssertionError, match="ELFCLASS32"):
        check_loader(VMM)
    # loader.elf with its checksum off by one
    data = bytearray(LOADER.read_bytes())
    off = check_loader(LOADER)
    struct.pack_into(
        "<I", data, off + 8, (struct.unpack_from("<I", data, off + 8)[0] + 1) & 0xFFFFFFFF
    )
    broken = tmp_path / "loader-cs.elf"
    broken.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="no valid Multiboot header"):
        check_loader(broken)


def _mb(flags: int = 3) -> bytes:
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF)


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (_mb(), 0),
        (bytes(16) + _mb(), 16),
        (bytes(MB_SEARCH - 12) + _mb(), MB_SEARCH - 12),  # last slot that fits
        (bytes(MB_SEARCH - 8) + _mb(), None),  # straddles the 8 KiB limit
        (bytes(MB_SEARCH) + _mb(), None),  # past 8 KiB
        (bytes(2) + _mb(), None),  # not 4-byte aligned
        (_mb()[:8] + b"\0\0\0\0", None),  # bad checksum
        (_mb()[:8] + b"\0\0\0\0" + _mb(0x10003), 12),  # first valid one
        (b"", None),
    ],
)
def test_find_multiboot(data: bytes, want: int | None) -> None:
    assert find_multiboot(data) == want
