#!/usr/bin/env bash
# Builds PromptForge's Debian package (.deb) with Tauri's bundler, offline,
# from the debug binary the other scripts already build (scripts/run.sh,
# scripts/test.sh): nothing is compiled again when it is there. Progress goes
# to standard error; the .deb's path is the only line on standard output.
#
#   scripts/package.sh                # -> .../debug/bundle/deb/PromptForge_<version>_amd64.deb
#   sudo apt install ./PromptForge_<version>_amd64.deb
#
# The debug binary is about 650 MB, nearly all of it debug info: the package
# gets a copy with that stripped (symbols kept, so backtraces still name
# functions), about 55 MB installed and 15 MB packed. Tauri's bundler finds the
# binary in $CARGO_TARGET_DIR/debug, so it is pointed at a staging target
# directory holding the stripped copy; the shared binary is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

say() { echo "package: $*" >&2; }
fail() { echo "package: error: $*" >&2; exit 1; }

binary="$CARGO_TARGET_DIR/debug/promptforge-desktop"
tauri_cli=ui/node_modules/.bin/tauri

# The app embeds ui/dist when it is compiled: built first, and only if missing.
if [[ ! -f ui/dist/index.html ]]; then
  [[ -d ui/node_modules ]] || (cd ui && npm install --no-audit --no-fund --loglevel=error) >&2
  say "building the UI (ui/dist is missing)"
  (cd ui && npm run --silent build) >&2
fi

if [[ ! -x $binary ]]; then
  # Same command and features as scripts/test.sh, so nothing compiles twice.
  say "$binary is missing: building it"
  cargo build --quiet --workspace --bin promptforge-desktop >&2
fi

# The UI is embedded at compile time: a binary older than ui/dist carries an older UI.
if [[ -n $(find ui/dist -newer "$binary" -type f -print -quit) ]]; then
  say "warning: ui/dist is newer than $binary, which embeds the UI it was compiled with;"
  say "         rebuild it (cargo build --workspace --bin promptforge-desktop) to package the current UI"
fi

# The Tauri CLI is a devDependency of ui/ and ships its native binary in an
# npm package: installing it downloads nothing else, and neither does bundling.
if [[ ! -x $tauri_cli ]]; then
  say "installing the UI's npm packages (the Tauri CLI is missing)"
  (cd ui && npm install --no-audit --no-fund --loglevel=error) >&2
fi
command -v strip >/dev/null || fail "strip is missing (Debian package binutils)"

stage="$CARGO_TARGET_DIR/deb-staging"
out_dir="$CARGO_TARGET_DIR/debug/bundle/deb"
rm -rf "$stage"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/debug" "$out_dir"
say "stripping a copy of $binary ($(du -h "$binary" | cut -f1))"
strip --strip-debug -o "$stage/debug/promptforge-desktop" "$binary"

# `tauri bundle` packages what `tauri build` would have compiled: it runs no
# cargo build (only `cargo metadata`, offline here). It reads
# src-tauri/tauri.conf.json from the working directory.
say "bundling with $("$tauri_cli" --version)"
(
  cd src-tauri
  CARGO_TARGET_DIR="$stage" CARGO_NET_OFFLINE=true CI=true \
    "../$tauri_cli" bundle --debug --bundles deb --no-sign
) >&2

shopt -s nullglob
built=("$stage"/debug/bundle/deb/*.deb)
((${#built[@]} == 1)) || fail "the bundler made ${#built[@]} .deb files in $stage/debug/bundle/deb, not one"
deb="$out_dir/$(basename "${built[0]}")"
mv -f "${built[0]}" "$deb"
say "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version): $(du -h "$deb" | cut -f1), Depends: $(dpkg-deb -f "$deb" Depends)"
echo "$deb"
