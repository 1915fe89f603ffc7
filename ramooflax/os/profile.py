"""What the Linux walks need, from the guest's memory alone or from its package.

A Profile holds, relative to the kernel's `_text` (so that it holds across
boots whatever the KASLR slide): the symbols the walks use, the structure
offsets, the syscall entry (to find `_text` again from its register) and
the banner that names the kernel. It comes from:

* memory (`Profile.from_memory(vm)`): kallsyms located in the image
  (os/kallsyms.py), the exported symbols when kallsyms lacks data
  (os/ksymtab.py), the in-memory BTF (__start_BTF..__stop_BTF, read lazily:
  only the structures asked for), or, without BTF, the shapes of init_task
  and init_mm (os/linux_nobtf.py);
* a kernel package (`Profile.for_vmlinuz(path)`): the same tables in the
  ELF inside vmlinuz, at link addresses.

Profiles are cached as JSON under <cache>/linux/, keyed by the banner; a
second attach checks the banner at its cached place (a few hundred bytes)
and reads nothing else. The full symbol table is kept beside it
(<key>.syms.json.gz) for the Volatility ISF, and the whole BTF once read
(<key>.btf).
"""

import gzip
import hashlib
import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.errors import AddressNotMapped
from ramooflax.os import kallsyms, ksymtab
from ramooflax.os.btf import Btf, BtfError
from ramooflax.os.kmem import KernelMemory, ReadStats
from ramooflax.os.vmlinuz import LinuxError, Vmlinux

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

PROFILE_VERSION = 4
ENTRY = {"amd64": ("lstar", "entry_SYSCALL_64"), "i386": ("sysenter_eip", "entry_SYSENTER_32")}
# Link address of _text with Debian's CONFIG_PHYSICAL_START (16 MiB): only to
# report a slide from memory, which has no link addresses.
DEFAULT_LINK_TEXT = {"amd64": 0xFFFFFFFF81000000, "i386": 0xC1000000}
SEARCH_SPAN = {"amd64": 64 << 20, "i386": 48 << 20}  # past the entry: text end, rodata

SYMBOLS = [
    "_text",
    "_etext",
    "_end",
    "init_task",
    "init_mm",
    "linux_banner",
    "init_uts_ns",
    "modules",
    "init_top_pgt",
    "swapper_pg_dir",
    "init_files",
    "__start_BTF",
    "__stop_BTF",
    "__start_rodata",
    "__end_rodata",
    # the memory map (plot memmap) and the RAM ranges (dump --all)
    "vmemmap_base",
    "page_offset_base",
    "vmalloc_base",
    "empty_zero_page",
    "iomem_resource",
]

# "struct.member" the walks use; a missing one (another kernel's layout) is -1.
MEMBERS = [
    ("task_struct", "tasks"),
    ("task_struct", "comm"),
    ("task_struct", "mm"),
    ("task_struct", "pid"),
    ("task_struct", "tgid"),
    ("task_struct", "real_parent"),
    ("task_struct", "cred"),
    ("task_struct", "__state"),
    ("task_struct", "state"),
    ("task_struct", "exit_state"),
    ("task_struct", "flags"),
    ("cred", "uid"),
    ("mm_struct", "pgd"),
    ("mm_struct", "start_code"),
    ("mm_struct", "arg_start"),
    ("mm_struct", "arg_end"),
    ("mm_struct", "mm_mt"),
    ("mm_struct", "mmap"),
    ("mm_struct", "start_brk"),
    ("mm_struct", "start_stack"),
    ("mm_struct", "brk"),
    ("mm_struct", "context.vdso"),
    ("vm_area_struct", "vm_start"),
    ("vm_area_struct", "vm_end"),
    ("vm_area_struct", "vm_flags"),
    ("vm_area_struct", "vm_file"),
    ("vm_area_struct", "vm_pgoff"),
    ("vm_area_struct", "vm_next"),
    ("file", "f_path"),
    ("path", "dentry"),
    ("dentry", "d_name"),
    ("dentry", "d_parent"),
    ("qstr", "name"),
    ("module", "list"),
    ("module", "name"),
    ("module", "state"),
    ("module", "mem"),
    ("module", "core_layout"),
    ("module_memory", "size"),
    ("module_layout", "size"),
    ("maple_tree", "ma_root"),
    ("page", "_mapcount"),
    ("resource", "start"),
    ("resource", "end"),
    ("resource", "name"),
    ("resource", "flags"),
    ("resource", "sibling"),
    ("resource", "child"),
]


