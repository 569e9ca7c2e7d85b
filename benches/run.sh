#!/usr/bin/env bash
# Runs the benchmarks: builds mailtix in release mode, sets up a Roundup tracker
# (pip, in target/) for the comparison, and prints a table for BENCHMARKS.md.
# Usage: benches/run.sh [--quick]   (--quick: tiny sizes, so CI keeps it from rotting)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perl >/dev/null || { echo "benches/run.sh: perl is needed for the floor" >&2; exit 1; }

R=target/bench-roundup
if [ ! -x "$R/venv/bin/roundup-mailgw" ]; then
    rm -rf "$R"; mkdir -p "$R"
    python3 -m venv "$R/venv"
    "$R/venv/bin/pip" install -q roundup
fi
if [ ! -f "$R/tracker/db/db" ]; then
    rm -rf "$R/tracker"
    "$R/venv/bin/roundup-admin" -i "$R/tracker" install classic sqlite >/dev/null
    python3 - "$R/tracker/config.ini" "$PWD/$R/mail.out" <<'PY'
import re, sys
p, out = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("#web = NO DEFAULT", "web = http://localhost/tracker/", 1)
s = s.replace("#domain = NO DEFAULT", "domain = example.org", 1)
s = s.replace("#host = NO DEFAULT", "host = localhost", 1)
lines, section = [], None
for l in s.split("\n"):
    m = re.match(r"\[(\w+)\]", l)
    if m:
        section = m.group(1)
    if section == "mail" and l.startswith("debug ="):
        l = "debug = " + out   # mail goes to this file instead of an MTA
    lines.append(l)
open(p, "w").write("\n".join(lines))
PY
    "$R/venv/bin/roundup-admin" -i "$R/tracker" initialise benchpw >/dev/null
    "$R/venv/bin/roundup-admin" -i "$R/tracker" create user username=ann address=ann@customer.example roles=User >/dev/null
fi
cargo bench --locked --bench deliver -- --roundup "$PWD/$R/tracker" "$@"
# The search benchmark (benches/search.py): a generated store of 100,000 tickets and
# 500,000 messages, written once outside the repo ($MAILTIX_BENCH_DATA, default
# target/bench-data); --quick uses a tiny one in a temp dir.
cargo build --release --locked
python3 benches/search.py target/release/mailtix "$@"
cargo bench --locked --bench html -- "$@"
