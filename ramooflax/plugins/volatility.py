"""Volatility 3 on the live, stopped VM, with an ISF the kernel gives itself.

    ramooflax isf [HOST:PORT] -o vmlinux.json     # the ISF (os/isf.py)
    ramooflax vol [HOST:PORT] linux.pslist         # a plugin on the live VM

A Volatility data layer (`RfxPhysicalLayer`) reads guest-physical memory
through the stub on demand, 4 KiB pages at a time, cached; the kernel's
virtual layer (LinuxIntel32e / LinuxIntel) is stacked on it with the page
tables' root (init_top_pgt / swapper_pg_dir) and the KASLR shift the
profile knows, so Volatility's banner scan (which would read all of RAM
over the line) is not needed. Needs the `forensics` extra (volatility3).
"""

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ramooflax.errors import AddressNotMapped, ClientError

if TYPE_CHECKING:
    from ramooflax.os.linux import Linux

PAGE = 0x1000
INSTALL = "Volatility 3 is not installed: pip install 'ramooflax[forensics]' (volatility3)"


def _vol() -> Any:
    try:
        import volatility3  # noqa: F401
    except ImportError:
        raise ClientError(INSTALL) from None
    from volatility3.framework import interfaces

    return interfaces


_VMS: dict[str, Any] = {}
_PAGES: dict[str, "PageRecord"] = {}


@dataclass
class PageRecord:
    """What Volatility's plugins used of the live VM's memory: the pages read
    (physical address -> bytes), and those it only checked as valid (a whole
    task_struct before following a list through it, ...): a dump for
    Volatility offline needs both."""

    read: dict[int, bytes] = field(default_factory=dict)
    checked: set[int] = field(default_factory=set)


def layer_class() -> Any:
    interfaces = _vol()
    from volatility3.framework.configuration import requirements

    data_layer: Any = interfaces.layers.DataLayerInterface

    class RfxPhysicalLayer(data_layer):
        """Guest-physical memory through the ramooflax stub (holes read as zeros)."""

        def __init__(self, context: Any, config_path: str, name: str, metadata: Any = None) -> None:
            super().__init__(context, config_path, name, metadata)
            self._vm = _VMS[self.config["vm_key"]]
            self._top = int(self.config["top"])
            self._record = _PAGES.get(self.config["vm_key"]) or PageRecord()
            self._pages = self._record.read  # pa -> the page read
            self.bytes_read = 0

        @classmethod
        def get_requirements(cls) -> list[Any]:
            return [
                requirements.StringRequirement(name="vm_key", optional=False),
                requirements.IntRequirement(name="top", optional=False),
            ]

        @property
        def maximum_address(self) -> int:
            return self._top - 1

        @property
        def minimum_address(self) -> int:
            return 0

        @property
        def dependencies(self) -> list[str]:
            return []

        def is_valid(self, offset: int, length: int = 1) -> bool:
            ok = 0 <= offset and offset + length <= self._top
            if ok and length <= 0x10000:
                self._record.checked.update(range(offset & ~(PAGE - 1), offset + length, PAGE))
            return ok

        def _page(self, pa: int) -> bytes:
            page = self._pages.get(pa)
            if page is None:
                try:
                    page = self._vm.mem.pread(pa, PAGE, progress=False)
                except AddressNotMapped:
                    page = bytes(PAGE)
                self.bytes_read += PAGE
                self._pages[pa] = page
            return page

        def read(self, offset: int, length: int, pad: bool = False) -> bytes:
            out = bytearray()
            pos = offset
            while len(out) < length:
                base = pos & ~(PAGE - 1)
                chunk = self._page(base)[pos - base : pos - base + length - len(out)]
                out += chunk
                pos += len(chunk)
            return bytes(out)

        def write(self, offset: int, data: bytes) -> None:
            raise ClientError("the Volatility layer is read-only")

    return RfxPhysicalLayer


def write_isf(linux: "Linux", path: Path, progress: bool = True) -> dict[str, Any]:
    """Write the ISF of the VM's kernel to path; return it."""
    from ramooflax.os import isf
    from ramooflax.os.profile import full_btf, symbols_for

    prof = linux.profile
    btf = full_btf(linux.vm, prof, progress=progress)
    doc = isf.build(prof, btf, symbols_for(linux.vm, prof))
    path.write_text(json.dumps(doc))
    return doc


