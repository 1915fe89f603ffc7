#!/usr/bin/env bash
# Installs the Debian packages Ramooflax needs (as root): the UEFI lab uses
# ovmf, grub-efi-amd64-bin, dosfstools and mtools; the Bochs lab (lab run
# --emulator bochs) uses bochs, bochsbios and vgabios, and bochs-x only
# because bochs depends on a display plugin (the lab uses the rfb display
# built into bochs). Idempotent: it only
# calls apt when something is missing. QEMU must be >= 10: on Debian 12 it
# comes from bookworm-backports, on Debian 13 from the main suite.
#
# The backports source uses the mirror the machine already uses for its main
# suite (a machine behind a local mirror may reach no other), read from the
# one-line sources.list format and from deb822 .sources files.
#   tools/install-deps.sh --print-mirror CODENAME   prints it and exits;
#   APT_ROOT=DIR reads DIR/etc/apt instead of /etc/apt (tests/unit/test_install_deps.py).
set -euo pipefail

APT_DIR=${APT_ROOT:-}/etc/apt

# The source of the Debian suite CODENAME: "[signed-by=KEYRING] URI" (the
# option only when the source names a keyring file), or nothing.
debian_source() {
    local codename=$1 f
    {
        for f in "$APT_DIR/sources.list" "$APT_DIR"/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # deb [options] URI SUITE COMPONENTS...
            sed -e 's/#.*//' "$f" | awk -v want="$codename" '
                $1 != "deb" { next }
                {
                    opts = ""
                    if ($2 ~ /^\[/) {
                        line = $0
                        opts = substr(line, index(line, "[") + 1)
                        opts = substr(opts, 1, index(opts, "]") - 1)
                        sub(/^[^]]*\][ \t]*/, "", line)
                        split(line, w, /[ \t]+/)
                        uri = w[1]; suite = w[2]
                    } else { uri = $2; suite = $3 }
                    key = ""
                    n = split(opts, o, /[ \t]+/)
                    for (i = 1; i <= n; i++)
                        if (o[i] ~ /^signed-by=/) key = substr(o[i], 11)
                    if (suite == want) print uri "\t" key
                }'
        done
        for f in "$APT_DIR"/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # deb822 stanzas: Types, URIs, Suites, Enabled, Signed-By (RFC 822 fields).
            awk -v want="$codename" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " "))
                        { split(uris, u, " "); print u[1] "\t" key }
                    types = uris = suites = key = enabled = ""
                }
                /^#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { next }
                {
                    name = tolower(substr($0, 1, index($0, ":") - 1))
                    value = substr($0, index($0, ":") + 1)
                    gsub(/^[ \t]+|[ \t]+$/, "", value)
                    gsub(/[ \t]+/, " ", value)
                    if (name == "types") types = value
                    else if (name == "uris") uris = value
                    else if (name == "suites") suites = value
                    else if (name == "enabled") enabled = tolower(value)
                    else if (name == "signed-by" && value ~ /^\//) key = value
                }
                END { flush() }' "$f"
        done
    } | awk -F '\t' 'NR == 1 { print ($2 != "" ? "[signed-by=" $2 "] " : "") $1 }'
}

if [ "${1:-}" = "--print-mirror" ]; then
    debian_source "${2:?usage: install-deps.sh --print-mirror CODENAME}"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PKGS="gcc gcc-multilib binutils make grub-pc-bin grub-common busybox-static graphviz chromium
cpio fdisk e2fsprogs gdb lldb python3-venv python3-pip dpkg-dev clang-format
ovmf grub-efi-amd64-bin dosfstools mtools
bochs bochs-x bochsbios vgabios"

need_update=0
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
    if ! grep -rqs "bookworm-backports" "$APT_DIR/sources.list" "$APT_DIR/sources.list.d/"; then
        source=$(debian_source bookworm)
        if [ -z "$source" ]; then
            source=http://deb.debian.org/debian
            echo "[deps] warning: no source of bookworm in $APT_DIR; backports from $source"
        fi
        echo "[deps] adding bookworm-backports from $source (for QEMU >= 10)"
        echo "deb $source bookworm-backports main" |
            $SUDO tee "$APT_DIR/sources.list.d/ramooflax-backports.list" >/dev/null
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
