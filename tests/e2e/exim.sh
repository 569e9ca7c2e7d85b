#!/usr/bin/env bash
# End-to-end: a private Exim on 127.0.0.1 with the shipped exim.conf.example and
# fragments, real SMTP from swaks, mailtix as the pipe. Usage: exim.sh MAILTIX_BINARY
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: exim.sh MAILTIX_BINARY}
need /usr/sbin/exim4 swaks python3

# Exim with -C drops root for deliveries and runs them as Debian-exim, so everything
# the pipe touches must be reachable by that user (see exim/README.md).
S=$(mktemp -d /tmp/mailtix-e2e.XXXXXX)
chmod 755 "$S"
EXIM_PID=
cleanup() {
    if [ -n "$EXIM_PID" ]; then kill "$EXIM_PID" 2>/dev/null || true; fi
    if [ -z "${KEEP:-}" ]; then rm -rf "$S"; else echo "kept $S"; fi
}
trap cleanup EXIT

U=Debian-exim
mkdir -p "$S/exim" "$S/bin" "$S/spool" "$S/log" "$S/store" "$S/sink"
cp "$repo"/exim/mailtix-routers.conf "$repo"/exim/mailtix-transports.conf "$S/exim/"
cp "$bin" "$S/bin/mailtix"
PORT=$(free_port)
cat > "$S/bin/sendmail" <<SH
#!/bin/sh
exec /usr/sbin/exim4 -C $S/exim.conf "\$@"
SH
chmod 755 "$S/bin/sendmail"
cat > "$S/config.toml" <<TOML
store = "$S/store"
domain = "example.org"
admins = ["boss@admin.example"]
lock_timeout = 2
[mail]
transport = "sendmail"
sendmail = "$S/bin/sendmail"
TOML
{
    cat <<CONF
MAILTIX_DOMAIN = example.org
MAILTIX_EXIM_DIR = $S/exim
MAILTIX_STORE = $S/store
MAILTIX_BIN = $S/bin/mailtix
MAILTIX_CONFIG = $S/config.toml
MAILTIX_USER = $U
MAILTIX_GROUP = $U
SPOOL = $S/spool
LOGDIR = $S/log
LISTEN = 127.0.0.1
SMTP_PORT = $PORT
CATCHALL_MBOX = $S/sink/mbox
CONF
    cat "$repo/exim/exim.conf.example"
} > "$S/exim.conf"
chmod 644 "$S/exim.conf" "$S/config.toml"
chown -R "$U:$U" "$S/spool" "$S/log" "$S/store" "$S/sink"
chmod 770 "$S/store"

EXIM="/usr/sbin/exim4 -C $S/exim.conf"
$EXIM -bV >/dev/null || fail "exim rejects exim.conf.example with the fragments"
$EXIM -bd -oP "$S/exim.pid"
wait_for 10 test -s "$S/exim.pid" || fail "exim did not start"
EXIM_PID=$(cat "$S/exim.pid")
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" || fail "exim does not listen on $PORT"

smtp() { swaks --server "127.0.0.1:$PORT" --helo test.example "$@"; }
queue_empty() { [ -z "$($EXIM -bp)" ]; }
sink_has() { grep -q "$1" "$S/sink/mbox" 2>/dev/null; }

# 1. A new ticket, and its acknowledgement reaches the sink through the same Exim.
smtp --to support@example.org --from ann@customer.example \
     --h-From "Ann <ann@customer.example>" --h-Subject "Printer on fire" \
     --body "It burns." >"$S/swaks1" 2>&1 || fail "new ticket: $(tail -3 "$S/swaks1")"
wait_for 20 test -f "$S/store/1" || fail "ticket 1 not created: $(tail -5 "$S/log/mainlog")"
wait_for 20 sink_has "^To: .*ann@customer.example" || fail "no acknowledgement in the sink: $(tail -5 "$S/log/mainlog")"
sink_has "^From: ticket-1@example.org" || fail "the ack is not from ticket-1@"
sink_has "Subject: \[issue1\] Printer on fire" || fail "the ack subject lacks [issue1]"
wait_for 20 sink_has "^To: boss@admin.example" || fail "no admin notice"
pass "new ticket over SMTP, acknowledgement and notice delivered"

