# mailtix: close tickets with no mail for 30 days, every night at 04:17 (on
# systemd, mailtix-archive.timer does the same: use one or the other).
# Disabled until you remove the "#" below (and choose the number of days).
#
#17 4 * * *	mail	[ -x /usr/bin/mailtix ] && /usr/bin/mailtix --config /etc/mailtix/config.toml archive --idle 30 >/dev/null
#
# Figures for node_exporter's textfile collector, every five minutes:
#*/5 * * * *	mail	[ -x /usr/bin/mailtix ] && /usr/bin/mailtix --config /etc/mailtix/config.toml metrics --textfile /var/lib/prometheus/node-exporter >/dev/null
