# Sourced by the scripts: one shared target directory outside the clone, so a
# fresh clone (CI) reuses whatever this machine already compiled; RocksDB alone
# takes about 9 minutes on 2 cores.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/promptforge-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
