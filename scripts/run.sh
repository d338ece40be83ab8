#!/usr/bin/env bash
# Runs PromptForge on its embedded local store (no server, no account).
# Until the desktop window lands this is the `promptforge` command line:
#   scripts/run.sh                      # where the library is, and what it holds
#   scripts/run.sh prompt create --title "Haiku" --content "Write a haiku"
#   scripts/run.sh prompt list --search haiku
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
source scripts/env.sh
cargo build --quiet -p promptforge-sync --bin promptforge
if (($# == 0)); then
  set -- info
fi
exec "$CARGO_TARGET_DIR/debug/promptforge" "$@"