# 2. A follow-up to ticket-1@.
smtp --to ticket-1@example.org --from ann@customer.example --h-Subject "more" --body "Still burning." >"$S/swaks2" 2>&1 \
    || fail "follow-up refused: $(tail -3 "$S/swaks2")"
wait_for 20 queue_empty || fail "follow-up not delivered: $($EXIM -bp)"
[ "$(count_msgs "$S/store/1")" = 2 ] || fail "ticket 1 should hold 2 messages"
pass "follow-up to ticket-1@"

# 3. Unknown tickets and odd local parts are refused at RCPT time.
if smtp --to ticket-999@example.org --from x@customer.example --body x >"$S/swaks3" 2>&1; then fail "ticket-999@ accepted"; fi
grep -q "<\*\* *550" "$S/swaks3" || fail "ticket-999@ not refused with 550: $(grep '<' "$S/swaks3" | tail -3)"
if smtp --to 'ticket-1/../x@example.org' --from x@customer.example --body x >"$S/swaks4" 2>&1; then fail "ticket-1/../x@ accepted"; fi
grep -q "<\*\* *550" "$S/swaks4" || fail "ticket-1/../x@ not refused with 550"
pass "ticket-999@ and ticket-1/../x@ refused with 550 at RCPT"

# 4. A message with From lines in the body arrives intact.
printf 'From the start of a line\n>From quoted\nend\n' > "$S/body"
smtp --to ticket-1@example.org --from ann@customer.example --h-Subject "from lines" \
     --h-Message-Id "<fromlines@customer.example>" --body "$S/body" >/dev/null 2>&1 || fail "from-lines mail refused"
wait_for 20 queue_empty || fail "from-lines mail not delivered"
python3 - "$S/store/1" "$S/body" <<'PY' || fail "From lines did not round-trip"
import mailbox, re, sys
box = mailbox.mbox(sys.argv[1], create=False)
assert len(box) == 3, len(box)
msg = box[2].as_bytes()
body = msg.split(b"\n\n", 1)[1]
unquoted = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
want = open(sys.argv[2], "rb").read()
assert unquoted.startswith(want), (unquoted, want)
PY
pass "a From line in the body arrives intact (mboxrd)"

# 5. A held lock: mailtix exits 75, Exim defers; after release the retry delivers once.
smtp --to support@example.org --from bob@other.example --h-Subject "second ticket" --body "hi" >/dev/null 2>&1
wait_for 20 test -f "$S/store/2" || fail "ticket 2 not created"
wait_for 20 queue_empty || fail "queue not empty"
su -s /bin/sh "$U" -c "touch $S/store/2.lock"
smtp --to ticket-2@example.org --from bob@other.example --h-Subject "while locked" \
     --h-Message-Id "<locked@other.example>" --body "wait for me" >/dev/null 2>&1 || fail "locked mail refused at SMTP"
wait_for 30 grep -q "== .*<ticket-2@example.org>.* defer .*returned 75" "$S/log/mainlog" || fail "no deferral logged: $(tail -5 "$S/log/mainlog")"
[ -n "$($EXIM -bp)" ] || fail "the deferred message is not queued"
[ "$(count_msgs "$S/store/2")" = 1 ] || fail "ticket 2 changed while locked"
rm -f "$S/store/2.lock"
$EXIM -qff
wait_for 20 queue_empty || fail "retry did not deliver: $($EXIM -bp)"
[ "$(count_msgs "$S/store/2")" = 2 ] || fail "ticket 2 should hold exactly 2 messages after the retry"
grep -q "=> .*<ticket-2@example.org>" "$S/log/mainlog" || fail "no delivery logged"
pass "held lock: deferred with 75, delivered exactly once on retry"

