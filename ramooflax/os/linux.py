"""Linux awareness: processes, modules and memory maps of a running guest.

Symbols and structure offsets come from the guest kernel itself
(`Linux.from_memory(vm)`: kallsyms and BTF in its memory, os/profile.py),
or from its Debian package (`Linux.from_package(vm, vmlinuz)`), never from
numbers typed by hand. Where `_text` is at run time follows from the
syscall entry register (`lstar`, or `sysenter_eip` on i386) and the entry's
place in kallsyms, which relocation cannot change.

    linux = Linux.from_memory(vm)           # cached by banner: the second attach is free
    for p in linux.ps(): print(p.pid, p.ppid, p.comm, p.uid, p.state, hex(p.cr3))
    linux.modules(); linux.vmas(task)
"""

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.os.kmem import KernelMemory, ReadStats
from ramooflax.os.profile import Profile
from ramooflax.os.vmlinuz import LinuxError, Vmlinux

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

__all__ = ["VMA", "Linux", "LinuxError", "Module", "Profile", "Task", "Vmlinux"]

# fs/proc/array.c task_state_array, indexed by the highest TASK_REPORT bit.
STATE_LETTERS = "RSDTtXZPI"
TASK_REPORT, TASK_IDLE, TASK_REPORT_IDLE = 0x7F, 0x402, 0x80
VM_READ, VM_WRITE, VM_EXEC, VM_SHARED = 1, 2, 4, 8
# include/linux/maple_tree.h: 256-byte nodes; slots per node type and word size.
MAPLE_NODE_MASK = 0xFF
MAPLE_SLOTS = {8: {1: 16, 2: 16, 3: 10}, 4: {1: 32, 2: 32, 3: 21}}  # leaf_64, range_64, arange_64
MAPLE_ARANGE = 3


@dataclass(frozen=True)
class Task:
    addr: int  # the task_struct's virtual address
    pid: int
    comm: str
    mm: int
    pgd: int  # mm->pgd (virtual), 0 for kernel threads
    cr3: int  # __pa(pgd): the cr3 the task runs with (0 for kernel threads)
    ppid: int = 0
    uid: int | None = None  # None where the layout is unknown (no BTF)
    state: str = "?"


@dataclass(frozen=True)
class Module:
    name: str
    base: int  # the core text's address
    size: int
    addr: int  # the struct module's address


@dataclass(frozen=True)
class VMA:
    start: int
    end: int
    flags: int
    file: str  # the mapped file's path ("" for anonymous memory)
    pgoff: int = 0

    @property
    def perms(self) -> str:
        f = self.flags
        return (
            ("r" if f & VM_READ else "-")
            + ("w" if f & VM_WRITE else "-")
            + ("x" if f & VM_EXEC else "-")
            + ("s" if f & VM_SHARED else "p")
        )