@dataclass
class Profile:
    """Symbols (offsets from _text) and structure offsets of one kernel."""

    arch: str  # "amd64" or "i386"
    banner: str  # linux_banner, or "Linux version RELEASE VERSION" from init_uts_ns
    banner_off: int  # where those bytes are, from _text
    entry_reg: str  # lstar / sysenter_eip
    entry_off: int  # the entry symbol's offset from _text
    link_text: int  # _text's link address (assumed for a profile from memory)
    symbols: dict[str, int]
    offsets: dict[str, int]
    source: str  # "memory", or "package vmlinuz-..."
    has_btf: bool = True
    version: int = PROFILE_VERSION
    stats: ReadStats | None = field(default=None, repr=False, compare=False)

    @property
    def ptr_size(self) -> int:
        return 8 if self.arch == "amd64" else 4

    @property
    def key(self) -> str:
        return hashlib.sha256(self.banner.encode()).hexdigest()[:16]

    def text(self, vm: "VM") -> int:
        """_text at run time, from the syscall entry register."""
        return int(getattr(vm.cpu.sr, self.entry_reg)) - self.entry_off

    # -- cache -------------------------------------------------------------------
    def to_json(self) -> str:
        data = asdict(self)
        data.pop("stats")
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Profile | None":
        data = json.loads(text)
        if data.get("version") != PROFILE_VERSION:
            return None
        return cls(**data)

    def save(self, cache: Path | None = None, name: str | None = None) -> Path:
        path = cache_dir(cache) / f"{name or self.key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    # -- from memory ---------------------------------------------------------------
    @classmethod
    def from_memory(cls, vm: "VM", cache: Path | None = None, refresh: bool = False) -> "Profile":
        """The running kernel's profile, from the cache when its banner matches."""
        arch = _arch_of(vm)
        stats = ReadStats()
        if not refresh:
            for prof in cached(cache, arch, source="memory"):
                if prof.matches(vm, stats):
                    stats.stop()
                    prof.stats = stats
                    return prof
        prof, kmem = _build_from_memory(vm, arch)
        stats.bytes += kmem.stats.bytes
        stats.requests += kmem.stats.requests
        stats.stop()
        prof.stats = stats
        prof.save(cache)
        return prof

    def matches(self, vm: "VM", stats: ReadStats | None = None) -> bool:
        """Whether the VM runs this kernel: its banner at the cached place."""
        want = self.banner.encode("latin-1")
        at = self.text(vm) + self.banner_off
        try:
            got = vm.mem.vread(at, len(want), _kernel_cr3(vm, self), progress=False)
        except AddressNotMapped:
            return False
        finally:
            if stats is not None:
                stats.bytes += len(want)
                stats.requests += 1
        return got == want

    # -- from a package ------------------------------------------------------------
    @classmethod
    def for_vmlinuz(cls, vmlinuz: Path, cache: Path | None = None) -> "Profile":
        """The profile of a kernel package's vmlinuz (cached by file name and size)."""
        try:
            st = vmlinuz.stat()
        except OSError as exc:
            raise LinuxError(f"cannot read {vmlinuz}: {exc.strerror}") from None
        name = f"pkg-{vmlinuz.name}-{st.st_size}"
        path = cache_dir(cache) / f"{name}.json"
        if path.exists():
            prof = cls.from_json(path.read_text())
            if prof is not None:
                return prof
        prof = cls.build(vmlinuz)
        prof.save(cache, name)
        return prof

    @classmethod
    def build(cls, vmlinuz: Path) -> "Profile":
        img = Vmlinux.from_vmlinuz(vmlinuz)
        arch = "amd64" if img.bits == 64 else "i386"
        ps = img.bits // 8
        text = img.section(".text")
        ro = img.section(".rodata")
        syms = kallsyms.find(img.read, ro.addr, ro.addr + ro.size, ps)
        exported = _elf_exports(img)
        sym = _pick(syms, exported)
        if ".BTF" in img.sections:
            offsets = member_offsets(Btf(img.btf()))
            has_btf = True
        else:
            from ramooflax.os.linux_nobtf import offsets_without_btf

            config = _config_of(vmlinuz)
            offsets = offsets_without_btf(
                img, stackprotector=config.get("CONFIG_STACKPROTECTOR") == "y"
            )
            has_btf = False
        base = syms.get("_text") or text.addr
        banner, banner_at = _banner(img.read, sym)
        reg, entry = ENTRY[arch]
        return cls(
            arch=arch,
            banner=banner,
            banner_off=banner_at - base,
            entry_reg=reg,
            entry_off=syms[entry] - base,
            link_text=base,
            symbols={k: v - base for k, v in sym.items()},
            offsets=offsets,
            source=f"package {vmlinuz.name}",
            has_btf=has_btf,
        )

    @classmethod
    def find(cls, vm: "VM", root: Path | None = None) -> "Profile":
        """The profile of the lab's cached kernel package the VM runs (by its banner)."""
        from ramooflax.lab import paths

        arch = _arch_of(vm)
        base = root or paths.cache_dir() / "debs"
        deb_arch = "amd64" if arch == "amd64" else "i386"
        found = sorted(base.glob(f"linux-image-*_{deb_arch}/boot/vmlinuz-*"))
        if not found:
            raise LinuxError(
                f"no linux-image package for {arch} in {base}: run `ramooflax lab "
                f"build-guest --arch {arch}`, pass the guest's vmlinuz, or use Linux.from_memory"
            )
        for vmlinuz in found:
            prof = cls.for_vmlinuz(vmlinuz)
            if prof.matches(vm):
                return prof
        raise LinuxError(
            f"none of the {len(found)} cached {arch} kernel packages is the VM's kernel "
            f"(their banners differ from the guest's): pass its vmlinuz, or use Linux.from_memory"
        )

    def check_against(self, other: "Profile") -> list[str]:
        """What differs between two profiles of one kernel (empty when they agree)."""
        diffs = []
        if self.banner != other.banner:
            diffs.append(f"banner {self.banner!r} != {other.banner!r}")
        for k in sorted(set(self.symbols) & set(other.symbols)):
            if self.symbols[k] != other.symbols[k]:
                diffs.append(f"{k}: _text+0x{self.symbols[k]:x} != _text+0x{other.symbols[k]:x}")
        for k in sorted(set(self.offsets) & set(other.offsets)):
            a, b = self.offsets[k], other.offsets[k]
            if a != b and a >= 0 and b >= 0:
                diffs.append(f"{k}: {a} != {b}")
        if self.entry_off != other.entry_off:
            diffs.append(f"entry: _text+0x{self.entry_off:x} != _text+0x{other.entry_off:x}")
        return diffs