def run(
    linux: "Linux",
    plugin: str,
    args: list[str],
    isf_path: Path | None = None,
    record: PageRecord | None = None,
) -> str:
    """Run a Volatility 3 plugin (e.g. linux.pslist) on the live VM; its text output.

    record, when given, is the page cache: runs that share it read each page
    once, and it holds every page they read or checked (save_lime writes them
    as a dump)."""
    interfaces = _vol()
    import volatility3.plugins
    from volatility3 import framework
    from volatility3.cli import text_renderer
    from volatility3.framework import contexts, plugins
    from volatility3.framework.layers import intel
    from volatility3.framework.symbols import linux as vlinux

    vm = linux.vm
    prof = linux.profile
    if not prof.has_btf:
        raise ClientError(
            "this kernel has no BTF, so there are no types for Volatility: "
            "give it an ISF made with dwarf2json from the kernel's debug package"
        )
    own = isf_path is None
    if isf_path is None:
        isf_path = Path(tempfile.mkdtemp(prefix="ramooflax-isf-")) / "vmlinux.json"
        write_isf(linux, isf_path)
    framework.require_interface_version(2, 0, 0)
    volatility3.plugins.__path__ = framework.constants.PLUGINS_PATH
    framework.import_files(volatility3.plugins, True)
    found = {k.lower(): v for k, v in framework.list_plugins().items()}
    want = plugin.lower()
    cls = found.get(want) or found.get(f"{want}.{want.rsplit('.', 1)[-1]}")
    if cls is None:
        names = ", ".join(sorted(k for k in found if k.startswith("linux.")))
        raise ClientError(f"no Volatility plugin {plugin!r}: try one of {names}")
    ctx = contexts.Context()
    key = f"vm{id(vm)}"
    _VMS[key] = vm
    if record is not None:
        _PAGES[key] = record
    top = _ram_top(vm)
    ctx.config["rfx.phys.vm_key"] = key
    ctx.config["rfx.phys.top"] = top
    phys = layer_class()(ctx, "rfx.phys", "rfx_phys")
    ctx.layers.add_layer(phys)
    table = vlinux.LinuxKernelIntermedSymbols(
        ctx, "rfx.symbols", name="rfx_symbols", isf_url=isf_path.as_uri()
    )
    ctx.symbol_space.append(table)
    pgt = "init_top_pgt" if prof.arch == "amd64" else "swapper_pg_dir"
    dtb = linux.kmem.translate(linux.symbol(pgt))
    ctx.config["rfx.kernel.memory_layer"] = "rfx_phys"
    ctx.config["rfx.kernel.page_map_offset"] = dtb
    ctx.config["rfx.kernel.kernel_virtual_offset"] = linux.slide
    layer_cls = intel.LinuxIntel32e if prof.arch == "amd64" else intel.LinuxIntel
    kernel = layer_cls(ctx, "rfx.kernel", "rfx_kernel", metadata={"os": "Linux"})
    ctx.layers.add_layer(kernel)
    base = "plugins"
    path = interfaces.configuration.path_join(base, cls.__name__)
    ctx.config[path + ".kernel.layer_name"] = "rfx_kernel"
    ctx.config[path + ".kernel.symbol_table_name"] = "rfx_symbols"
    ctx.config[path + ".kernel.offset"] = linux.slide
    ctx.config[path + ".kernel.class"] = "volatility3.framework.contexts.Module"
    from volatility3.framework.configuration import requirements

    for req in cls.get_requirements():
        if isinstance(req, requirements.ModuleRequirement):
            req.construct(ctx, path)
    _plugin_args(ctx, path, cls, args)
    try:
        constructed = plugins.construct_plugin(ctx, [], cls, base, None, None)
        grid = constructed.run()
        import io
        import sys

        buf = io.StringIO()
        saved, sys.stdout = sys.stdout, buf
        try:
            text_renderer.QuickTextRenderer().render(grid)
        finally:
            sys.stdout = saved
    finally:
        _VMS.pop(key, None)
        _PAGES.pop(key, None)
        if own:
            isf_path.unlink(missing_ok=True)
    return buf.getvalue()


def save_lime(linux: "Linux", record: PageRecord, path: Path) -> list[tuple[int, int]]:
    """Write the pages the plugins read or checked as a sparse LiME dump, with the
    pages Volatility's own automagic looks at to find the kernel in a dump: the
    banner and init_task (LinuxIntelStacker: a banner scan, then init_task's
    comm "swapper/0" for the KASLR shift). Volatility reads the file offline:
    `vol -f FILE -s ISF_DIR linux.pslist`."""
    from ramooflax.dump import write_pages

    prof = linux.profile
    vm = linux.vm
    size = prof.offsets.get("sizeof.task_struct", -1)
    wanted = [(linux.symbol("init_task"), size if size > 0 else 3 * PAGE)]
    banner = linux.lookup("linux_banner")
    if banner is not None:
        wanted.append((banner, len(prof.banner) + 1))
    pages = record.read
    want = set(record.checked)
    for addr, n in wanted:
        want.update(
            linux.kmem.translate(va) & ~(PAGE - 1)
            for va in range(addr & ~(PAGE - 1), addr + n, PAGE)
        )
    for pa in sorted(want - set(pages)):
        try:
            pages[pa] = vm.mem.pread(pa, PAGE, progress=False)
        except AddressNotMapped:
            continue  # not guest memory (the VMM's range): left out
    return write_pages(path, pages)


def _plugin_args(ctx: Any, path: str, cls: Any, args: list[str]) -> None:
    """--name value / --flag pairs to the plugin's configuration."""
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ClientError(f"plugin arguments are --name [value] pairs; got {arg!r}")
        name = arg[2:].replace("-", "_")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            value: Any = args[i + 1]
            value = [int(v, 0) for v in value.split(",")] if name == "pid" else value
            i += 2
        else:
            value = True
            i += 1
        ctx.config[path + "." + name] = value


def _ram_top(vm: Any) -> int:
    """The end of guest RAM, from the VMM's exit summary (its RAM size)."""
    from ramooflax.lab import facts

    text = vm.exits()
    try:
        hidden = facts.vmm_range(text)
        return int(hidden.end)
    except Exception:  # noqa: BLE001 - a stub that does not report it: 4 GiB
        return 1 << 32
