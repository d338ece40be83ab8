#!/usr/bin/env bash
# Installs what building PromptForge Desktop needs on a fresh Debian machine.
# polodb_core compiles RocksDB, whose bindings need libclang; the tests install
# SecantusDB (a MongoDB-compatible server) from PyPI into a virtualenv.
set -euo pipefail

packages=(build-essential libclang-dev pkg-config python3 python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