# 6. The admin closes ticket 1 by mail; a stranger cannot.
smtp --to ticket-1-close@example.org --from evil@attacker.example --h-From boss@admin.example --h-Subject close --body x >/dev/null 2>&1
wait_for 20 queue_empty || fail "forged close not delivered"
[ -f "$S/store/1" ] || fail "a forged close closed ticket 1"
smtp --to ticket-1-close@example.org --from boss@admin.example --h-From boss@admin.example --h-Subject close --body done >/dev/null 2>&1 \
    || fail "close refused at SMTP"
wait_for 20 test -f "$S/store/archived/1" || fail "ticket 1 not archived: $(tail -5 "$S/log/mainlog")"
[ ! -e "$S/store/1" ] || fail "ticket 1 still open"
# a closed ticket still accepts mail (and a person's mail reopens it)
smtp --to ticket-1@example.org --from ann@customer.example --h-Subject again --body "back" >/dev/null 2>&1 || fail "mail to a closed ticket refused"
wait_for 20 test -f "$S/store/1" || fail "ticket 1 not reopened"
pass "close by the admin over SMTP; forged close refused; reopen by mail"

# 7. A bounce of an acknowledgement comes back through Exim to the VERP address,
#    is filed in its ticket and recorded, and sends nothing.
smtp --to support@example.org --from carol@nowhere.invalid --h-Subject "bouncing" --body "hi" >/dev/null 2>&1 \
    || fail "mail from carol refused"
wait_for 20 test -f "$S/store/3" || fail "ticket 3 not created"
wait_for 30 grep -q " 3 hard .* carol@nowhere.invalid" "$S/store/.mailtix/bounces" \
    || fail "the ack's bounce was not recorded: $(grep -i bounce "$S/log/mainlog" | tail -3)"
wait_for 20 queue_empty || fail "queue not empty after the bounce: $($EXIM -bp)"
[ "$(count_msgs "$S/store/3")" = 2 ] || fail "ticket 3 should hold the mail and the bounce"
grep -q "=> .*<ticket-3-bounce-[0-9a-f]*@example.org>" "$S/log/mainlog" || fail "the bounce did not go to the VERP address"
# A forged bounce to a well-formed VERP address is accepted and dropped (exit 0): a
# 67 would make Exim bounce it to a sender that is usually forged.
smtp --to ticket-3-bounce-0000000000000000@example.org --from "" --body x >"$S/swaks7" 2>&1 \
    || fail "a bounce to a well-formed VERP address was refused at SMTP: $(tail -3 "$S/swaks7")"
wait_for 20 queue_empty || fail "the forged bounce stays queued: $($EXIM -bp)"
grep -q "=> .*<ticket-3-bounce-0000000000000000@example.org>" "$S/log/mainlog" \
    || fail "the forged bounce was not delivered to the pipe: $(tail -3 "$S/log/mainlog")"
! grep -q "\*\* .*ticket-3-bounce-0000000000000000" "$S/log/mainlog" || fail "the forged bounce was bounced"
grep -q "action=discarded .*wrong MAC" "$S/store/.mailtix/log" || fail "the forged bounce was not logged as discarded"
[ "$(count_msgs "$S/store/3")" = 2 ] || fail "a forged bounce was filed"
pass "a real Exim bounce returns to its ticket by VERP; a forged one is dropped without a bounce"

# 8. Only the exact address shapes reach the pipe; everything else fails routing
#    (exim -bt exits 2: undeliverable; 1 would be a deferral) and is refused at RCPT.
route_of() { local rc=0; $EXIM -bt "$1" >"$S/bt" 2>&1 || rc=$?; echo $rc; }
tok=0123456789abcdef
for a in ticket-3 ticket-3-close ticket-3-close-$tok ticket-3-bounce-$tok ticket-3-reply-$tok \
         TICKET-3-BOUNCE-0123456789ABCDEF; do
    [ "$(route_of "$a@example.org")" = 0 ] || fail "$a@ does not route: $(cat "$S/bt")"
    grep -q "transport = mailtix_pipe" "$S/bt" || fail "$a@ does not reach the pipe: $(cat "$S/bt")"
