#!/usr/bin/env bash
# Runs every test. The end-to-end tests drive real Exim, swaks, mutt and tmux, and the
# reliability suite uses fiu-run (fault injection), strace (kill -9 at each system
# call), GNU time (peak memory) and a tmpfs mount (a full disk, so it runs as root).
# This installs the tools with apt when they are missing, then runs `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v /usr/sbin/exim4 >/dev/null 2>&1 || missing+=(exim4-daemon-light)
for t in swaks mutt tmux; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
command -v fiu-run >/dev/null 2>&1 || missing+=(fiu-utils)
command -v strace >/dev/null 2>&1 || missing+=(strace)       # kill -9 at every syscall (tests/crash.rs)
[ -x /usr/bin/time ] || missing+=(time)
[ -e /usr/share/zoneinfo/Etc/GMT-5 ] || missing+=(tzdata)   # hook windows in other zones
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v man >/dev/null 2>&1 || missing+=(man-db)           # the man pages
command -v chromium >/dev/null 2>&1 || missing+=(chromium)     # the HTML archive in a browser (tests/html.rs)
command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)  # CJK glyphs
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)     # Arabic, Hebrew
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)              # the README's nginx snippet (tests/html.rs)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "tests/run.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts an Exim daemon on install; the tests run their own on 127.0.0.1.
cargo test --locked "$@"
