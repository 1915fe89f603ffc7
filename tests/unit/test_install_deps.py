"""tools/install-deps.sh takes the backports mirror from the machine's own
Debian sources (one-line sources.list and deb822 .sources), not a fixed
address: its detection runs here against temporary /etc/apt trees."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "install-deps.sh"
KEY = "/usr/share/keyrings/debian-archive-keyring.gpg"

ONE_LINE = """\
# deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb http://mirror.lan/debian/ bookworm main contrib
deb-src http://mirror.lan/debian/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main
"""
ONE_LINE_OPTIONS = f"""\
deb http://mirror.lan/debian-security bookworm-security main
deb [arch=amd64,i386 signed-by={KEY}] https://apt.corp.example/debian bookworm main
"""
DEB822 = f"""\
Types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.lan/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: {KEY}

Types: deb
URIs: http://mirror.lan/debian-security
Suites: bookworm-security
Components: main
"""
DEB822_DISABLED_FIRST = """\
Types: deb
URIs: http://old.example/debian
Suites: bookworm
Enabled: no

types: deb
uris: http://second.example/debian http://third.example/debian
suites: bookworm
components: main
"""
OTHER_SUITE = "deb http://deb.debian.org/debian trixie main\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"sources.list": ONE_LINE}, "http://mirror.lan/debian/"),
        (
            {"sources.list.d/corp.list": ONE_LINE_OPTIONS},
            f"[signed-by={KEY}] https://apt.corp.example/debian",
        ),
        ({"sources.list.d/debian.sources": DEB822}, f"[signed-by={KEY}] http://mirror.lan/debian"),
        ({"sources.list.d/debian.sources": DEB822_DISABLED_FIRST}, "http://second.example/debian"),
        (
            {"sources.list": "", "sources.list.d/debian.sources": DEB822},
            f"[signed-by={KEY}] http://mirror.lan/debian",
        ),
        ({"sources.list": OTHER_SUITE}, ""),
        ({}, ""),
    ],
)
def test_backports_mirror(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    apt = tmp_path / "etc" / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    done = subprocess.run(
        ["bash", str(SCRIPT), "--print-mirror", "bookworm"],
        env={"APT_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_the_packages_the_lab_names_are_installed() -> None:
    """The packages the lab's messages tell a user to install are in the script's list."""
    from ramooflax.lab import bochs

    text = SCRIPT.read_text()
    listed = text.split('PKGS="', 1)[1].split('"', 1)[0].split()
    hinted = [w for w in bochs.INSTALL_HINT.split() if not w.startswith("-")][2:]
    assert hinted == ["bochs", "bochs-x", "bochsbios", "vgabios"]
    assert set(hinted) <= set(listed)
