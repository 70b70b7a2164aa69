#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs only the Rust toolchain; everything else it
# needs it installs itself. Builds go to a target directory outside the clone by default
# so repeated runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A fresh clone every run gains little from incremental caches, which are the bulk of the disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== system packages the tests use (loop devices, sshfs share, CUPS, mingw-w64, Wine, packaging tools; as root)"
# tests/tests/dlp_channels.rs mounts an ext4 loop image and an sshfs of a loopback sshd; it
# fails, naming what is missing, when these are absent; tests/tests/dlp_print.rs needs CUPS
# (it starts cupsd itself). Installed only if missing.
need=()
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 || need+=(mount)
command -v sshfs >/dev/null 2>&1 || need+=(sshfs)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/cupsd ] || need+=(cups)
# The Windows agent is cross-checked here: ring's build script needs the mingw C compiler.
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
# ... and runs under Wine (tests/tests/windows_agent.rs).
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || need+=(wine64)
# The packages (tests/tests/packaging_deb.rs, packaging_msi.rs): built by packaging/build.sh from
# the test build's binaries, checked by lintian and systemd-analyze, installed in a debootstrap
# root (made once, kept in ~/.cache/haidang/chroot) and, for the MSI, read with msiinfo.
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v wixl >/dev/null 2>&1 || need+=(wixl)
command -v msiinfo >/dev/null 2>&1 || need+=(msitools)
command -v lpadmin >/dev/null 2>&1 || need+=(cups-client)
command -v lpr >/dev/null 2>&1 || need+=(cups-bsd)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
    else
        echo "missing ${need[*]}: install them (the DLP channel tests, the Windows cross-check and the package tests need them)" >&2
    fi
fi

echo "== format"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== clippy for the Windows agent (x86_64-pc-windows-gnu), so Windows code cannot rot"
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
cargo clippy --target x86_64-pc-windows-gnu -p haidang-agent --locked -- -D warnings
echo "== fuzz targets compile (run them with scripts/fuzz.sh)"
cargo check --manifest-path fuzz/Cargo.toml --locked --bins
echo "== build (the end-to-end tests run these binaries, the Windows agent under Wine)"
cargo build --workspace --bins --locked
cargo build --target x86_64-pc-windows-gnu -p haidang-agent --locked
echo "== the Windows agent's own unit tests, under Wine"
wine_loader="$(for w in /usr/lib/wine/wine64 /usr/bin/wine64 /usr/bin/wine; do [ -x "$w" ] && echo "$w" && break; done)"
wine_prefix="$CARGO_TARGET_DIR/x86_64-pc-windows-gnu/wine-prefix-unit"
"$CARGO_TARGET_DIR/debug/wine-prefix" "$wine_prefix"
WINEPREFIX="$wine_prefix" WINEDEBUG=-all CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$wine_loader" \
    cargo test --target x86_64-pc-windows-gnu -p haidang-agent --lib --locked
echo "== tests"
cargo test --workspace --locked --no-fail-fast
