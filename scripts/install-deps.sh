#!/bin/bash
# Installs the Debian packages callscope builds and tests with, if missing.
# Used by `make deps` (and so by `make demo` and `make test`) and by CI.
set -euo pipefail

# gdb: `callscope attach --via gdb` and its tests; libncurses-dev: the viewer
# (`callscope view`, linked with ncursesw); tmux: the viewer's tests.
# clang and libclang-rt-14-dev: the libFuzzer harnesses (`make fuzz`).
# protobuf-compiler: protoc, which decodes `export --format perfetto` in its tests.
# libzstd-dev: the store compresses its chunks of calls with zstd.
# jq: the live tests run Peeka's jq recipes on callscope's JSON lines unchanged.
packages=(gcc make libsqlite3-dev sqlite3 libzstd-dev gdb libncurses-dev tmux clang libclang-rt-14-dev protobuf-compiler jq)
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "callscope needs these packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
