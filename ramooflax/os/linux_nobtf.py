"""Structure offsets for kernels built without BTF (Debian's 686 kernel).

They are read from the kernel image itself: init_task's and init_mm's static
initializers (init/init_task.c, mm/init-mm.c) have a shape that pins their
fields down, whatever the config:

* task_struct.comm: where "swapper\\0" (INIT_TASK_COMM) sits in init_task;
* task_struct.tasks: LIST_HEAD_INIT(init_task.tasks) (two self pointers),
  then pushable_tasks = PLIST_NODE_INIT(.., MAX_PRIO) (140, two self lists),
  then pushable_dl_tasks (a zero rb_node), then mm = NULL, active_mm = &init_mm;
* task_struct.mm: just after those (tasks + 10 words);
* task_struct.pid: real_parent = parent = &init_task; pid and tgid precede
  them, with the stack canary between under CONFIG_STACKPROTECTOR;
* mm_struct.pgd: init_mm.pgd = swapper_pg_dir, the first page-aligned pointer
  into the kernel image in init_mm.

The mm_struct fields after the counters (start_code ... env_end) have no
static value; Linux finds them at run time in a live mm (see
`mm_layout_from_words`).
"""

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ramooflax.errors import RamooflaxError

if TYPE_CHECKING:
    from ramooflax.os.vmlinuz import Vmlinux

MAX_PRIO = 140
UNKNOWN = -1


class NoBtfError(RamooflaxError):
    """init_task / init_mm do not have the expected shape."""


def offsets_without_btf(img: "Vmlinux", stackprotector: bool = True) -> dict[str, int]:
    ps = img.bits // 8
    fmt = "<Q" if ps == 8 else "<I"
    it = img.exported("init_task")
    raw = img.read(it, 0x1800)
    w = [int(struct.unpack_from(fmt, raw, i)[0]) for i in range(0, len(raw), ps)]

    def self_list(i: int) -> bool:
        return w[i] == it + i * ps and w[i + 1] == it + i * ps

    tasks = None
    for i in range(len(w) - 12):
        if (
            self_list(i)
            and w[i + 2] == MAX_PRIO
            and self_list(i + 3)
            and self_list(i + 5)
            and w[i + 7] == w[i + 8] == w[i + 9] == 0
            and w[i + 10] == 0
            and w[i + 11]
        ):
            tasks = i
            break
    if tasks is None:
        raise NoBtfError("no tasks/pushable_tasks/mm signature in init_task")
    mm = tasks + 10
    init_mm = w[tasks + 11]
    parent = next((j for j in range(mm + 2, len(w) - 1) if w[j] == it and w[j + 1] == it), None)
    if parent is None:
        raise NoBtfError("no real_parent/parent = &init_task in init_task")
    pid = parent * ps - 8 - (ps if stackprotector else 0)
    comm = raw.find(b"swapper\0")
    if comm < 0 or comm % ps:
        raise NoBtfError('no aligned "swapper" comm in init_task')
    mm_raw = img.read(init_mm, 0x80)
    lo, hi = img.section(".data").addr, img.section(".brk").addr + img.section(".brk").size
    pgd = None
    for off in range(0, len(mm_raw), ps):
        v = int(struct.unpack_from(fmt, mm_raw, off)[0])
        if v and v % 0x1000 == 0 and lo <= v < hi:
            pgd = off
            break
    if pgd is None:
        raise NoBtfError("no swapper_pg_dir pointer in init_mm")
    return {
        "task_struct.tasks": tasks * ps,
        "task_struct.comm": comm,
        "task_struct.mm": mm * ps,
        "task_struct.pid": pid,
        "task_struct.tgid": pid + 4,
        "task_struct.real_parent": parent * ps,
        "mm_struct.pgd": pgd,
        "mm_struct.start_code": UNKNOWN,
        "mm_struct.arg_start": UNKNOWN,
        "mm_struct.arg_end": UNKNOWN,
    }