def cache_dir(cache: Path | None) -> Path:
    if cache is not None:
        return cache
    from ramooflax.lab import paths

    return paths.cache_dir() / "linux"


def cached(cache: Path | None, arch: str, source: str | None = None) -> list[Profile]:
    out = []
    for path in sorted(cache_dir(cache).glob("*.json")):
        try:
            prof = Profile.from_json(path.read_text())
        except (OSError, ValueError, TypeError):
            continue
        if prof is not None and prof.arch == arch and (source is None or prof.source == source):
            out.append(prof)
    return out


def _arch_of(vm: "VM") -> str:
    from ramooflax.model.enums import CPUMode

    return "amd64" if vm.status().mode is CPUMode.LONG else "i386"


def _kernel_cr3(vm: "VM", prof: Profile) -> int:
    cr3 = int(vm.cpu.sr.cr3) & ~0xFFF
    return cr3 & ~0x1FFF if prof.arch == "amd64" and prof.symbols.get("init_top_pgt") else cr3


def member_offsets(btf: Btf) -> dict[str, int]:
    out = {}
    for s, m in MEMBERS:
        try:
            out[f"{s}.{m}"] = btf.offsetof(s, m) if _has(btf, s, m) else -1
        except BtfError:
            out[f"{s}.{m}"] = -1
    for s in (
        "task_struct",
        "mm_struct",
        "vm_area_struct",
        "module_memory",
        "module_layout",
        "page",
    ):
        out[f"sizeof.{s}"] = btf.sizeof(s) if _has(btf, s, None) else -1
    out["module.mem.count"] = -1
    if out["module.mem"] >= 0:
        out["module.mem.count"] = btf.member("module", "mem")[1].array[1]
    return out


