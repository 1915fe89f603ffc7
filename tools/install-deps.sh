#!/usr/bin/env bash
# Installs the Debian packages Ramooflax needs (as root). Idempotent: it only
# calls apt when something is missing. QEMU must be >= 10: on Debian 12 it
# comes from bookworm-backports, on Debian 13 from the main suite.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS="gcc gcc-multilib binutils make grub-pc-bin grub-common busybox-static graphviz chromium
cpio fdisk e2fsprogs gdb python3-venv python3-pip dpkg-dev clang-format"

need_update=0
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "[deps] adding bookworm-backports (for QEMU >= 10)"
        echo "deb http://deb.debian.org/debian bookworm-backports main" |
            $SUDO tee /etc/apt/sources.list.d/ramooflax-backports.list >/dev/null
        need_update=1
    fi
    QEMU_TARGET="-t bookworm-backports"
else
    QEMU_TARGET=""
fi
if ! dpkg --print-foreign-architectures | grep -qx i386; then
    echo "[deps] enabling the i386 architecture (for the 686 guest kernel)"
    $SUDO dpkg --add-architecture i386
    need_update=1
fi

missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
    v=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
    [ "${v:-0}" -ge 10 ] && qemu_ok=1
fi
if [ -n "$missing" ] || [ $qemu_ok -eq 0 ] || [ $need_update -eq 1 ] ||
   [ ! -e /var/lib/apt/lists/lock ] || ! ls /var/lib/apt/lists/ | grep -q i386; then
    echo "[deps] apt-get update"
    # A mirror that is mid-sync can fail one index; the others still serve.
    $SUDO apt-get update -q >/dev/null || $SUDO apt-get update -q >/dev/null ||
        echo "[deps] warning: apt-get update reported errors; going on with the indexes it got"
fi
if [ -n "$missing" ]; then
    echo "[deps] installing:$missing"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
if [ $qemu_ok -eq 0 ]; then
    echo "[deps] installing qemu-system-x86 ${QEMU_TARGET}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        $QEMU_TARGET qemu-system-x86 >/dev/null
fi
qemu-system-x86_64 --version | head -1
