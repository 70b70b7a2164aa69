#!/usr/bin/env bash
# Prints the directory of each third-party test corpus named (`sigma`, `evtx-attack-samples`;
# all when none is), one a line, found or fetched exactly as the tests do (testdata/src/lib.rs):
# $HAIDANG_TESTDATA if set, else ../shared/testdata beside the checkout, else a download of the
# pinned upstream commits, every file checked against testdata/manifest/*.sha256, into
# ~/.cache/haidang/testdata (HAIDANG_TESTDATA_URL replaces https://raw.githubusercontent.com).
# Exits 1 with one line on stderr saying how to provide a corpus it cannot have.
#
#   rules=$(scripts/testdata.sh sigma)/rules
set -euo pipefail
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/haidang/target}"
exec cargo run --quiet --locked --manifest-path "$(dirname "$0")/../Cargo.toml" -p haidang-testdata -- "$@"
