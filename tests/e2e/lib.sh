# Shared helpers for the end-to-end scripts. Sourced, not run.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
need() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || fail "$t is not installed (tests/run.sh installs it with apt)"
    done
}
# wait_for SECONDS CMD...: run CMD until it succeeds, or fail.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}
# count_msgs FILE: messages in an mbox, as Python's mailbox module sees them.
count_msgs() {
    python3 -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1], create=False)))' "$1"
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
