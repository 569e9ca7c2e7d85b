#!/usr/bin/env bash
# End-to-end: real mutt in tmux with muttrc.sample. A reply from a ticket folder must
# come from ticket-N@ with ticket-N@ in Cc, for any N, for tickets newer than mutt, and
# after moving between tickets with `c`; the close macro must work; and the file must
# stay a valid mbox when mutt and a delivery write it one after the other.
# Usage: mutt.sh MAILTIX_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: mutt.sh MAILTIX_BINARY}
need mutt tmux python3

S=$(mktemp -d /tmp/mailtix-mutt.XXXXXX)
SOCK="mailtix-e2e-$$"
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
cat > "$S/capture" <<SH
#!/bin/sh
n=\$(ls $S/sent.*.eml 2>/dev/null | wc -l)
cat > $S/sent.\$n.eml
SH
chmod +x "$S/capture"
cat > "$S/test.muttrc" <<RC
source $repo/muttrc.sample
set folder = "$S/tickets"
set spoolfile = "$S/tickets"
set sendmail = "$S/capture"
set editor = true
set abort_unmodified = no
set record = ""
set postpone = no
set copy = no
set realname = "The Maintainer"
set from = "boss@admin.example"
set use_from = yes
set mail_check = 1
set timeout = 1
set delete = yes
RC
export MAILTIX_CONFIG="$S/config.toml" PATH="$S/bin:$PATH" HOME="$S/home"

deliver() { # deliver RCPT SENDER SUBJECT MSGID
    printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\n\nHello from %s\n' "$2" "$1" "$3" "$4" "$2" \
        | mailtix deliver --recipient "$1" --sender "$2" 2>/dev/null
}
sent_count() { ls "$S"/sent.*.eml 2>/dev/null | wc -l; }
screen() { tmux -L "$SOCK" capture-pane -p; }
keys() { tmux -L "$SOCK" send-keys "$@"; sleep 0.6; }
header() { # header FILE NAME
    python3 -c 'import email,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); print(m.get(sys.argv[2],""))' "$1" "$2"
}
# reply_check N SENTFILE WHO: the captured reply to WHO must be from ticket-N@ with it in Cc.
reply_check() {
    local f=$S/sent.$2.eml
    wait_for 10 test -s "$f" || fail "ticket $1: no reply captured: $(screen | grep -v '^$' | tail -3)"
    local from to cc
    from=$(header "$f" From); to=$(header "$f" To); cc=$(header "$f" Cc)
    [[ "$from" == *"<ticket-$1@example.org>" || "$from" == "ticket-$1@example.org" ]] || fail "ticket $1: From is '$from'"
    [[ "$to" == *"$3"* ]] || fail "ticket $1: To is '$to'"
    [[ "$cc" == *"ticket-$1@example.org"* ]] || fail "ticket $1: Cc is '$cc'"
}

deliver support@example.org ann@customer.example "Printer on fire" m1@customer.example
deliver support@example.org bob@other.example "Login broken" m2@other.example
[ -f "$S/tickets/2" ] || fail "setup: tickets not created"

tmux -L "$SOCK" -f /dev/null new-session -d -x 150 -y 40 \
    "env MAILTIX_CONFIG='$S/config.toml' PATH='$S/bin:$PATH' HOME='$S/home' mutt -n -F '$S/test.muttrc' -f '$S/tickets/1'; sleep 60"
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'Printer on fire'" || fail "mutt did not open ticket 1: $(screen | grep -v '^$' | tail -3)"

# 1. Reply in ticket 1.
keys r; keys y
reply_check 1 0 ann@customer.example
pass "reply in ticket 1: From and Cc ticket-1@"

# 2. A ticket opened after mutt started, reached with `c`.
deliver support@example.org carol@third.example "Newer than mutt" m3@third.example
[ -f "$S/tickets/3" ] || fail "ticket 3 not created"
keys c; keys C-u "$S/tickets/3" Enter
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'Newer than mutt'" || fail "mutt did not open ticket 3: $(screen | grep -v '^$' | tail -3)"
keys r; keys y
reply_check 3 1 carol@third.example
pass "reply in ticket 3, opened after mutt started: From and Cc ticket-3@"

# 3. Back to ticket 2 with `c`: the hooks follow.
keys c; keys C-u "$S/tickets/2" Enter
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'Login broken'" || fail "mutt did not open ticket 2"
keys r; keys y
reply_check 2 2 bob@other.example
pass "reply in ticket 2 after browsing with c: From and Cc ticket-2@"

# 4. mutt writes the file (delete + sync), a delivery appends, mutt syncs again: the
#    file stays a valid mbox for Python and for mailtix.
deliver ticket-2@example.org bob@other.example "More" m4@other.example
keys '$'
sleep 1.5
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'More'" || fail "mutt did not see the new mail: $(screen | grep -v '^$' | tail -4)"
keys 1 Enter; keys d; keys '$'
sleep 1
deliver ticket-2@example.org bob@other.example "Even more" m5@other.example
keys '$'
sleep 1.5
n=$(count_msgs "$S/tickets/2")
[ "$n" = 2 ] || fail "ticket 2 holds $n messages after mutt deleted one of three: $(screen | grep -v "^$" | tail -6)"
mailtix check >/dev/null || fail "mailtix check: $(mailtix check 2>&1 | tail -3)"
screen | grep -qi corrupt && fail "mutt reported corruption: $(screen | grep -i corrupt)"
pass "mutt sync and deliveries interleave; the mbox stays valid"

# 5. The close macro (Esc-C) closes the ticket mutt has open, without corruption.
keys Escape C
wait_for 10 test -f "$S/tickets/archived/2" || fail "Esc-C did not close ticket 2: $(screen | grep -v '^$' | tail -3)"
sleep 1
screen | grep -qi corrupt && fail "mutt reported corruption after closing: $(screen | grep -i corrupt)"
mailtix list --closed | grep -q '^2 ' || fail "ticket 2 not listed as closed"
pass "Esc-C closes the ticket from mutt"

# 6. Long-line injection: an 8191-byte line, then a From line. mutt reads 8192-byte
#    chunks; it must still see one message.
python3 - "$S/longline.eml" <<'PY'
import sys
body = b"x" * 8191 + b"\nFrom evil@x Sat Jan  3 01:05:34 1996\ninjected?\n"
open(sys.argv[1], "wb").write(b"From: eve@evil.example\nTo: support@example.org\nSubject: Long line\nMessage-ID: <long@evil.example>\n\n" + body)
PY
mailtix deliver --recipient support@example.org --sender eve@evil.example < "$S/longline.eml" 2>/dev/null || fail "long-line mail not filed"
n=$(ls "$S/tickets" | grep -E '^[0-9]+$' | sort -n | tail -1)
keys c; keys C-u "$S/tickets/$n" Enter
wait_for 10 sh -c "tmux -L $SOCK capture-pane -p | grep -q 'Long line'" || fail "mutt did not open ticket $n: $(screen | grep -v '^$' | tail -3)"
screen | grep -q "Msgs:1 " || fail "mutt sees more than one message: $(screen | grep 'Msgs:')"
[ "$(count_msgs "$S/tickets/$n")" = 1 ] || fail "Python sees more than one message"
pass "an 8191-byte line followed by a From line is one message in mutt"

echo "mutt e2e: all passed"
