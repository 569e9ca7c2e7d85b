#!/usr/bin/env bash
# The Debian package on this machine, as a sysadmin uses it: dpkg -i, enable it in
# Debian's own exim4 configuration (split setup, a macro, update-exim4.conf), run that
# Exim on 127.0.0.1 only, mail it with swaks, read the man page and a completion, then
# remove and purge. Runs as root, changes /etc/exim4 and restores it.
# Usage: deb.sh PATH/TO/mailtix_VERSION_ARCH.deb
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
deb=$(realpath "${1:?usage: deb.sh PACKAGE.deb}")
need dpkg dpkg-query getfacl /usr/sbin/exim4 /usr/sbin/update-exim4.conf swaks man python3 ss su
[ "$(id -u)" = 0 ] || fail "deb.sh installs a package: run it as root"
STORE=/var/spool/mailtix
CONF=/etc/mailtix/config.toml
[ ! -e "$STORE" ] || fail "$STORE exists; this test creates it and will not touch another"
if dpkg-query -W -f '${Status}' mailtix 2>/dev/null | grep -q ' installed$'; then
    fail "a mailtix package is installed already"
fi

W=$(mktemp -d /tmp/mailtix-deb.XXXXXX)
EXIM_PID=
cp -a /etc/exim4 "$W/exim4.orig"
cleanup() {
    if [ -n "$EXIM_PID" ]; then kill "$EXIM_PID" 2>/dev/null || true; fi
    dpkg -P mailtix >/dev/null 2>&1 || true
    rm -rf /etc/exim4 && cp -a "$W/exim4.orig" /etc/exim4
    update-exim4.conf || true
    rm -rf "$STORE"
    if [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "kept $W"; fi
}
trap cleanup EXIT

# Debian starts its exim4 daemon when the package is installed, listening on the
# configured interfaces: stop it (by its pid), so that only ours runs.
if [ -s /run/exim4/exim.pid ]; then
    pid=$(cat /run/exim4/exim.pid)
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = exim4 ]; then
        kill "$pid"
        wait_for 10 sh -c "! kill -0 $pid" || fail "Debian's exim4 daemon ($pid) did not stop"
        echo "stopped Debian's exim4 daemon ($pid)"
    fi
fi

# 1. Install.
dpkg -i "$deb" >"$W/install" 2>&1 || fail "dpkg -i: $(cat "$W/install")"
[ -x /usr/bin/mailtix ] || fail "no /usr/bin/mailtix"
[ "$(stat -c '%U:%G %a' "$STORE")" = "mail:mail 2770" ] || fail "store is $(stat -c '%U:%G %a' "$STORE")"
[ "$(stat -c '%U:%G %a' "$STORE/archived")" = "mail:mail 2770" ] || fail "archived/ is $(stat -c '%U:%G %a' "$STORE/archived")"
[ "$(cat "$STORE/.mailtix/format")" = 1 ] || fail "the new store is not at format 1"
[ "$(stat -c '%U:%G %a' "$STORE/queues")" = "mail:mail 2770" ] || fail "queues/ is $(stat -c '%U:%G %a' "$STORE/queues" 2>&1)"
for d in "$STORE" "$STORE/archived" "$STORE/queues"; do
    getfacl -cp "$d" 2>/dev/null | grep -qx "user:Debian-exim:r-x" || fail "Debian-exim may not list $d"
done
conffiles=$(dpkg-query -W -f '${Conffiles}' mailtix)
for f in "$CONF" /etc/exim4/conf.d/router/350_mailtix /etc/exim4/conf.d/transport/30_mailtix \
         /etc/logrotate.d/mailtix /etc/cron.d/mailtix; do
    grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile"
done
pass "dpkg -i: /usr/bin/mailtix, conffiles, store mail:mail 2770 with archived/ at format 1"

# 2. Debian's single-file setup, with the lines README.Debian says to paste.
echo "MAILTIX_ENABLE = yes" >/etc/exim4/exim4.conf.localmacros
sed -i -e '/^begin routers/a .include /etc/exim4/conf.d/router/350_mailtix' \
       -e '/^begin transports/a .include /etc/exim4/conf.d/transport/30_mailtix' /etc/exim4/exim4.conf.template
update-exim4.conf || fail "update-exim4.conf failed with the pasted lines"
/usr/sbin/exim4 -bt support@localhost >"$W/bt-single" 2>&1 || fail "single file: support@ does not route: $(cat "$W/bt-single")"
grep -q "transport = mailtix_pipe" "$W/bt-single" || fail "single file: support@ not routed to mailtix: $(cat "$W/bt-single")"
/usr/sbin/exim4 -bt ticket-999@localhost >"$W/bt-single" 2>&1 || true
grep -q "no such ticket" "$W/bt-single" || fail "single file: ticket-999@ not refused: $(cat "$W/bt-single")"
rm /etc/exim4/exim4.conf.localmacros && cp "$W/exim4.orig/exim4.conf.template" /etc/exim4/
pass "Debian's single-file configuration with the two pasted .include lines"

