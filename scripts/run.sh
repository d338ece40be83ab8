#!/usr/bin/env bash
# Runs PromptForge Desktop on its embedded local store (no server, no
# account needed): installs what the build needs, builds the UI and the app,
# and opens the window. PROMPTFORGE_DATA_DIR picks another data directory.
#   scripts/run.sh                 # the desktop app
#   scripts/run.sh --cli info      # the `promptforge` command line instead
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
source scripts/env.sh
# `--workspace` with `--bin`: features resolve as in scripts/test.sh's
# `cargo test --workspace`, so both reuse one RocksDB build (a `-p` build
# resolves another feature set and compiles RocksDB again, ~10 minutes).
if [[ ${1:-} == --cli ]]; then
  shift
  cargo build --quiet --workspace --bin promptforge
  exec "$CARGO_TARGET_DIR/debug/promptforge" "${@:-info}"
fi
(cd ui && npm run --silent build)
cargo build --quiet --workspace --bin promptforge-desktop
if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
  echo "no display: run this from a desktop session (or under xvfb-run)" >&2
  exit 1
fi
exec "$CARGO_TARGET_DIR/debug/promptforge-desktop" "$@"
