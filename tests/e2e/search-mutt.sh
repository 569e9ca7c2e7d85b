#!/usr/bin/env bash
# End-to-end: muttrc.sample's search macro in real mutt in tmux. Esc-S asks for a query,
# runs `mailtix search --all --mbox`, and opens the results read-only: exactly the
# matching messages, from open and closed tickets; a query with no match opens an empty
# folder, never the previous results.
# Usage: search-mutt.sh MAILTIX_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: search-mutt.sh MAILTIX_BINARY}
need mutt tmux python3

S=$(mktemp -d /tmp/mailtix-search-mutt.XXXXXX)
SOCK="mailtix-search-e2e-$$"
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    if [ -z "${KEEP:-}" ]; then rm -rf "$S"; else echo "kept $S"; fi
}
trap cleanup EXIT

mkdir -p "$S/bin" "$S/home" "$S/tickets"
cp "$bin" "$S/bin/mailtix"
cat > "$S/config.toml" <<TOML
store = "$S/tickets"
domain = "example.org"
admins = ["boss@admin.example"]
[mail]
transport = "file"
outbox = "$S/outbox"
TOML
cat > "$S/test.muttrc" <<RC
source $repo/muttrc.sample
set folder = "$S/tickets"
set spoolfile = "$S/tickets"
set mail_check = 1
set timeout = 1
RC
export MAILTIX_CONFIG="$S/config.toml" PATH="$S/bin:$PATH" HOME="$S/home"
RESULTS="$S/home/.mailtix-search.mbox"

deliver() { # deliver RCPT SENDER SUBJECT MSGID BODY
    printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n%s\n' \
        "$2" "$1" "$3" "$4" "$(printf '%s\n' "$5" | base64)" \
        | mailtix deliver --recipient "$1" --sender "$2" 2>/dev/null
}
screen() { tmux -L "$SOCK" capture-pane -p; }
keys() { tmux -L "$SOCK" send-keys "$@"; sleep 0.6; }
mids() { # the Message-IDs in an mbox, sorted
    python3 -c 'import mailbox,sys; print(" ".join(sorted(m["Message-ID"] for m in mailbox.mbox(sys.argv[1], create=False))))' "$1"
}

deliver support@example.org ann@customer.example "Printer on fire" m1@customer.example "the printer is on fire"
deliver support@example.org bob@other.example "Login broken" m2@other.example "the quokka ate my password"
deliver ticket-1@example.org ann@customer.example "Re: Printer on fire" m3@customer.example "a quokka did it"
deliver support@example.org carol@third.example "Old thing" m4@third.example "an archived quokka"
mailtix close 3 >/dev/null || fail "setup: close 3"
[ -f "$S/tickets/archived/3" ] || fail "setup: ticket 3 not closed"

tmux -L "$SOCK" -f /dev/null new-session -d -x 150 -y 40 \
    "env MAILTIX_CONFIG='$S/config.toml' PATH='$S/bin:$PATH' HOME='$S/home' mutt -n -F '$S/test.muttrc' -f '$S/tickets/1'; sleep 60"
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'Printer on fire'" || fail "mutt did not open ticket 1: $(screen | grep -v '^$' | tail -3)"

# 1. Esc-S, a query with a word, a negation and a prefix; the results open read-only.
keys Escape S
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'mailtix search:'" || fail "no search prompt: $(screen | grep -v '^$' | tail -3)"
keys 'quokka -from:bob' Enter
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'mailtix-search.mbox'" || fail "results not opened: $(screen | grep -v '^$' | tail -4)"
sleep 1
[ "$(mids "$RESULTS")" = "<m3@customer.example> <m4@third.example>" ] || fail "results hold $(mids "$RESULTS")"
screen | grep -q "Msgs:2 " || fail "mutt does not show 2 messages: $(screen | grep 'Msgs:')"
screen | grep -q "Re: Printer on fire" || fail "ticket 1's reply not listed: $(screen | grep -v '^$' | tail -5)"
screen | grep -q "Old thing" || fail "the closed ticket's message not listed"
screen | grep -q "Login broken" && fail "a message from bob is listed"
# the status line's %r is "%" for a read-only folder
screen | grep -q -- "-%-Mutt: .*mailtix-search.mbox" || fail "the results are not read-only: $(screen | grep 'Msgs:')"
pass "Esc-S opens the matching messages of open and closed tickets, read-only"

# 2. Read-only: deleting and syncing changes nothing on disk.
before=$(md5sum < "$RESULTS")
keys d; keys '$'
sleep 1
[ "$(md5sum < "$RESULTS")" = "$before" ] || fail "mutt changed the read-only results"
pass "the results folder is not written"

# 3. A query that matches nothing opens an empty folder, not the old results.
keys Escape S
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'mailtix search:'" || fail "no search prompt the second time"
keys 'nosuchwordanywhere' Enter
sleep 2
[ ! -s "$RESULTS" ] || fail "old results kept after a search with no match"
screen | grep -q "Printer on fire" && fail "mutt still lists the old results: $(screen | grep -v '^$' | tail -4)"
pass "a search with no match leaves no old results"

echo "search-mutt e2e: all passed"
