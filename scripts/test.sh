#!/usr/bin/env bash
# Runs every check and test: formatting, lints, architecture rules, the UI's
# type check, build and browser tests, and the whole workspace's tests (unit,
# store, CLI, sync against SecantusDB, the app's commands on Tauri's mock
# runtime, and the real app driven through WebKitWebDriver under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTFORGE_SETUP=test scripts/setup-debian.sh
source scripts/env.sh

echo "== ui: type check, build, browser tests (Chromium, IPC mocked)"
(cd ui && npm run --silent build && npm test --silent)

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== architecture: the core library depends on no UI or HTTP server crate"
if cargo tree -p promptforge-sync -e normal --prefix none | grep -E '^(tauri|wry|axum|mongodb) '; then
  echo "promptforge-sync must not depend on the crates listed above (no UI, no HTTP server, no MongoDB driver)" >&2
  exit 1
fi
echo "== architecture: the desktop app and its library link no command-line parser"
for package in promptforge-desktop promptforge-sync; do
  if cargo tree -p "$package" -e normal --prefix none | grep -E '^clap '; then
    echo "$package must not depend on clap: the CLI lives in cli/ (promptforge-cli)" >&2
    exit 1
  fi
done

echo "== tests"
# The end-to-end tests drive the promptforge-desktop binary: built first, by
# the command scripts/run.sh uses (same features, so nothing compiles twice).
cargo build --quiet --workspace --bin promptforge-desktop

echo "== package: the .deb built, installed with dpkg, launched under Xvfb, removed"
scripts/test-package.sh

cargo test --workspace --no-fail-fast
