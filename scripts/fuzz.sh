#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*) for SECONDS each, default 30:
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Installs cargo-fuzz if it is missing, writes the seed corpus from real encoded frames
# (fuzz/examples/seeds.rs), then runs libFuzzer with AddressSanitizer. cargo-fuzz needs
# nightly-only rustc flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Exits non-zero if any target crashed; the crashing input is kept under
# fuzz/artifacts/TARGET/ (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTC_BOOTSTRAP=1
# Decoding a batch payload reserves a 32 MiB buffer (the decompression bound). With
# AddressSanitizer's default 256 MiB quarantine every such buffer is poisoned and kept
# after free, which makes batch_payload ~30x slower; a small quarantine keeps
# use-after-free detection for ordinary allocations.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]  (SECONDS must be a positive integer, got '$seconds')" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== build (${targets[*]})"
cargo fuzz build
echo "== seed corpus"
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

failed=()
for t in "${targets[@]}"; do
    echo "== fuzz $t for ${seconds}s"
    log="$(mktemp)"
    # -timeout: a decoder that spends 10 s on one input is a denial of service, so a bug.
    if cargo fuzz run "$t" -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "$t: ok, ${runs:-?} runs in ${seconds}s ($(( ${runs:-0} / seconds )) execs/s)"
    else
        tail -n 60 "$log"
        echo "$t: CRASHED (input saved under fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a crash"