# 3. Installed but not enabled: Exim's routing is unchanged.
sed -i "s/^dc_use_split_config=.*/dc_use_split_config='true'/" /etc/exim4/update-exim4.conf.conf
update-exim4.conf || fail "update-exim4.conf failed before enabling"
/usr/sbin/exim4 -bt ticket-999@localhost >"$W/bt0" 2>&1 || true
! grep -q "no such ticket" "$W/bt0" || fail "the routers act before MAILTIX_ENABLE"
pass "the Exim fragments do nothing until enabled"

# 4. Enable with the macro and update-exim4.conf, as README.Debian says.
echo "MAILTIX_ENABLE = yes" >/etc/exim4/conf.d/main/00_local_macros
update-exim4.conf || fail "update-exim4.conf failed with mailtix enabled"
/usr/sbin/exim4 -bV >/dev/null || fail "Exim refuses the generated configuration"
/usr/sbin/exim4 -bt support@localhost >"$W/bt1" 2>&1 || fail "support@ does not route: $(cat "$W/bt1")"
grep -q "transport = mailtix_pipe" "$W/bt1" || fail "support@ is not routed to mailtix: $(cat "$W/bt1")"
pass "enabled in Debian's split configuration with update-exim4.conf"

# 5. That Exim, on 127.0.0.1 only, started and stopped by us.
PORT=$(free_port)
/usr/sbin/exim4 -bd -oX "127.0.0.1.$PORT" -oP "$W/exim.pid"
wait_for 10 test -s "$W/exim.pid" || fail "exim did not start"
EXIM_PID=$(cat "$W/exim.pid")
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" || fail "exim does not listen on $PORT"
listening=$(ss -Hltnp | grep "pid=$EXIM_PID," || true)
[ -n "$listening" ] || fail "no listening socket of pid $EXIM_PID"
if grep -v "127.0.0.1:$PORT " <<<"$listening"; then fail "exim listens beyond 127.0.0.1:$PORT"; fi
# Debian's RCPT ACL accepts anything from 127.0.0.1 as local submission, before it
# verifies recipients; mail from the outside world is what the 550 is for, so the
# mail comes from another loopback address, 127.0.0.2.
smtp() { swaks --server "127.0.0.1:$PORT" --local-interface 127.0.0.2 --helo test.example "$@"; }
as_mail() { su -s /bin/sh mail -c "$*"; }

smtp --to support@localhost --from ann@customer.example --h-From "Ann <ann@customer.example>" \
     --h-Subject "Printer on fire" --body "It burns." >"$W/swaks1" 2>&1 || fail "support@: $(tail -3 "$W/swaks1")"
wait_for 20 test -f "$STORE/1" || fail "ticket 1 not created: $(tail -5 /var/log/exim4/mainlog)"
[ "$(stat -c '%U:%G' "$STORE/1")" = "mail:mail" ] || fail "ticket 1 is $(stat -c '%U:%G' "$STORE/1")"
as_mail "mailtix --config $CONF list" >"$W/list" || fail "list: $(cat "$W/list")"
grep -q "Printer on fire" "$W/list" || fail "list lacks ticket 1: $(cat "$W/list")"
smtp --to ticket-1@localhost --from ann@customer.example --h-Subject more --body "Still." >"$W/swaks2" 2>&1 \
    || fail "ticket-1@: $(tail -3 "$W/swaks2")"
wait_for 20 grep -q "^Subject: more" "$STORE/1" || fail "the follow-up is not in ticket 1"
pass "mail to support@ and ticket-1@ through Debian's Exim"

