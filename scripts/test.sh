#!/usr/bin/env bash
# The whole test suite, as CI runs it. Needs only the Rust toolchain; everything else it
# needs it installs itself. Builds go to a target directory outside the clone by default
# so repeated runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== fuzz targets compile (run them with scripts/fuzz.sh)"
cargo check --manifest-path fuzz/Cargo.toml --locked --bins
echo "== build (the end-to-end tests run these binaries)"
cargo build --workspace --bins --locked
echo "== tests"
cargo test --workspace --locked --no-fail-fast
