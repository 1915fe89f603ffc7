"""Debian packages fetched with `apt-get download` and unpacked into the cache.

Nothing is installed on the host. A package is unpacked once per version under
<cache>/debs/<name>_<version>_<arch>/ (only the paths we need, because a kernel
package carries ~400 MB of modules that an initramfs-only guest never loads).
"""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ramooflax.errors import LabError, ToolError
from ramooflax.lab import paths, proc
from ramooflax.lab.progress import say


@dataclass(frozen=True)
class Package:
    name: str  # without the architecture qualifier
    arch: str  # Debian architecture: amd64 or i386
    version: str

    @property
    def spec(self) -> str:
        """`name:arch=version`, as apt-get takes it."""
        return f"{self.name}:{self.arch}={self.version}"

    @property
    def key(self) -> str:
        """A file-name-safe `name_version_arch`."""
        return safe(f"{self.name}_{self.version}_{self.arch}")


def safe(text: str) -> str:
    """Keep only characters that are fine in file names (`:` and `~` become `_`)."""
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", text)


def candidate_version(name: str, arch: str) -> str:
    """The version apt would pick for name:arch (`apt-cache policy`)."""
    out = proc.run(["apt-cache", "policy", f"{name}:{arch}"])
    match = re.search(r"Candidate:\s*(\S+)", out)
    if not match or match.group(1) == "(none)":
        hint = " (run `dpkg --add-architecture i386 && apt-get update`)" if arch == "i386" else ""
        raise LabError(f"apt knows no candidate for {name}:{arch}: run `apt-get update`{hint}")
    return match.group(1)


def kernel_package(flavour: str, arch: str) -> Package:
    """Resolve the metapackage linux-image-<flavour> to the versioned image package."""
    meta = f"linux-image-{flavour}:{arch}"
    out = proc.run(["apt-cache", "depends", meta])
    match = re.search(r"Depends:\s*(linux-image-[0-9][^\s:]*)", out)
    if not match:
        raise LabError(
            f"cannot resolve {meta} to a kernel package (`apt-cache depends {meta}` "
            "lists none): run `apt-get update`"
        )
    name = match.group(1)
    return Package(name, arch, candidate_version(name, arch))


def kernel_spec(spec: str, arch: str) -> Package:
    """`NAME[=VERSION]` to a versioned kernel image package for arch.

    NAME is an image package (linux-image-6.12.95+deb12-amd64) or a
    metapackage (linux-image-amd64), which is resolved at VERSION (or at
    apt's candidate) to the image package it depends on.
    """
    name, _, version = spec.partition("=")
    name, _, release = name.partition("/")
    name = name.removesuffix(f":{arch}")
    if release:  # NAME/RELEASE: the version that suite has (`apt-cache madison`)
        for line in proc.run(["apt-cache", "madison", f"{name}:{arch}"]).splitlines():
            cols = [c.strip() for c in line.split("|")]
            if len(cols) == 3 and any(w.startswith(f"{release}/") for w in cols[2].split()):
                version = cols[1]
                break
        else:
            raise LabError(f"no {name}:{arch} in {release}: see `apt-cache madison {name}:{arch}`")
    if not re.fullmatch(r"linux-image-[a-z0-9][a-z0-9.+~-]*", name):
        raise LabError(
            f"{spec!r} is not a kernel package: give NAME[=VERSION], e.g. "
            "linux-image-amd64=6.12.95-1~bpo12+1 (`apt-cache policy linux-image-amd64`)"
        )
    if not re.match(r"linux-image-[0-9]", name):  # a metapackage
        at = f"{name}:{arch}={version}" if version else f"{name}:{arch}"
        out = proc.run(["apt-cache", "depends", at])
        match = re.search(r"Depends:\s*(linux-image-[0-9][^\s:]*)", out)
        if not match:
            raise LabError(
                f"cannot resolve {at} to a kernel image package: see `apt-cache policy "
                f"{name}:{arch}` for its versions (and run `apt-get update`)"
            )
        name, version = match.group(1), ""
    return Package(name, arch, version or candidate_version(name, arch))


def package(name: str, arch: str) -> Package:
    return Package(name, arch, candidate_version(name, arch))


def unpacked(pkg: Package, members: list[str]) -> Path:
    """Download pkg and unpack `members` (tar paths like ./boot); return the root.

    Cached: a finished tree carries a `.complete` stamp and is reused.
    """
    root = paths.cache_dir() / "debs" / pkg.key
    if (root / ".complete").exists():
        return root
    say("guest", f"downloading {pkg.name}:{pkg.arch} {pkg.version} ...")
    with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:
        work = Path(tmp)
        proc.run(["apt-get", "download", "-q", pkg.spec], cwd=work, timeout=1800)
        debs = list(work.glob("*.deb"))
        if len(debs) != 1:
            raise LabError(f"`apt-get download {pkg.spec}` gave no single .deb in {work}")
        got = proc.run(["dpkg-deb", "-f", str(debs[0]), "Version"]).strip()
        if got != pkg.version:
            raise LabError(
                f"downloaded {pkg.name} {got}, expected {pkg.version}: run `apt-get update`"
            )
        say("guest", f"unpacking {debs[0].name} ({', '.join(members)})")
        tree = work / "tree"
        tree.mkdir()
        extract(debs[0], tree, members)
        (tree / ".complete").write_text(pkg.spec + "\n")
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tree.rename(root)
    return root


def extract(deb: Path, dest: Path, members: list[str]) -> None:
    """`dpkg-deb --fsys-tarfile | tar -x members` (dpkg -x, restricted to members)."""
    dpkg = subprocess.Popen(
        [proc.need_tool("dpkg-deb"), "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE
    )
    tar = subprocess.run(
        [proc.need_tool("tar"), "-x", "-C", str(dest), "--wildcards", *members],
        stdin=dpkg.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert dpkg.stdout is not None
    dpkg.stdout.close()
    if dpkg.wait() != 0 or tar.returncode != 0:
        raise ToolError(f"cannot unpack {deb.name}: {tar.stderr.strip()}")