if smtp --to ticket-999@localhost --from x@customer.example --body x >"$W/swaks3" 2>&1; then fail "ticket-999@ accepted"; fi
grep -q "<\*\* *550" "$W/swaks3" || fail "ticket-999@ not refused with 550: $(grep '<' "$W/swaks3" | tail -3)"
pass "ticket-999@ refused with 550 at RCPT"
as_mail "mailtix --config $CONF check" >"$W/check" || fail "check: $(cat "$W/check")"
grep -q "store format 1" "$W/check" || fail "check does not report the format"
pass "check: healthy, format 1"
# A store from before formats were numbered, upgraded by root: the format file
# must belong to the store's owner, or deliver (as mail) could not read it.
rm "$STORE/.mailtix/format"
mailtix --config "$CONF" upgrade >"$W/upgrade" || fail "upgrade: $(cat "$W/upgrade")"
[ "$(stat -c '%U:%G %a' "$STORE/.mailtix/format")" = "mail:mail 660" ] || fail "format file is $(stat -c '%U:%G %a' "$STORE/.mailtix/format")"
mailtix --config "$CONF" upgrade | grep -q "nothing to do" || fail "a second upgrade did something"
pass "upgrade by root of a format-0 store: the format file belongs to mail"
mailtix --config "$CONF" selftest --exim /usr/sbin/exim4 >"$W/selftest" 2>&1 || fail "selftest: $(cat "$W/selftest")"
grep -q "^PASS /usr/sbin/exim4 -bt support@localhost" "$W/selftest" || fail "selftest did not ask Exim: $(cat "$W/selftest")"
grep -q "^selftest: 8 passed, 0 failed" "$W/selftest" || fail "selftest: $(cat "$W/selftest")"
[ ! -e "$STORE/2" ] || fail "selftest made a ticket in the live store"
mailtix --config "$CONF" check --nagios >"$W/nagios" || fail "check --nagios exit $?: $(cat "$W/nagios")"
grep -q "^MAILTIX OK - 1 open, 1 waiting.* | open=1;" "$W/nagios" || fail "check --nagios: $(cat "$W/nagios")"
mkdir "$W/prom" && mailtix --config "$CONF" metrics --textfile "$W/prom" >/dev/null || fail "metrics failed"
grep -qx "mailtix_open_tickets 1" "$W/prom/mailtix.prom" || fail "metrics: $(cat "$W/prom/mailtix.prom")"
pass "selftest with Debian's Exim, check --nagios, metrics --textfile"

# 6. The man pages and a completion, as installed.
MANPAGER=cat man mailtix >"$W/man1" 2>&1 || fail "man mailtix: $(head -3 "$W/man1")"
grep -q "deliver" "$W/man1" || fail "man mailtix lacks the commands"
MANPAGER=cat man mailtix-show | grep -q "Ticket number" || fail "man mailtix-show"
MANPAGER=cat man 5 mailtix.toml | grep -q "relay_admin_replies" || fail "man 5 mailtix.toml"
got=$(MAILTIX_CONFIG=$CONF bash -c 'source /usr/share/bash-completion/completions/mailtix
    COMP_WORDS=(mailtix show ""); COMP_CWORD=2; _mailtix_with_ids mailtix "" show; echo "${COMPREPLY[*]}"')
[ "$got" = 1 ] || fail "bash completion of 'mailtix show ' gave '$got'"
[ -s /usr/share/zsh/vendor-completions/_mailtix ] && [ -s /usr/share/fish/vendor_completions.d/mailtix.fish ] \
    || fail "zsh or fish completion missing"
if command -v logrotate >/dev/null; then
    logrotate -d /etc/logrotate.d/mailtix >"$W/logrotate" 2>&1 || fail "logrotate: $(cat "$W/logrotate")"
    ! grep -qi "error" "$W/logrotate" || fail "logrotate: $(grep -i error "$W/logrotate")"
fi
pass "man mailtix, mailtix-show(1), mailtix.toml(5); bash completes ticket numbers"

# 7. Reinstalling never touches the store.
sum=$(md5sum "$STORE/1")
dpkg -i "$deb" >"$W/reinstall" 2>&1 || fail "reinstall: $(cat "$W/reinstall")"
grep -q "exists; left as it is" "$W/reinstall" || fail "reinstall did not leave the store: $(cat "$W/reinstall")"
[ "$(md5sum "$STORE/1")" = "$sum" ] || fail "reinstall changed ticket 1"

# 8. Remove and purge: the store stays, and purge says so.
kill "$EXIM_PID"; wait_for 10 sh -c "! kill -0 $EXIM_PID" || fail "exim did not stop"; EXIM_PID=
dpkg -r mailtix >"$W/remove" 2>&1 || fail "dpkg -r: $(cat "$W/remove")"
[ ! -e /usr/bin/mailtix ] || fail "/usr/bin/mailtix survived removal"
[ -f "$CONF" ] || fail "remove deleted the conffile"
/usr/sbin/exim4 -bV >/dev/null || fail "Exim's configuration is broken after dpkg -r"
dpkg -P mailtix >"$W/purge" 2>&1 || fail "dpkg -P: $(cat "$W/purge")"
grep -q "left in place" "$W/purge" || fail "purge does not say the store stays: $(cat "$W/purge")"
[ ! -e "$CONF" ] || fail "purge left $CONF"
[ ! -e /etc/exim4/conf.d/router/350_mailtix ] || fail "purge left the router fragment"
[ "$(md5sum "$STORE/1")" = "$sum" ] || fail "purge changed the store"
pass "dpkg -r and -P: the store stays, and purge says so"
echo "all passed"