def mm_layout_from_words(words: list[int], user_top: int) -> int | None:
    """Index of start_code in a live mm_struct's words, or None.

    mm_struct keeps start_code, end_code, start_data, end_data, start_brk,
    brk, start_stack, arg_start, arg_end, env_start, env_end in a row; for a
    running process they are ordered user addresses with arg_end == env_start.
    """
    for i in range(len(words) - 10):
        sc, ec, sd, ed, sb, b, ss, a0, a1, e0, e1 = words[i : i + 11]
        if (
            0 < sc < ec <= sd <= ed <= sb <= b
            and ss < a0 < a1 == e0 < e1 < user_top
            and sc < user_top
        ):
            return i
    return None


def offsets_from_memory(
    read: Callable[[int, int], bytes], init_task: int, ps: int, text: int, end: int
) -> dict[str, int]:
    """The same fields from the running init_task (swapper/0), whose lists have
    moved on since boot: tasks now links other tasks, and the boot CPU's idle
    task may have borrowed a process's mm as active_mm (lazy TLB). What still
    holds: pushable_tasks (prio MAX_PRIO, two self-linked lists), a zero
    pushable_dl_tasks, mm NULL; real_parent = parent = &init_task; pid =
    tgid = 0, with the stack canary (random, non-zero) between them and
    real_parent under CONFIG_STACKPROTECTOR; comm "swapper/0"."""
    fmt = "<Q" if ps == 8 else "<I"
    raw = read(init_task, 0x1800)
    w = [int(struct.unpack_from(fmt, raw, i)[0]) for i in range(0, len(raw), ps)]

    def self_list(i: int) -> bool:
        return w[i] == init_task + i * ps and w[i + 1] == init_task + i * ps

    tasks = next(
        (
            i
            for i in range(len(w) - 12)
            if w[i]
            and w[i + 1]
            and w[i + 2] == MAX_PRIO
            and self_list(i + 3)
            and self_list(i + 5)
            and w[i + 7] == w[i + 8] == w[i + 9] == 0
            and w[i + 10] == 0
            and w[i + 11]
        ),
        None,
    )
    if tasks is None:
        raise NoBtfError("no tasks/pushable_tasks/mm signature in the running init_task")
    mm = tasks + 10
    parent = next(
        (j for j in range(mm + 2, len(w) - 1) if w[j] == init_task and w[j + 1] == init_task), None
    )
    if parent is None:
        raise NoBtfError("no real_parent/parent = &init_task in the running init_task")
    canary = w[parent - 1] != 0
    pid = parent * ps - 8 - (ps if canary else 0)
    comm = raw.find(b"swapper/0\0")
    if comm < 0 or comm % ps:
        raise NoBtfError('no aligned "swapper/0" comm in the running init_task')
    # active_mm's pgd: the first page-aligned kernel pointer in the mm_struct.
    # Before it come the maple tree (its root is a tagged pointer, never page
    # aligned), get_unmapped_area (text), mmap_base, mmap_legacy_base (user
    # addresses) and task_size (= PAGE_OFFSET on 32 bits: hence "above").
    page_offset = 0xC0000000 if ps == 4 else 0xFFFF800000000000
    mm_raw = read(w[tasks + 11], 0x80)
    pgd = None
    for off in range(0, len(mm_raw), ps):
        v = int(struct.unpack_from(fmt, mm_raw, off)[0])
        if v % 0x1000 == 0 and v > page_offset:
            pgd = off
            break
    if pgd is None:
        raise NoBtfError("no page-directory pointer in init_task's active_mm")
    return {
        "task_struct.tasks": tasks * ps,
        "task_struct.comm": comm,
        "task_struct.mm": mm * ps,
        "task_struct.pid": pid,
        "task_struct.tgid": pid + 4,
        "task_struct.real_parent": parent * ps,
        "mm_struct.pgd": pgd,
        "mm_struct.start_code": UNKNOWN,
        "mm_struct.arg_start": UNKNOWN,
        "mm_struct.arg_end": UNKNOWN,
    }
