#!/usr/bin/env bash
# Installs what building PromptForge Desktop needs on a fresh Debian machine.
# polodb_core compiles RocksDB, whose bindings need libclang; the desktop app
# needs WebKitGTK and GTK to build and run; the tests install SecantusDB (a
# MongoDB-compatible server) from PyPI into a virtualenv, drive the UI in
# Chromium, and drive the real app with WebKitWebDriver under Xvfb.
# PROMPTFORGE_SETUP=bench also builds the Rust SecantusDB (secantusd-rs, about
# 8 minutes), which the benchmarks run with PROMPTFORGE_TEST_SECANTUS=rs.
set -euo pipefail

packages=(build-essential libclang-dev pkg-config python3 python3-venv
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev libssl-dev)
if [[ ${PROMPTFORGE_SETUP:-} == test || ${PROMPTFORGE_SETUP:-} == bench ]]; then
  packages+=(xvfb xauth webkit2gtk-driver chromium imagemagick fonts-dejavu-core
    dbus-daemon gnome-keyring libsecret-tools)
fi
if [[ ${PROMPTFORGE_SETUP:-} == bench ]]; then
  packages+=(cmake)
fi
missing=()
# Node from Debian only when the machine has none (a newer one may be installed).
command -v npm >/dev/null || missing+=(nodejs npm)
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }

# The web front end: npm's lockfile pins every package (`npm ci` refuses the
# registry mirror here, `npm install` with the lockfile leaves it unchanged).
if [[ ! -d ui/node_modules ]] || [[ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  (cd ui && npm install --no-audit --no-fund --loglevel=error)
fi

# secantus-mdb 0.5.3-beta.196 declares Rust 1.98 but builds with this
# toolchain; WiredTiger's build needs cmake.
if [[ ${PROMPTFORGE_SETUP:-} == bench ]] && ! command -v secantusd-rs >/dev/null \
  && [[ ! -x ${CARGO_HOME:-$HOME/.cargo}/bin/secantusd-rs ]]; then
  cargo install --quiet --locked --ignore-rust-version secantus-mdb --version 0.5.3-beta.196
fi