def _has(btf: Btf, struct_name: str, member: str | None) -> bool:
    """Whether the struct (and member) exist, without parsing the whole BTF for a
    struct that only another kernel has: a member's struct is found through
    the structs the walks already know."""
    roots = {
        "module_memory": ("module", "mem"),
        "module_layout": ("module", "core_layout"),
        "maple_tree": ("mm_struct", "mm_mt"),
    }
    if struct_name in roots:
        parent, via = roots[struct_name]
        if not _has(btf, parent, via):
            return False
    if member is None:
        return True
    try:
        btf.member(struct_name, member)
    except BtfError:
        return False
    return True


def _pick(syms: kallsyms.Kallsyms, exported: dict[str, int]) -> dict[str, int]:
    out = {}
    for name in SYMBOLS:
        addr = syms.get(name)
        if addr is None:
            addr = exported.get(name)
        if addr is not None:
            out[name] = addr
    if "init_task" not in out:
        raise LinuxError("neither kallsyms nor the export table gives init_task")
    return out


def _elf_exports(img: Vmlinux) -> dict[str, int]:
    out = {}
    for name in ("init_task", "init_uts_ns"):
        try:
            out[name] = img.exported(name)
        except LinuxError:
            pass
    return out


def _banner(read: kallsyms.Read, sym: dict[str, int]) -> tuple[str, int]:
    """The bytes that name the kernel, and where: linux_banner, else the release and
    version in init_uts_ns (struct new_utsname: six 65-byte strings)."""
    if "linux_banner" in sym:
        raw = read(sym["linux_banner"], 512).split(b"\0", 1)[0]
        return raw.decode("latin-1"), sym["linux_banner"]
    uts = sym.get("init_uts_ns")
    if uts is None:
        raise LinuxError("no linux_banner nor init_uts_ns: cannot name this kernel")
    raw = read(uts, 0x200)
    at = raw.find(b"Linux\0")
    if at < 0:
        raise LinuxError("init_uts_ns holds no 'Linux' sysname")
    addr = uts + at + 2 * 65
    pair = read(addr, 2 * 65)
    release, version = (x.split(b"\0", 1)[0] for x in (pair[:65], pair[65:]))
    return (release.ljust(65, b"\0") + version).decode("latin-1"), addr


def _config_of(vmlinuz: Path) -> dict[str, str]:
    cfg = vmlinuz.with_name(vmlinuz.name.replace("vmlinuz-", "config-"))
    out: dict[str, str] = {}
    if cfg.exists():
        for line in cfg.read_text(errors="replace").splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                k, _, v = line.partition("=")
                out[k] = v
    return out


# -- from memory -----------------------------------------------------------------


