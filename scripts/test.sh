#!/usr/bin/env bash
# Runs every check and test: formatting, lints, architecture rules, and the
# whole workspace's tests (unit, store, CLI, kill -9 durability, PoloDB guards).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
source scripts/env.sh

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== architecture: the core library depends on no UI or HTTP server crate"
if cargo tree -p promptforge-sync -e normal --prefix none | grep -E '^(tauri|wry|axum|mongodb) '; then
  echo "promptforge-sync must not depend on the crates listed above (no UI, no HTTP server, no MongoDB driver)" >&2
  exit 1
fi

echo "== tests"
cargo test --workspace --no-fail-fast