class Linux:
    """A running Linux guest, seen through the VM's memory."""

    def __init__(self, vm: "VM", profile: Profile) -> None:
        self.vm = vm
        self.profile = profile
        self.kmem = KernelMemory(vm, int(getattr(vm.cpu.sr, profile.entry_reg)))
        self._text = profile.text(vm)

    @classmethod
    def from_memory(cls, vm: "VM", cache: Path | None = None, refresh: bool = False) -> "Linux":
        """From the guest's memory alone (kallsyms + BTF), cached by the kernel banner."""
        return cls(vm, Profile.from_memory(vm, cache, refresh))

    @classmethod
    def from_package(cls, vm: "VM", vmlinuz: Path | None = None, check: bool = False) -> "Linux":
        """From the kernel package's vmlinuz (default: the lab's cached one with the
        guest's banner). check=True also builds the profile from memory and
        raises if the two disagree."""
        prof = Profile.for_vmlinuz(vmlinuz) if vmlinuz is not None else Profile.find(vm)
        if not prof.matches(vm):
            raise LinuxError(
                f"{vmlinuz} is not the guest's kernel: its banner ({prof.banner[:60]!r}...) is "
                "not in the guest's memory where it would be; pass the guest's vmlinuz, or use "
                "Linux.from_memory(vm)"
            )
        if check:
            mem = Profile.from_memory(vm)
            diffs = prof.check_against(mem)
            if diffs:
                raise LinuxError("the package and the guest's memory disagree: " + "; ".join(diffs))
        return cls(vm, prof)

    @property
    def stats(self) -> ReadStats | None:
        """Bytes and time spent building the profile (None for a package profile)."""
        return self.profile.stats

    @property
    def text(self) -> int:
        """_text at run time."""
        return self._text

    @property
    def slide(self) -> int:
        """The KASLR slide: _text at run time - its link address."""
        return self._text - self.profile.link_text

    def symbol(self, name: str) -> int:
        try:
            return self._text + self.profile.symbols[name]
        except KeyError:
            raise LinuxError(f"the profile has no symbol {name}") from None

    def lookup(self, name: str) -> int | None:
        """A symbol's run-time address, or None where the profile lacks it."""
        off = self.profile.symbols.get(name)
        return None if off is None else self._text + off

    def addr(self, link: int) -> int:
        """A link-time address at run time (package profiles)."""
        return link + self.slide

    def _off(self, key: str) -> int:
        off = self.profile.offsets.get(key, -1)
        if off < 0:
            raise LinuxError(f"this kernel's layout has no {key} (or it is unknown without BTF)")
        return off

    def _ptr(self, data: bytes, off: int) -> int:
        fmt = "<Q" if self.profile.ptr_size == 8 else "<I"
        return int(struct.unpack_from(fmt, data, off)[0])

    def _read(self, addr: int, size: int) -> bytes:
        return self.kmem.read(addr, size)

    def _pa(self, vaddr: int) -> int:
        return self.kmem.translate(vaddr)

    # -- tasks --------------------------------------------------------------------
    def tasks(self, with_cr3: bool = True, details: bool = False) -> Iterator[Task]:
        """Walk init_task.tasks: every thread-group leader, init_task first.
        details adds ppid, uid and state (three more small reads a task)."""
        o = self.profile.offsets
        t_tasks, t_comm, t_mm, t_pid = (
            o["task_struct.tasks"],
            o["task_struct.comm"],
            o["task_struct.mm"],
            o["task_struct.pid"],
        )
        lo = min(t_tasks, t_mm, t_pid)
        span = max(t_tasks + 8, t_mm + 8, t_pid + 4) - lo
        head = self.symbol("init_task")
        task = head
        ps = self.profile.ptr_size
        for _ in range(1 << 15):
            raw = self._read(task + lo, span)
            comm = self._read(task + t_comm, 16).split(b"\0")[0].decode("latin-1")
            pid = int(struct.unpack_from("<i", raw, t_pid - lo)[0])
            mm = self._ptr(raw, t_mm - lo)
            pgd = cr3 = 0
            if mm:
                pgd = self._ptr(self._read(mm + o["mm_struct.pgd"], ps), 0)
                cr3 = self._pa(pgd) if with_cr3 else 0
            if details:
                ppid, uid, state = self._details(task)
                yield Task(task, pid, comm, mm, pgd, cr3, ppid, uid, state)
            else:
                yield Task(task, pid, comm, mm, pgd, cr3)
            task = self._ptr(raw, t_tasks - lo) - t_tasks
            if task == head:
                return
        raise LinuxError("the task list does not loop back to init_task: wrong offsets?")

    def _details(self, task: int) -> tuple[int, int | None, str]:
        o = self.profile.offsets
        ps = self.profile.ptr_size
        ppid = 0
        if o.get("task_struct.real_parent", -1) >= 0:
            parent = self._ptr(self._read(task + o["task_struct.real_parent"], ps), 0)
            ppid = int(struct.unpack("<i", self._read(parent + o["task_struct.tgid"], 4))[0])
        uid = None
        if o.get("task_struct.cred", -1) >= 0 and o.get("cred.uid", -1) >= 0:
            cred = self._ptr(self._read(task + o["task_struct.cred"], ps), 0)
            uid = int(struct.unpack("<I", self._read(cred + o["cred.uid"], 4))[0])
        state = "?"
        field = (
            "task_struct.__state" if o.get("task_struct.__state", -1) >= 0 else "task_struct.state"
        )
        if o.get(field, -1) >= 0:
            raw = int(struct.unpack("<I", self._read(task + o[field], 4))[0])
            exit_state = 0
            if o.get("task_struct.exit_state", -1) >= 0:
                exit_state = int(
                    struct.unpack("<I", self._read(task + o["task_struct.exit_state"], 4))[0]
                )
            state = task_state(raw, exit_state)
        return ppid, uid, state

    def ps(self) -> list[Task]:
        """Every process (thread-group leader) with pid, ppid, comm, cr3, uid and state."""
        return list(self.tasks(details=True))

    def find(self, name: str) -> Task | None:
        """The first task whose comm contains name (the paper's match)."""
        for task in self.tasks(with_cr3=False):
            if name in task.comm and task.mm:
                return Task(task.addr, task.pid, task.comm, task.mm, task.pgd, self._pa(task.pgd))
        return None

    def task(self, pid: int) -> Task:
        for t in self.tasks(details=True):
            if t.pid == pid:
                return t
        raise LinuxError(f"no process with pid {pid} in the guest")

    # -- a process's memory ---------------------------------------------------------
    def mm_field(self, task: Task, field: str) -> int:
        """A word of the task's mm_struct (start_code, arg_start, arg_end, ...)."""
        off = self.profile.offsets.get(f"mm_struct.{field}", -1)
        if off < 0:
            self._locate_mm_layout(task)
            off = self._off(f"mm_struct.{field}")
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

    def argv(self, task: Task) -> list[str]:
        """The task's command line, read through its own cr3; [] while an exec
        has not laid it out yet (the new comm comes before the new argv)."""
        start, end = self.mm_field(task, "arg_start"), self.mm_field(task, "arg_end")
        if not start or end <= start:
            return []
        raw = self.vm.mem.vread(start, end - start, task.cr3)
        return [a.decode("latin-1") for a in raw.rstrip(b"\0").split(b"\0")]

    def vmas(self, task: Task) -> list[VMA]:
        """The task's memory areas, by address: start, end, flags and file."""
        if not task.mm:
            return []
        o = self.profile.offsets
        if o.get("mm_struct.mm_mt", -1) >= 0:
            root = self._ptr(
                self._read(
                    task.mm + o["mm_struct.mm_mt"] + o["maple_tree.ma_root"], self.profile.ptr_size
                ),
                0,
            )
            addrs = sorted(set(self._maple_entries(root, 0)))
        elif o.get("mm_struct.mmap", -1) >= 0:
            addrs = []
            vma = self._ptr(self._read(task.mm + o["mm_struct.mmap"], self.profile.ptr_size), 0)
            while vma and len(addrs) < 1 << 16:
                addrs.append(vma)
                vma = self._ptr(
                    self._read(vma + self._off("vm_area_struct.vm_next"), self.profile.ptr_size), 0
                )
        else:
            raise LinuxError("this kernel's mm_struct layout is unknown (no BTF): no VMAs")
        out = [self._vma(a) for a in addrs]
        return sorted(out, key=lambda v: v.start)

    def _maple_entries(self, entry: int, depth: int) -> Iterator[int]:
        """The entries (VMA pointers) under a maple tree entry (include/linux/maple_tree.h:
        a node pointer has bits 1:0 = 10b, its type in bits 6:3)."""
        ps = self.profile.ptr_size
        kernel = 1 << (8 * ps - 1)
        if not entry or depth > 8:
            return
        if entry & 3 != 2 or entry < 4096:
            if entry >= kernel and entry % ps == 0:
                yield entry
            return
        node = entry & ~MAPLE_NODE_MASK
        kind = (entry >> 3) & 0xF
        slots = MAPLE_SLOTS[ps].get(kind)
        if slots is None:
            return
        raw = self._read(node, 256)
        first = ps + (slots - 1) * ps  # parent, pivots, then the slots
        for i in range(slots):
            child = self._ptr(raw, first + i * ps)
            if kind in (1,):  # a leaf: slots are the entries
                if child >= kernel and child % ps == 0:
                    yield child
            else:
                yield from self._maple_entries(child, depth + 1)

    def vma_names(self, task: Task, vmas: list[VMA]) -> dict[int, str]:
        """/proc/PID/maps' names of the anonymous areas it names: [heap], [stack],
        [vdso] (by start address; from the mm's brk, start_stack, context.vdso)."""
        o, out = self.profile.offsets, {}
        words = {
            k: self.mm_field(task, k)
            for k in ("start_brk", "brk", "start_stack")
            if o.get(f"mm_struct.{k}", -1) >= 0
        }
        vdso = (
            self.mm_field(task, "context.vdso") if o.get("mm_struct.context.vdso", -1) >= 0 else 0
        )
        for v in vmas:
            if v.file:
                continue
            if "brk" in words and v.start <= words["brk"] and v.end >= words["start_brk"]:
                out[v.start] = "[heap]"
            elif "start_stack" in words and v.start <= words["start_stack"] < v.end:
                out[v.start] = "[stack]"
            elif vdso and v.start == vdso:
                out[v.start] = "[vdso]"
            elif vdso and v.end == vdso and v.perms == "r--p":  # the vdso's data pages
                out[v.start] = "[vvar]"
        return out

    def _vma(self, addr: int) -> VMA:
        ps = self.profile.ptr_size
        keys = [
            "vm_area_struct.vm_start",
            "vm_area_struct.vm_end",
            "vm_area_struct.vm_flags",
            "vm_area_struct.vm_file",
            "vm_area_struct.vm_pgoff",
        ]
        offs = [self._off(k) for k in keys]
        raw = self._read(addr, max(offs) + ps)
        start, end, flags, file, pgoff = (self._ptr(raw, x) for x in offs)
        return VMA(start, end, flags, self.file_path(file) if file else "", pgoff)

    def file_path(self, file: int) -> str:
        """A struct file's path, from its dentry up to the root (mounts not crossed)."""
        ps = self.profile.ptr_size
        dentry = self._ptr(
            self._read(file + self._off("file.f_path") + self._off("path.dentry"), ps), 0
        )
        parts: list[str] = []
        for _ in range(64):
            name_ptr = self._ptr(
                self._read(dentry + self._off("dentry.d_name") + self._off("qstr.name"), ps), 0
            )
            name = self.kmem.cstring(name_ptr, 256).decode("latin-1", "replace")
            parent = self._ptr(self._read(dentry + self._off("dentry.d_parent"), ps), 0)
            if parent == dentry or not parent:
                break
            parts.append(name)
            dentry = parent
        return "/" + "/".join(reversed(parts))

    # -- physical memory ---------------------------------------------------------------
    def ram_ranges(self) -> list[tuple[int, int]]:
        """[start, end) of each "System RAM" range in the kernel's own memory map
        (iomem_resource's top-level children, as /proc/iomem lists them)."""
        root = self.lookup("iomem_resource")
        if root is None:
            raise LinuxError(
                "the profile has no iomem_resource (a kernel without "
                "CONFIG_KALLSYMS_ALL): no RAM map from the kernel"
            )
        ps = self.profile.ptr_size
        o_start, o_end = self._off("resource.start"), self._off("resource.end")
        size = o_end - o_start  # resource_size_t
        o_name, o_sib = self._off("resource.name"), self._off("resource.sibling")
        node = self._ptr(self._read(root + self._off("resource.child"), ps), 0)
        out: list[tuple[int, int]] = []
        for _ in range(4096):
            if not node:
                return out
            raw = self._read(node, max(o_name, o_sib) + ps)
            start = int.from_bytes(raw[o_start : o_start + size], "little")
            end = int.from_bytes(raw[o_end : o_end + size], "little")
            name_ptr = self._ptr(raw, o_name)
            if name_ptr and self.kmem.cstring(name_ptr, 32) == b"System RAM":
                out.append((start, end + 1))
            node = self._ptr(raw, o_sib)
        raise LinuxError("iomem_resource's list does not end")

    def mapcounts(self, pfns: list[int]) -> dict[int, int]:
        """How many page-table entries map each page frame: struct page's _mapcount
        + 1 (what /proc/PID/smaps calls shared: 2 or more), read from the vmemmap."""
        base_var = self.lookup("vmemmap_base")
        size = self.profile.offsets.get("sizeof.page", -1)
        if base_var is None or size <= 0:
            raise LinuxError(
                "this kernel's struct page array is unknown (no vmemmap_base "
                "or no BTF): no map counts"
            )
        vmemmap = self._ptr(self._read(base_var, 8), 0)
        off = self._off("page._mapcount")
        out: dict[int, int] = {}
        todo = sorted(set(pfns))
        i = 0
        while i < len(todo):  # the pfns whose struct pages share a 4 KiB page: one read
            first = vmemmap + todo[i] * size
            j = i
            while j + 1 < len(todo) and (vmemmap + todo[j + 1] * size) // 4096 == first // 4096:
                j += 1
            last = vmemmap + todo[j] * size + size
            raw = self._read(first, last - first)
            for pfn in todo[i : j + 1]:
                at = (vmemmap + pfn * size) - first + off
                out[pfn] = int(struct.unpack_from("<i", raw, at)[0]) + 1
            i = j + 1
        return out

    # -- modules --------------------------------------------------------------------
    def modules(self) -> list[Module]:
        """The loaded modules (the `modules` list): name, core text base and size."""
        o = self.profile.offsets
        ps = self.profile.ptr_size
        head = self.symbol("modules")
        m_list = self._off("module.list")
        name_off = self._off("module.name")
        if o.get("module.mem", -1) >= 0:  # 6.4+: mem[MOD_TEXT]
            base_off, size_off = o["module.mem"], o["module.mem"] + o["module_memory.size"]
        else:
            base_off = self._off("module.core_layout")
            size_off = base_off + self._off("module_layout.size")
        out: list[Module] = []
        node = self._ptr(self._read(head, ps), 0)
        for _ in range(4096):
            if node == head or not node:
                return out
            mod = node - m_list
            name = self._read(mod + name_off, 56).split(b"\0")[0].decode("latin-1")
            base = self._ptr(self._read(mod + base_off, ps), 0)
            size = int(struct.unpack("<I", self._read(mod + size_off, 4))[0])
            out.append(Module(name, base, size, mod))
            node = self._ptr(self._read(node, ps), 0)
        raise LinuxError("the module list does not loop back to `modules`")


def task_state(state: int, exit_state: int) -> str:
    """ps's state letter (fs/proc/array.c get_task_state)."""
    if state == TASK_IDLE:
        return "I"
    bits = (state | exit_state) & TASK_REPORT
    return STATE_LETTERS[bits.bit_length()] if bits.bit_length() < len(STATE_LETTERS) else "?"
