#!/usr/bin/env bash
# benches/acks.sh [BIN] [--before]: the cost of a new ticket (ack + notice, sendmail =
# /bin/true) when the store sent 3,000 acknowledgements in the last hour, against the
# same store with its acknowledgement state emptied. One store: before each timed run
# the state (.mailtix/acks, acks.d, acks-hour) is swapped in from a saved copy, so
# nothing else differs. Interleaved, 101 rounds, medians of wall time and of CPU time
# (user + sys, which a busy machine disturbs less). --before leaves out
# [acks] total_per_hour, for a build from before that key existed.
set -euo pipefail
BIN=$(realpath "${1:-$(dirname "$0")/../target/release/mailtix}")
extra=$'[acks]\nper_sender_per_hour = 5\ntotal_per_hour = 1000000'
[ "${2:-}" = --before ] && extra=""
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat > "$W/c.toml" <<T
store = "$W/s"
domain = "example.org"
admins = ["boss@admin.example"]
$extra
[mail]
transport = "sendmail"
sendmail = "/bin/true"
T
for i in $(seq 1 3000); do
    printf 'From: u%s@customer.example\nSubject: hello\nMessage-ID: <pop%s@x>\n\nbody\n' "$i" "$i" |
        "$BIN" --config "$W/c.toml" deliver --recipient support@example.org --sender "u$i@customer.example" 2>/dev/null
done
mkdir -p "$W/full" "$W/empty"
for f in acks acks.d acks-hour; do
    [ -e "$W/s/.mailtix/$f" ] && cp -a "$W/s/.mailtix/$f" "$W/full/"
done
[ -d "$W/s/.mailtix/acks.d" ] && mkdir "$W/empty/acks.d"
du -sh "$W"/full/* | sed "s|$W/full/|.mailtix/|" | tr '\n' ' '; echo
python3 - "$BIN" "$W" <<'PY'
import os, resource, shutil, subprocess, sys, time, statistics
bin_, w = sys.argv[1], sys.argv[2]
state = f"{w}/s/.mailtix"
wall = {"full": [], "empty": []}
cpu = {"full": [], "empty": []}
def used():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(kind, i):
    for f in ("acks", "acks.d", "acks-hour"):
        p = f"{state}/{f}"
        if os.path.isdir(p): shutil.rmtree(p)
        elif os.path.exists(p): os.remove(p)
        src = f"{w}/{kind}/{f}"
        if os.path.isdir(src): shutil.copytree(src, p)
        elif os.path.exists(src): shutil.copy2(src, p)
    # the copy leaves dirty pages that the delivery's fsync would otherwise pay for
    os.sync()
    m = f"From: t{i}{kind}@customer.example\nSubject: hello\nMessage-ID: <t{i}{kind}@x>\n\nbody\n".encode()
    c0, t0 = used(), time.perf_counter()
    subprocess.run([bin_, "--config", f"{w}/c.toml", "deliver", "--recipient", "support@example.org", "--sender", f"t{i}{kind}@customer.example"], input=m, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, used() - c0
run("full", -1); run("empty", -1)
for i in range(101):
    for k in (("full", "empty") if i % 2 == 0 else ("empty", "full")):
        t, c = run(k, i)
        wall[k].append(t); cpu[k].append(c)
for name, d in (("wall", wall), ("cpu", cpu)):
    a, b = statistics.median(d["full"]), statistics.median(d["empty"])
    print(f"{name}: 3,000 acks in the hour {a*1000:.2f} ms, ack state emptied {b*1000:.2f} ms, ratio {a/b:.2f}x (101 rounds, medians)")
PY
