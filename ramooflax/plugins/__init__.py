"""Analysis plugins, registered through the `ramooflax.plugins` entry-point group.

A plugin is a module (or object) named by an entry point in that group, with
a one-line docstring; `ramooflax plugins` lists them. The package's own
(boot_trace, volatility) register the same way in pyproject.toml, so
a user's package adds its own with

    [project.entry-points."ramooflax.plugins"]
    mine = "mypackage.rfx_plugin"
"""

from dataclasses import dataclass
from importlib.metadata import entry_points

GROUP = "ramooflax.plugins"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: str
    summary: str


def registry() -> list[PluginInfo]:
    """The installed plugins (loaded to read their summary), by name."""
    out = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
            doc = (obj.__doc__ or "").strip().splitlines()
            summary = doc[0] if doc else ""
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, not fatal
            summary = f"(cannot load: {exc})"
        out.append(PluginInfo(ep.name, ep.value, summary))
    return out