def _build_from_memory(vm: "VM", arch: str) -> tuple[Profile, KernelMemory]:
    reg, entry_name = ENTRY[arch]
    entry = int(getattr(vm.cpu.sr, reg))
    if not entry:
        raise LinuxError(f"{reg} is 0: the kernel has not set up its syscall entry yet")
    ps = 8 if arch == "amd64" else 4
    kmem = KernelMemory(vm, entry)
    syms = kallsyms.find(kmem.read, entry, entry + SEARCH_SPAN[arch], ps)
    text = syms["_text"]
    exported: dict[str, int] = {}
    if "init_task" not in syms:  # no CONFIG_KALLSYMS_ALL: the export table has it
        tok = max(syms.where.values())
        end = syms.get("_end") or text + SEARCH_SPAN[arch]
        exported = ksymtab.exports(kmem.read, tok, tok + (16 << 20), text, end, ps)
    sym = _pick(syms, exported)
    btf_at, btf_end = sym.get("__start_BTF"), sym.get("__stop_BTF")
    has_btf = btf_at is not None and btf_end is not None and btf_end > btf_at
    if has_btf:
        assert btf_at is not None and btf_end is not None
        start = btf_at
        btf = Btf(
            lambda off, n: kmem.read(start + off, max(0, min(n, btf_end - start - off))),
            btf_end - btf_at,
        )
        offsets = member_offsets(btf)
    else:
        from ramooflax.os.linux_nobtf import offsets_from_memory

        offsets = offsets_from_memory(
            kmem.read, sym["init_task"], ps, text, sym.get("_end", text + SEARCH_SPAN[arch])
        )
    banner, banner_at = _banner(kmem.read, sym)
    prof = Profile(
        arch=arch,
        banner=banner,
        banner_off=banner_at - text,
        entry_reg=reg,
        entry_off=syms[entry_name] - text,
        link_text=DEFAULT_LINK_TEXT[arch],
        symbols={k: v - text for k, v in sym.items()},
        offsets=offsets,
        source="memory",
        has_btf=has_btf,
    )
    _save_symbols(prof, syms, text)
    return prof, kmem


def _save_symbols(
    prof: Profile, syms: kallsyms.Kallsyms, text: int, cache: Path | None = None
) -> None:
    """The full table, for the ISF: [name, type, offset from _text or absolute]."""
    top = 1 << (8 * prof.ptr_size - 1)
    rows = [[n, t, a - text if a >= top else a, a < top] for n, t, a in syms.items()]
    path = cache_dir(cache) / f"{prof.key}.syms.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(rows).encode(), 6))


def load_symbols(prof: Profile, cache: Path | None = None) -> list[tuple[str, str, int, bool]]:
    path = cache_dir(cache) / f"{prof.key}.syms.json.gz"
    if not path.exists():
        raise LinuxError(
            f"no symbol table cached for this kernel ({path}): attach with "
            "Linux.from_memory(vm, refresh=True)"
        )
    return [
        (str(r[0]), str(r[1]), int(r[2]), bool(r[3]))
        for r in json.loads(gzip.decompress(path.read_bytes()))
    ]


def ptr(data: bytes, off: int, ps: int) -> int:
    return int(struct.unpack_from("<Q" if ps == 8 else "<I", data, off)[0])


def full_btf(vm: "VM", prof: Profile, cache: Path | None = None, progress: bool = True) -> Btf:
    """The kernel's whole BTF (for an ISF): from <key>.btf, else read from memory
    (__start_BTF..__stop_BTF, with a progress bar) and kept there."""
    path = cache_dir(cache) / f"{prof.key}.btf"
    if path.exists():
        return Btf(path.read_bytes())
    if not prof.has_btf or "__start_BTF" not in prof.symbols:
        raise LinuxError("this kernel has no BTF (CONFIG_DEBUG_INFO_BTF): no types for an ISF")
    from ramooflax.progressbar import Bar

    text = prof.text(vm)
    start, stop = text + prof.symbols["__start_BTF"], text + prof.symbols["__stop_BTF"]
    kmem = KernelMemory(vm, int(getattr(vm.cpu.sr, prof.entry_reg)))
    out = bytearray()
    step = 0x3FF8 * 4
    if progress:
        with Bar(stop - start, "BTF") as advance:
            while len(out) < stop - start:
                n = min(step, stop - start - len(out))
                out += kmem.read(start + len(out), n)
                advance(n)
    else:
        out += kmem.read(start, stop - start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return Btf(bytes(out))


def symbols_for(
    vm: "VM", prof: Profile, cache: Path | None = None
) -> list[tuple[str, str, int, bool]]:
    """The full symbol table; read again from memory if it is not cached."""
    try:
        return load_symbols(prof, cache)
    except LinuxError:
        _build_from_memory(vm, prof.arch)
        return load_symbols(prof, cache)
