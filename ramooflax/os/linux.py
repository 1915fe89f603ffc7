"""Linux awareness: the task list, from the kernel's own artifacts.

Everything comes from the Debian kernel package's vmlinuz and from the
running guest, never from numbers typed by hand:

* the kernel image: vmlinuz holds an XZ-compressed ELF vmlinux (section
  headers kept, symbols stripped);
* `init_task`'s link-time address: the kernel's export table (__ksymtab,
  whose names are in __ksymtab_strings);
* structure offsets (task_struct.tasks/.comm/.mm/.pid, mm_struct.pgd/...):
  the .BTF section (CONFIG_DEBUG_INFO_BTF);
* the KASLR slide, at run time: the syscall entry register (`lstar`, or
  `sysenter_eip` on i386) points at the entry code. The entry's link-time
  address is the place in .text, at the same offset modulo the KASLR
  alignment (CONFIG_PHYSICAL_ALIGN), whose bytes are the ones the guest has
  at that register: slide = register - link address.

A Profile is computed once per kernel and cached as JSON under
<cache>/linux/; a walk then reads a few bytes per task.

    prof = Profile.for_vmlinuz(path)           # or Profile.find("amd64")
    linux = Linux(vm, prof)
    for task in linux.tasks(): print(task.pid, task.comm, hex(task.cr3))
"""

import json
import lzma
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.errors import AddressNotMapped, RamooflaxError
from ramooflax.os.btf import Btf

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

XZ_MAGIC = b"\xfd7zXZ\x00"
PROFILE_VERSION = 2


class LinuxError(RamooflaxError):
    """The kernel's artifacts or memory do not look as expected."""


# -- the kernel image -----------------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    offset: int
    size: int


class Vmlinux:
    """The ELF inside a vmlinuz: sections, reads at link-time addresses."""

    def __init__(self, elf: bytes) -> None:
        if elf[:4] != b"\x7fELF":
            raise LinuxError("the decompressed kernel is not an ELF file")
        self.data = elf
        self.bits = 64 if elf[4] == 2 else 32
        if self.bits == 64:
            (shoff,) = struct.unpack_from("<Q", elf, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
        else:
            (shoff,) = struct.unpack_from("<I", elf, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x2E)
        raw = []
        for i in range(shnum):
            off = shoff + i * shentsize
            if self.bits == 64:
                name, _t, _f, addr, offset, size = struct.unpack_from("<IIQQQQ", elf, off)
            else:
                name, _t, _f, addr, offset, size = struct.unpack_from("<IIIIII", elf, off)
            raw.append((name, addr, offset, size))
        strtab = raw[shstrndx]
        names = elf[strtab[2] : strtab[2] + strtab[3]]
        self.sections: dict[str, Section] = {}
        for name, addr, offset, size in raw:
            n = names[name : names.find(b"\0", name)].decode()
            self.sections.setdefault(n, Section(n, addr, offset, size))

    @classmethod
    def from_vmlinuz(cls, path: Path) -> "Vmlinux":
        blob = path.read_bytes()
        start = blob.find(XZ_MAGIC)
        if start < 0:
            raise LinuxError(f"{path}: no XZ stream (only XZ-compressed kernels are supported)")
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob[start:])
        except lzma.LZMAError as exc:
            raise LinuxError(f"{path}: cannot decompress the kernel: {exc}") from None
        return cls(elf)

    def section(self, name: str) -> Section:
        try:
            return self.sections[name]
        except KeyError:
            raise LinuxError(f"the kernel image has no {name} section") from None

    def read(self, addr: int, size: int) -> bytes:
        for s in self.sections.values():
            if s.addr and s.addr <= addr and addr + size <= s.addr + s.size:
                off = s.offset + addr - s.addr
                return self.data[off : off + size]
        raise LinuxError(f"link address 0x{addr:x} is in no section of the kernel image")

    def btf(self) -> bytes:
        s = self.section(".BTF")
        return self.data[s.offset : s.offset + s.size]

    def exported(self, name: str) -> int:
        """The link-time address of an exported symbol (EXPORT_SYMBOL) from __ksymtab."""
        strs = self.section("__ksymtab_strings")
        blob = self.data[strs.offset : strs.offset + strs.size]
        key = b"\0" + name.encode() + b"\0"
        at = blob.find(key)
        if at < 0:
            raise LinuxError(f"{name} is not an exported kernel symbol")
        name_addr = strs.addr + at + 1
        for tab in ("__ksymtab", "__ksymtab_gpl"):
            s = self.sections.get(tab)
            if s is None:
                continue
            table = self.data[s.offset : s.offset + s.size]
            mask = (1 << self.bits) - 1
            for i in range(0, len(table) - 11, 12):
                # CONFIG_HAVE_ARCH_PREL32_RELOCATIONS: {value, name, namespace} as
                # int32 offsets from each field; else absolute pointers.
                v, n, _ = struct.unpack_from("<iii", table, i)
                if (s.addr + i + 4 + n) & mask == name_addr:
                    return int((s.addr + i + v) & mask)
                if self.bits == 32 and n & mask == name_addr:
                    return int(v & mask)
        raise LinuxError(f"{name} is in __ksymtab_strings but in no __ksymtab entry")

    def find_code(self, code: bytes, runtime: int, align: int) -> int:
        """The link address in .text holding `code` at runtime's offset modulo align."""
        text = self.section(".text")
        first = text.addr + ((runtime - text.addr) % align)
        hits = [a for a in range(first, text.addr + text.size, align)
                if self.read(a, len(code)) == code]  # fmt: skip
        if len(hits) != 1:
            raise LinuxError(
                f"the guest's entry code at 0x{runtime:x} matches {len(hits)} places in the "
                "kernel image: is this the guest's kernel package?"
            )
        return hits[0]


