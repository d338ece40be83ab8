#!/usr/bin/env bash
# Retakes the README's screenshots (docs/screenshots/*.png) from the current
# code: builds the UI and the app, seeds a demo library, and photographs each
# main screen of the real app under Xvfb through WebKitWebDriver.
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTFORGE_SETUP=test scripts/setup-debian.sh
source scripts/env.sh
(cd ui && npm run --silent build)
cargo build --quiet --workspace --bin promptforge-desktop --bin screenshots
"$CARGO_TARGET_DIR/debug/screenshots" docs/screenshots
