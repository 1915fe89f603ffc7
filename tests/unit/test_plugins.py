"""Plugins register through the `ramooflax.plugins` entry-point group: a
user's installed package shows in `ramooflax plugins` beside the package's
own, and one that cannot load is listed with why, not a traceback. The
user's package here is a real installed distribution (a dist-info directory
on the path, as pip writes it), found by importlib.metadata."""

import os
import subprocess
import sys
from pathlib import Path

OWN = ("boot_timeline", "boot_trace", "memmap", "volatility")


def install(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution: METADATA, entry_points.txt, modules."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[ramooflax.plugins]\n{lines}")
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)


def plugins(site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run(
        [sys.executable, "-m", "ramooflax", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_users_plugin_is_listed(tmp_path: Path) -> None:
    install(
        tmp_path,
        "rfx_hello",
        {"hello": "rfx_hello", "broken": "rfx_broken"},
        {
            "rfx_hello": '"""Hello: a user\'s own analysis."""\n',
            "rfx_broken": "raise ImportError('needs a library that is not installed')\n",
        },
    )
    done = plugins(tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert set(OWN) <= set(rows), done.stdout
    assert "rfx_hello" in rows["hello"] and "Hello: a user's own analysis." in rows["hello"]
    assert "cannot load" in rows["broken"] and "not installed" in rows["broken"]
    assert "Traceback" not in done.stdout + done.stderr


def test_without_it_only_the_packages_own(tmp_path: Path) -> None:
    done = plugins(tmp_path)
    assert done.returncode == 0, done.stderr
    names = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert names == set(OWN), done.stdout