# -- the profile ------------------------------------------------------------------


@dataclass
class Profile:
    """What a task-list walk needs, at link-time addresses."""

    arch: str  # "amd64" or "i386"
    release: str  # the vmlinuz file name
    init_task: int
    entry_reg: str  # the register holding the syscall entry: lstar / sysenter_eip
    entry_code: str  # hex of .text bytes used to locate the entry (filled at first use)
    entry_link: int  # link address of that entry (0 until located)
    align: int  # KASLR alignment: CONFIG_PHYSICAL_ALIGN
    text_start: int
    offsets: dict[str, int]  # "task_struct.tasks" -> byte offset, ...
    version: int = PROFILE_VERSION

    @property
    def ptr_size(self) -> int:
        return 8 if self.arch == "amd64" else 4

    @classmethod
    def for_vmlinuz(cls, vmlinuz: Path, cache: Path | None = None) -> "Profile":
        """The profile of a kernel package's vmlinuz (cached as JSON next to the cache)."""
        cache_file = _cache_dir(cache) / (vmlinuz.name + ".json")
        if cache_file.exists():
            data = json.loads(cache_file.read_text())
            if data.get("version") == PROFILE_VERSION:
                return cls(**data)
        prof = cls.build(vmlinuz)
        prof.save(cache)
        return prof

    def save(self, cache: Path | None = None) -> None:
        path = _cache_dir(cache) / (self.release + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def build(cls, vmlinuz: Path) -> "Profile":
        img = Vmlinux.from_vmlinuz(vmlinuz)
        arch = "amd64" if img.bits == 64 else "i386"
        config = _config_of(vmlinuz)
        align = int(config.get("CONFIG_PHYSICAL_ALIGN", "0x200000"), 16)
        offsets = _offsets(img, config)
        return cls(
            arch=arch,
            release=vmlinuz.name,
            init_task=img.exported("init_task"),
            entry_reg="lstar" if arch == "amd64" else "sysenter_eip",
            entry_code="",
            entry_link=0,
            align=align,
            text_start=img.section(".text").addr,
            offsets=offsets,
        )

    @classmethod
    def find(cls, arch: str, root: Path | None = None) -> "Profile":
        """The profile for the lab's cached kernel package of arch (amd64 / i386)."""
        from ramooflax.lab import paths

        base = root or paths.cache_dir() / "debs"
        deb_arch = "amd64" if arch == "amd64" else "i386"
        found = sorted(base.glob(f"linux-image-*_{deb_arch}/boot/vmlinuz-*"),
                       key=lambda p: p.stat().st_mtime)  # fmt: skip
        if not found:
            raise LinuxError(
                f"no linux-image package for {arch} in {base}: run "
                f"`ramooflax lab build-guest --arch {arch}` or pass the guest's vmlinuz"
            )
        return cls.for_vmlinuz(found[-1])


def _cache_dir(cache: Path | None) -> Path:
    if cache is not None:
        return cache
    from ramooflax.lab import paths

    return paths.cache_dir() / "linux"


def _config_of(vmlinuz: Path) -> dict[str, str]:
    cfg = vmlinuz.with_name(vmlinuz.name.replace("vmlinuz-", "config-"))
    out: dict[str, str] = {}
    if cfg.exists():
        for line in cfg.read_text(errors="replace").splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                k, _, v = line.partition("=")
                out[k] = v
    return out


WANTED = [
    ("task_struct", "tasks"),
    ("task_struct", "comm"),
    ("task_struct", "mm"),
    ("task_struct", "pid"),
    ("mm_struct", "pgd"),
    ("mm_struct", "start_code"),
    ("mm_struct", "arg_start"),
    ("mm_struct", "arg_end"),
]


def _offsets(img: Vmlinux, config: dict[str, str]) -> dict[str, int]:
    if ".BTF" not in img.sections:
        from ramooflax.os.linux_nobtf import offsets_without_btf

        return offsets_without_btf(img, stackprotector=config.get("CONFIG_STACKPROTECTOR") == "y")
    btf = Btf(img.btf())
    return {f"{s}.{m}": btf.offsetof(s, m) for s, m in WANTED}


# -- the running kernel -------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    addr: int  # the task_struct's virtual address
    pid: int
    comm: str
    mm: int
    pgd: int  # mm->pgd (virtual), 0 for kernel threads
    cr3: int  # __pa(pgd): the cr3 the task runs with (0 for kernel threads)


class Linux:
    """A running Linux guest, seen through the VM's memory."""

    def __init__(self, vm: "VM", profile: Profile) -> None:
        self.vm = vm
        self.profile = profile
        self._slide: int | None = None
        self._kcr3: int | None = None

    @property
    def slide(self) -> int:
        """The KASLR slide: entry register - the entry's link address."""
        if self._slide is None:
            p = self.profile
            runtime = getattr(self.vm.cpu.sr, p.entry_reg)
            if not p.entry_link:
                code = self.vm.mem.vread(runtime, 16)
                img = Vmlinux.from_vmlinuz(_vmlinuz_of(p))
                p.entry_link = img.find_code(code, runtime, p.align)
                p.entry_code = code.hex()
                p.save()
            self._slide = runtime - p.entry_link
        return self._slide

    def addr(self, link: int) -> int:
        return link + self.slide

    def _read(self, addr: int, size: int) -> bytes:
        """Kernel memory: through the current cr3, else the kernel half of it (PTI)."""
        cr3 = self._kcr3
        try:
            return self.vm.mem.vread(addr, size, cr3)
        except AddressNotMapped:
            if cr3 is not None:
                raise
            cur = self.vm.cpu.sr.cr3
            self._kcr3 = cur & ~0x1FFF  # PTI: the user copy is the kernel pgd + 4 KiB
            return self.vm.mem.vread(addr, size, self._kcr3)

    def _ptr(self, data: bytes, off: int) -> int:
        fmt = "<Q" if self.profile.ptr_size == 8 else "<I"
        return int(struct.unpack_from(fmt, data, off)[0])

    def _pa(self, vaddr: int) -> int:
        return self.vm.mem.translate(vaddr, self._kcr3)

    def tasks(self, with_cr3: bool = True) -> Iterator[Task]:
        """Walk init_task.tasks: every thread-group leader, init_task first."""
        o = self.profile.offsets
        t_tasks, t_comm, t_mm, t_pid = (o["task_struct.tasks"], o["task_struct.comm"],
                                        o["task_struct.mm"], o["task_struct.pid"])  # fmt: skip
        lo = min(t_tasks, t_comm, t_mm, t_pid)
        span = max(t_tasks, t_comm + 16, t_mm + 8, t_pid + 4) - lo
        head = self.addr(self.profile.init_task)
        task = head
        for _ in range(1 << 15):
            raw = self._read(task + lo, span)
            comm = raw[t_comm - lo : t_comm - lo + 16].split(b"\0")[0].decode("latin-1")
            pid = int(struct.unpack_from("<i", raw, t_pid - lo)[0])
            mm = self._ptr(raw, t_mm - lo)
            pgd = cr3 = 0
            if mm:
                pgd = self._ptr(self._read(mm + o["mm_struct.pgd"], 8), 0)
                cr3 = self._pa(pgd) if with_cr3 else 0
            yield Task(task, pid, comm, mm, pgd, cr3)
            task = self._ptr(raw, t_tasks - lo) - t_tasks
            if task == head:
                return
        raise LinuxError("the task list does not loop back to init_task: wrong offsets?")

    def find(self, name: str) -> Task | None:
        """The first task whose comm contains name (the paper's match)."""
        for task in self.tasks(with_cr3=False):
            if name in task.comm and task.mm:
                return Task(task.addr, task.pid, task.comm, task.mm, task.pgd,
                            self._pa(task.pgd))  # fmt: skip
        return None

    def mm_field(self, task: Task, field: str) -> int:
        """A word of the task's mm_struct (start_code, arg_start, arg_end, ...)."""
        off = self.profile.offsets[f"mm_struct.{field}"]
        if off < 0:
            self._locate_mm_layout(task)
            off = self.profile.offsets[f"mm_struct.{field}"]
        return self._ptr(self._read(task.mm + off, self.profile.ptr_size), 0)

    def _locate_mm_layout(self, task: Task) -> None:
        """Without BTF: find start_code..env_end in this live mm (linux_nobtf)."""
        from ramooflax.os.linux_nobtf import mm_layout_from_words

        ps = self.profile.ptr_size
        raw = self._read(task.mm, 0x400)
        words = [self._ptr(raw, i) for i in range(0, len(raw), ps)]
        user_top = 0x800000000000 if ps == 8 else 0xC0000000
        i = mm_layout_from_words(words, user_top)
        if i is None:
            raise LinuxError(f"no start_code..env_end run in {task.comm}'s mm_struct")
        o = self.profile.offsets
        o["mm_struct.start_code"], o["mm_struct.arg_start"] = i * ps, (i + 7) * ps
        o["mm_struct.arg_end"] = (i + 8) * ps
        self.profile.save()

    def argv(self, task: Task) -> list[str]:
        """The task's command line, read through its own cr3."""
        start, end = self.mm_field(task, "arg_start"), self.mm_field(task, "arg_end")
        raw = self.vm.mem.vread(start, end - start, task.cr3)
        return [a.decode("latin-1") for a in raw.rstrip(b"\0").split(b"\0")]


def _vmlinuz_of(profile: Profile) -> Path:
    from ramooflax.lab import paths

    for p in (paths.cache_dir() / "debs").glob(f"linux-image-*/boot/{profile.release}"):
        return p
    raise LinuxError(f"cannot find {profile.release} in the cache: pass the kernel package")
