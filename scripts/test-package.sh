#!/usr/bin/env bash
# Tests the Debian package as a user gets it: builds it with
# scripts/package.sh (or takes a .deb as argument), installs it with dpkg,
# checks its desktop entry and icon, launches the INSTALLED binary under Xvfb
# through Debian's WebKitWebDriver with a fresh HOME (so it opens an empty
# local library) and checks the window shows the prompt list, quits it, then
# removes the package and checks its files are gone. Needs root (or sudo);
# the package must not be installed already.
#
#   scripts/test-package.sh [PromptForge_<version>_amd64.deb]
#
# PROMPTFORGE_PACKAGE_SCREENSHOT=/path/shot.png keeps a screenshot of the window.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

say() { echo "test-package: $*"; }
fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}

as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo)
apt_get() { DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get "$@"; }
installed_status() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true; }

# What the test itself runs: Xvfb, WebKitWebDriver, Node (for the WebDriver client).
tools=()
command -v Xvfb >/dev/null || tools+=(xvfb)
[[ -x /usr/bin/WebKitWebDriver ]] || tools+=(webkit2gtk-driver)
command -v node >/dev/null || tools+=(nodejs)
if ((${#tools[@]})); then
  say "installing ${tools[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi

if (($#)); then
  deb=$(realpath "$1")
else
  deb=$(scripts/package.sh) || fail "scripts/package.sh failed"
fi
[[ -f $deb ]] || fail "no package at ${deb:-?}"
pkg=$(dpkg-deb -f "$deb" Package) || fail "$deb is not a Debian package"
status=$(installed_status "$pkg")
if [[ -n $status && $status != not-installed && $status != config-files ]]; then
  fail "$pkg is already on this machine ($status); this test installs and removes it: remove it first (sudo dpkg -r $pkg)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/promptforge-package-test.XXXXXX")
home="$tmp/home"
data_dir="$home/.local/share/ai.promptforge.desktop" # where the app keeps a user's library
installed=0 xvfb_pid="" driver_pid="" app=""

# Stops one process this script started: SIGTERM (WebKitWebDriver lingers
# after SIGKILL), then SIGKILL after 5 s.
terminate() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  # The app the driver launched, by the pid in its instance lock, if it is
  # still that binary (a failed run can leave it behind its driver).
  if [[ -n $app && -f $data_dir/instance.lock ]]; then
    local pid
    pid=$(tr -dc 0-9 <"$data_dir/instance.lock")
    if [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$app"* ]]; then
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  [[ -n $driver_pid ]] && terminate "$driver_pid"
  [[ -n $xvfb_pid ]] && terminate "$xvfb_pid"
  if ((rc != 0)); then
    if [[ -s $tmp/driver.log ]]; then
      echo "--- WebKitWebDriver and app output (last 40 lines)" >&2
      tail -n 40 "$tmp/driver.log" >&2
    fi
    if compgen -G "$data_dir/logs/*" >/dev/null; then
      echo "--- the app's log (last 40 lines)" >&2
      cat "$data_dir"/logs/* | tail -n 40 >&2
    fi
  fi
  if ((installed)) && [[ $(installed_status "$pkg") != not-installed ]]; then
    "${as_root[@]}" dpkg -r "$pkg" >/dev/null 2>&1
  fi
  # A WebKit process of a killed app may still write to its cache for a moment.
  for _ in 1 2 3 4 5; do
    rm -rf "$tmp" 2>/dev/null && break
    sleep 1
  done
  if ((rc != 0)); then
    echo "test-package: failed after $((SECONDS - started)) s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- install
say "installing $deb ($pkg, Depends: $(dpkg-deb -f "$deb" Depends))"
installed=1
if ! "${as_root[@]}" dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
  say "dpkg -i left dependencies missing: apt-get install -f"
  if ! apt_get install -f -y -qq >>"$tmp/dpkg.log" 2>&1; then
    apt_get update -qq
    apt_get install -f -y -qq >>"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "its dependencies could not be installed"; }
  fi
fi
[[ $(installed_status "$pkg") == installed ]] || {
  cat "$tmp/dpkg.log" >&2
  fail "$pkg is not installed after dpkg -i (status: $(installed_status "$pkg"))"
}

# --- the desktop entry and icon a desktop's menu uses
mapfile -t entries < <(dpkg -L "$pkg" | grep -E '^/usr/share/applications/[^/]+\.desktop$' || true)
((${#entries[@]} == 1)) || fail "$pkg installs ${#entries[@]} desktop entries under /usr/share/applications, not one"
entry=${entries[0]}
[[ -f $entry ]] || fail "$entry is listed by dpkg but missing"
field() { sed -n "s/^$1=//p" "$entry" | head -n 1; }
[[ $(head -n 1 "$entry") == "[Desktop Entry]" ]] || fail "$entry does not start with [Desktop Entry]"
[[ $(field Type) == Application ]] || fail "$entry: Type is '$(field Type)', not Application"
[[ -n $(field Name) ]] || fail "$entry has no Name"
exec_cmd=$(field Exec)
exec_cmd=${exec_cmd%% *} # the program, without arguments or field codes
[[ -n $exec_cmd ]] || fail "$entry has no Exec"
# The PATH a desktop session starts programs with, not this shell's.
app=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$exec_cmd") ||
  fail "$entry: Exec=$exec_cmd is not on PATH"
dpkg -S "$app" 2>/dev/null | grep -q "^$pkg:" || fail "$app (Exec of $entry) does not belong to $pkg"
icon=$(field Icon)
compgen -G "/usr/share/icons/hicolor/*/apps/$icon.png" >/dev/null ||
  fail "$entry: no icon '$icon' under /usr/share/icons/hicolor/*/apps"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$entry" || fail "desktop-file-validate rejects $entry"
fi
say "desktop entry $entry: Name=$(field Name), Exec=$exec_cmd -> $app, Icon=$icon"

# --- the installed app, on a fresh HOME, under Xvfb and WebKitWebDriver
mkdir -p "$home" "$tmp/run"
chmod 700 "$tmp/run"
: >"$tmp/display"
exec 3>"$tmp/display"
Xvfb -displayfd 3 -screen 0 1400x900x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
exec 3>&-
for _ in $(seq 100); do
  [[ -s $tmp/display ]] && break
  kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb exited: $(cat "$tmp/xvfb.log")"
  sleep 0.1
done
display=":$(tr -dc 0-9 <"$tmp/display")"
[[ $display != ":" ]] || fail "Xvfb named no display within 10 s"

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
# A clean environment, as a desktop session would give a new user: nothing of
# this shell's (no PROMPTFORGE_DATA_DIR, no CARGO_*), a fresh HOME and XDG
# directories, a desktop's locale (the other tests inherit the machine's,
# often C.UTF-8, whose navigator.language "C" ui/src/locale.ts guards against;
# PROMPTFORGE_PACKAGE_LANG=C.UTF-8 runs this one in it). WebKitWebDriver passes
# the environment on to the app it launches.
env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$home" USER="$(id -un)" LANG="${PROMPTFORGE_PACKAGE_LANG:-en_US.UTF-8}" \
  XDG_DATA_HOME="$home/.local/share" XDG_CONFIG_HOME="$home/.config" \
  XDG_CACHE_HOME="$home/.cache" XDG_RUNTIME_DIR="$tmp/run" \
  DISPLAY="$display" TAURI_WEBVIEW_AUTOMATION=true \
  /usr/bin/WebKitWebDriver --port="$port" </dev/null >"$tmp/driver.log" 2>&1 &
driver_pid=$!
say "launching $app on display $display through WebKitWebDriver (port $port), HOME=$home"
node scripts/test-package-webdriver.mjs "http://127.0.0.1:$port" "$app" "$data_dir" \
  "${PROMPTFORGE_PACKAGE_SCREENSHOT:-}" || fail "the installed app's window check failed (above)"
[[ -d $data_dir ]] || fail "the app kept no library in $data_dir"
terminate "$driver_pid"
driver_pid=""
terminate "$xvfb_pid"
xvfb_pid=""

# --- removal
say "removing $pkg"
"${as_root[@]}" dpkg -r "$pkg" >"$tmp/dpkg.log" 2>&1 || {
  cat "$tmp/dpkg.log" >&2
  fail "dpkg -r $pkg failed"
}
installed=0
status=$(installed_status "$pkg")
[[ -z $status || $status == not-installed || $status == config-files ]] || fail "$pkg is still $status after dpkg -r"
[[ ! -e $app ]] || fail "$app is still there after dpkg -r"
[[ ! -e $entry ]] || fail "$entry is still there after dpkg -r"
! compgen -G "/usr/share/icons/hicolor/*/apps/$icon.png" >/dev/null || fail "the icon $icon is still there after dpkg -r"

say "passed in $((SECONDS - started)) s: $pkg installed, its window showed the prompt list, and it was removed"
