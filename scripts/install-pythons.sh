#!/bin/bash
# Installs CPython 3.14 and 3.15 for callscope's tests and benchmarks, when
# they are missing, into $CALLSCOPE_PYTHONS (default /opt/callscope-pythons):
#
#   /opt/callscope-pythons/3.14/usr/bin/python3.14
#   /opt/callscope-pythons/3.15/usr/bin/python3.15
#
# Debian 12 ships neither, but Debian's unstable suite (sid) does. Each
# version is unpacked into a private prefix together with sid's C library and
# the few libraries its extension modules link, and the interpreter is pointed
# at that prefix (its ELF interpreter and DT_RPATH, with patchelf), so it runs
# beside the machine's own libraries without touching them. The machine's apt
# setup is left as it is: a private apt configuration names the same archive
# as the machine's own Debian source, with suite sid.
#
# Usage: scripts/install-pythons.sh [3.14] [3.15]    (both when none is named)
set -euo pipefail

DEST=${CALLSCOPE_PYTHONS:-/opt/callscope-pythons}
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(3.14 3.15)

todo=()
for v in "${versions[@]}"; do
    "$DEST/$v/usr/bin/python$v" -c 'import sysconfig' >/dev/null 2>&1 || todo+=("$v")
done
[ ${#todo[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] && [ ! -w "$(dirname "$DEST")" ]; then
    echo "install-pythons: cannot write $DEST (run as root, or set CALLSCOPE_PYTHONS)" >&2
    exit 1
fi
if ! command -v patchelf >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq patchelf
fi

# The archive the machine's own Debian source names (deb822 or one-line form).
archive=$(sed -n 's/^URIs:[[:space:]]*\(.*debian\)\/*[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$archive" ] || archive=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$archive" ] || { echo "install-pythons: no Debian archive found in the machine's apt sources" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
cat > "$work/sources/sid.sources" <<EOF
Types: deb
URIs: $archive
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_private=(-o "Dir::Etc::SourceParts=$work/sources" -o Dir::Etc::SourceList=/dev/null
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
             -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
echo "install-pythons: reading sid's package list from $archive"
apt-get "${apt_private[@]}" update -qq

# What the interpreter and its standard extension modules link, from sid too:
# sid's python links symbol versions of libc and friends that Debian 12's lack.
runtime_libs=(libc6 libgcc-s1 libexpat1 zlib1g libffi8 libssl3t64 libbz2-1.0 liblzma5 libzstd1
              libsqlite3-0 libncursesw6 libtinfo6 libreadline8t64 libuuid1 libmpdec4)

for v in "${todo[@]}"; do
    echo "install-pythons: Python $v into $DEST/$v"
    rm -rf "$work/debs"/* && mkdir -p "$work/debs"
    (cd "$work/debs" && apt-get "${apt_private[@]}" download -qq \
        "python$v" "python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" \
        "libpython$v-dev" "python$v-dev" "libpython$v" "${runtime_libs[@]}")
    prefix="$DEST/$v"
    rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
    for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$prefix.tmp"; done
    # Debian's pyconfig.h includes the multiarch one by <path>: the prefix's
    # usr/include must be searched too. A symlink under the Python include
    # directory keeps `-I$(python -c 'sysconfig include')` enough on its own.
    inc="$prefix.tmp/usr/include/python$v"
    [ -e "$inc/x86_64-linux-gnu" ] || ln -s ../x86_64-linux-gnu "$inc/x86_64-linux-gnu"
    libdirs="$prefix/usr/lib/x86_64-linux-gnu"
    patchelf --set-interpreter "$prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdirs" \
        "$prefix.tmp/usr/bin/python$v"
    ln -sf "python$v" "$prefix.tmp/usr/bin/python3"
    rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
    # The interpreter path inside the prefix changed with the move only in
    # name, so the ELF interpreter set above (the final path) now exists.
    "$prefix/usr/bin/python$v" -c 'import sys, sqlite3, ssl, ctypes; print("install-pythons:", sys.version.split()[0], sys.executable)'
done