done
touch "$S/store/3.lock" "$S/store/junk"
chown "$U:$U" "$S/store/3.lock" "$S/store/junk"
for a in ticket-3-bounce-zz ticket-3-bounce-$tok'0' ticket-3-bounce-0123456789abcde ticket-3-bounce- \
         ticket-3-close-zz ticket-3-close-0123 ticket-3-reply-zz ticket-3-reply ticket-3.lock ticket-junk \
         ticket-archived/3 ticket-archived ticket-03 ticket- ticket-3-reopen ticket-3x; do
    rc=$(route_of "$a@example.org")
    [ "$rc" = 2 ] || fail "$a@ should fail routing (exit 2), got $rc: $(cat "$S/bt")"
    grep -q "no such ticket" "$S/bt" || fail "$a@ did not fail as 'no such ticket': $(cat "$S/bt")"
done
rm -f "$S/store/3.lock" "$S/store/junk"
for a in ticket-3-bounce-zz ticket-3.lock 'ticket-archived/3'; do
    if smtp --to "$a@example.org" --from x@customer.example --body x >"$S/swaks8" 2>&1; then fail "$a@ accepted"; fi
    grep -q "<\*\* *550" "$S/swaks8" || fail "$a@ not refused with 550: $(grep '<' "$S/swaks8" | tail -3)"
done
pass "only ticket-N@, -close, -close/-bounce/-reply-<16 hex> route; other shapes fail (550), none defers"

# 9. A queue added by editing the config alone: Exim's config and process stay as
#    they are. Before, sales@ is not mailtix's (unknown user); after the edit
#    and `mailtix check` (the documented step; the next delivery would do it too) it
#    opens tickets in queue sales, whose own admin gets the notice; removed again, it
#    falls through at once.
[ "$(route_of sales@example.org)" = 2 ] || fail "sales@ routes before it is a queue: $(cat "$S/bt")"
cp "$S/config.toml" "$S/config.toml.orig"
cat >> "$S/config.toml" <<TOML
[[queues]]
name = "sales"
address = "sales"
admins = ["seller@admin.example"]
TOML
mt() { su -s /bin/sh "$U" -c "$S/bin/mailtix --config $S/config.toml $*"; }
mt check >"$S/check9" 2>&1 || true
grep -q "queues: sales@example.org opens tickets in queue sales" "$S/check9" || fail "check did not write the queue: $(cat "$S/check9")"
[ "$(route_of sales@example.org)" = 0 ] && grep -q "router = mailtix_queue" "$S/bt" \
    || fail "sales@ does not route to mailtix_queue: $(cat "$S/bt")"
smtp --to sales@example.org --from dave@customer.example --h-Subject "A quote for 3 printers" \
     --body "How much?" >"$S/swaks9" 2>&1 || fail "sales@ refused: $(tail -3 "$S/swaks9")"
wait_for 20 queue_empty || fail "the sales mail stays queued: $($EXIM -bp)"
wait_for 20 sink_has "^To: seller@admin.example" || fail "no notice to the sales admin: $(tail -5 "$S/log/mainlog")"
mt list --queue sales >"$S/list9" 2>&1 || fail "list --queue sales failed: $(cat "$S/list9")"
grep -q "dave@customer.example .*sales .*A quote for 3 printers" "$S/list9" || fail "the sales ticket is not listed in its queue: $(cat "$S/list9")"
[ "$(mt list --queue sales | wc -l)" = 2 ] || fail "list --queue sales shows other tickets: $(mt list --queue sales)"
cp "$S/config.toml.orig" "$S/config.toml"
mt check >"$S/check9b" 2>&1 || true
grep -q "sales@example.org is no longer a queue address" "$S/check9b" || fail "check did not remove the queue: $(cat "$S/check9b")"
[ "$(route_of sales@example.org)" = 2 ] || fail "a removed queue still routes: $(cat "$S/bt")"
if smtp --to sales@example.org --from dave@customer.example --body x >"$S/swaks9b" 2>&1; then fail "a removed queue's address accepted"; fi
grep -q "<\*\* *550" "$S/swaks9b" || fail "a removed queue's address not refused with 550: $(grep '<' "$S/swaks9b" | tail -3)"
pass "a queue added by editing the config alone (Exim unchanged) opens tickets with its own admin; removed, it falls through"

echo "exim e2e: all passed"
