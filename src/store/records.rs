//! The record formats of `.mailtix/`: bounce records, acknowledgement and relay
//! allowances, the log and the summary cache.

use super::*;

/// How long a bounce record counts: 60 days, as BounceHandler keeps them.
pub const BOUNCE_KEEP_SECS: i64 = 60 * 86_400;

/// The shard of `.mailtix/bounces.d` that holds the records of `addr` (any case).
fn bounce_shard(addr: &str) -> String {
    let a = addr.trim().to_ascii_lowercase();
    format!("bounces.d/{:02x}", crate::mbox::fnv1a(a.as_bytes()) & 0xff)
}

/// One failed recipient of a bounce, as a line of `.mailtix/bounces.d/XX` and of the
/// `bounces` journal: `UNIXTIME TICKET hard|soft STATUS ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceRecord {
    pub at: i64,
    pub ticket: u32,
    pub severity: crate::bounce::Severity,
    /// The DSN status (`5.1.1`); empty when the report gave none.
    pub status: String,
    pub addr: String,
}

impl BounceRecord {
    /// The line, without its newline. Status and address have no spaces.
    pub fn render(&self) -> String {
        let word = |t: &str| crate::headers::clean(t).replace(' ', "_");
        let status = if self.status.is_empty() {
            "-".to_string()
        } else {
            word(&self.status)
        };
        format!(
            "{} {} {} {status} {}",
            self.at,
            self.ticket,
            self.severity.as_str(),
            word(&self.addr)
        )
    }

    /// Reads a line back; `None` for anything else.
    pub fn parse(line: &str) -> Option<BounceRecord> {
        let mut f = line.split(' ');
        let at = f.next()?.parse().ok()?;
        let ticket = crate::address::parse_id(f.next()?)?;
        let severity = match f.next()? {
            "hard" => crate::bounce::Severity::Hard,
            "soft" => crate::bounce::Severity::Soft,
            _ => return None,
        };
        let status = match f.next()? {
            "-" => String::new(),
            s => s.to_string(),
        };
        let addr = f.next()?.to_string();
        f.next().is_none().then_some(BounceRecord {
            at,
            ticket,
            severity,
            status,
            addr,
        })
    }

    /// A hard bounce still counted at `now` ([`BOUNCE_KEEP_SECS`]).
    fn hard_at(&self, now: i64) -> bool {
        self.severity == crate::bounce::Severity::Hard && fresh(self.at, now)
    }
}

/// True when a record made at `at` is younger than [`BOUNCE_KEEP_SECS`] at `now`.
fn fresh(at: i64, now: i64) -> bool {
    now - at < BOUNCE_KEEP_SECS
}

/// True when a bounce record line is younger than [`BOUNCE_KEEP_SECS`] at `now`.
/// Lines that do not parse are dropped with the old ones.
fn bounce_fresh(line: &str, now: i64) -> bool {
    BounceRecord::parse(line).is_some_and(|r| fresh(r.at, now))
}

/// Makes a shard directory of `.mailtix/` when it is missing (stores made before it
/// existed), refusing anything there that is not a directory, a symlink included.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        mkdir(dir)?;
        if !fs::symlink_metadata(dir)?.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// What the acknowledgement caps allow ([`Store::take_ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckGrant {
    /// Taken and counted: send it.
    Taken,
    /// The mailbox already had this many in the last hour.
    AddressFull(u32),
    /// The store already sent this many in this clock hour.
    HourFull(u32),
}

/// The mailbox an acknowledgement cap counts: the address lowercased, with a `+tag`
/// of the local part removed, so that `ann+1@` and `Ann+2@` share one allowance.
pub fn ack_mailbox(addr: &str) -> String {
    let a = addr.trim().to_ascii_lowercase();
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(l, _)| l);
            format!("{local}@{domain}")
        }
        None => a,
    }
}

impl Store {
    // ---------------------------------------------------------------- state files

    /// Appends one line to `.mailtix/log`.
    pub fn log(&self, line: &str) -> io::Result<()> {
        self.append_line("log", line)
    }

    /// Records one failed recipient of a bounce at `now` (unix seconds).
    ///
    /// The record that deliver reads is in `.mailtix/bounces.d/XX`, the shard of the
    /// address's hash, which is rewritten without records older than
    /// [`BOUNCE_KEEP_SECS`] (BounceHandler forgets after about 60 days). The same
    /// line also goes to `.mailtix/bounces`, a journal for people that nothing reads
    /// back; it is rotated to `bounces.1` past 1 MiB, so neither grows without bound.
    pub fn record_bounce(&self, rec: &BounceRecord, now: i64) -> io::Result<()> {
        let line = rec.render();
        let dir = self.state_dir().join("bounces.d");
        ensure_dir(&dir)?;
        let mut f = self.locked_state_file(&bounce_shard(&rec.addr))?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut kept: String = text
            .lines()
            .filter(|l| bounce_fresh(l, now))
            .map(|l| format!("{l}\n"))
            .collect();
        kept.push_str(&line);
        kept.push('\n');
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(kept.as_bytes())?;
        drop(f);
        let journal = self.state_dir().join("bounces");
        if fs::symlink_metadata(&journal).is_ok_and(|m| m.is_file() && m.len() > 1024 * 1024) {
            let _ = fs::rename(&journal, self.state_dir().join("bounces.1"));
        }
        self.append_line("bounces", &line)
    }

    /// Hard bounces recorded for `addr` (any case) in the [`BOUNCE_KEEP_SECS`] before
    /// `now`. Reads only the address's shard.
    pub fn hard_bounces(&self, addr: &str, now: i64) -> u32 {
        let path = self.state_dir().join(bounce_shard(addr));
        let Ok(text) = read_text_nofollow(&path) else {
            return 0;
        };
        text.lines()
            .filter_map(BounceRecord::parse)
            .filter(|r| r.hard_at(now) && r.addr.eq_ignore_ascii_case(addr.trim()))
            .count() as u32
    }

    /// Every address with at least `limit` hard bounces in the [`BOUNCE_KEEP_SECS`]
    /// before `now`, lowercased (for `list`, which reads every shard).
    pub fn bouncing_addresses(&self, limit: u32, now: i64) -> std::collections::HashSet<String> {
        let mut counts: std::collections::HashMap<String, u32> = Default::default();
        let dir = self.state_dir().join("bounces.d");
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(text) = read_text_nofollow(&e.path()) else {
                continue;
            };
            for r in text.lines().filter_map(BounceRecord::parse) {
                if r.hard_at(now) {
                    *counts.entry(r.addr.to_ascii_lowercase()).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n >= limit)
            .map(|(a, _)| a)
            .collect()
    }

    /// The acknowledgement caps: takes one acknowledgement for `addr` at `now` (unix
    /// seconds) unless the mailbox (see [`ack_mailbox`]) already had `per_address` in
    /// the hour before `now`, or the store already sent `per_hour` in this clock hour.
    ///
    /// The cost does not grow with the store's activity: the per-address records are
    /// sharded by a hash of the mailbox (`.mailtix/acks.d/XX`, 256 shards, only this
    /// mailbox's shard is read, and it is pruned to the last hour once it passes 4 KiB),
    /// and the hourly count is one small file, `.mailtix/acks-hour` (`HOUR COUNT`).
    /// Both are locked in that order: counter first, then the shard.
    pub fn take_ack(
        &self,
        addr: &str,
        now: i64,
        per_address: u32,
        per_hour: u32,
    ) -> io::Result<AckGrant> {
        let mailbox = ack_mailbox(addr);
        let mut counter = self.locked_state_file("acks-hour")?;
        let mut text = String::new();
        counter.read_to_string(&mut text)?;
        let hour = now.div_euclid(3600);
        let sent = match text.split_once(' ') {
            Some((h, n)) if h.trim().parse::<i64>().ok() == Some(hour) => {
                n.trim().parse::<u32>().unwrap_or(0)
            }
            _ => 0,
        };
        if sent >= per_hour {
            return Ok(AckGrant::HourFull(sent));
        }
        let dir = self.state_dir().join("acks.d");
        ensure_dir(&dir)?;
        let shard = format!(
            "acks.d/{:02x}",
            crate::mbox::fnv1a(mailbox.as_bytes()) & 0xff
        );
        let mut f = self.locked_state_file(&shard)?;
        let mut lines = String::new();
        f.read_to_string(&mut lines)?;
        let recent = |l: &&str| {
            l.split_once(' ')
                .and_then(|(t, _)| t.parse::<i64>().ok())
                .is_some_and(|t| now - t < 3600)
        };
        let used = lines
            .lines()
            .filter(recent)
            .filter(|l| l.split_once(' ').is_some_and(|(_, a)| a == mailbox))
            .count() as u32;
        if used >= per_address {
            return Ok(AckGrant::AddressFull(used));
        }
        let line = format!("{now} {mailbox}\n");
        if lines.len() > 4096 {
            let mut kept: String = lines
                .lines()
                .filter(recent)
                .map(|l| format!("{l}\n"))
                .collect();
            kept.push_str(&line);
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(kept.as_bytes())?;
        } else {
            f.seek(SeekFrom::End(0))?;
            f.write_all(line.as_bytes())?;
        }
        let count = format!("{hour} {}\n", sent + 1);
        counter.set_len(0)?;
        counter.seek(SeekFrom::Start(0))?;
        counter.write_all(count.as_bytes())?;
        Ok(AckGrant::Taken)
    }

    /// The relay cap: true (and counted) when fewer than `limit` answers were relayed
    /// in the hour before `now`, over all tickets. `.mailtix/relays` holds one unix
    /// time per relay and is rewritten with the last hour only, so it stays at most
    /// `limit` lines long.
    pub fn take_relay(&self, now: i64, limit: u32) -> io::Result<bool> {
        let mut f = self.locked_state_file("relays")?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut recent: Vec<i64> = text
            .lines()
            .filter_map(|l| l.trim().parse::<i64>().ok())
            .filter(|&t| now - t < 3600)
            .collect();
        if recent.len() as u64 >= u64::from(limit) {
            return Ok(false);
        }
        recent.push(now);
        let kept: String = recent.iter().map(|t| format!("{t}\n")).collect();
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(kept.as_bytes())?;
        Ok(true)
    }

    /// The summary cache's text, if there is one.
    pub fn read_summaries(&self) -> Option<String> {
        read_text_nofollow(&self.state_dir().join("summaries")).ok()
    }

    /// Replaces the summary cache (atomically; it can always be rebuilt).
    pub fn write_summaries(&self, text: &str) -> io::Result<()> {
        write_replace(&self.state_dir().join("summaries"), text.as_bytes())
    }
}

impl Store {
    /// The queue `mailtix move` last put ticket `id` in (`.mailtix/moved/N`), so that
    /// a delivery need not read the whole ticket for its notes. `None`: never moved,
    /// so its first message's trace block says.
    pub fn moved_to(&self, id: u32) -> Option<String> {
        let path = self.state_dir().join("moved").join(id.to_string());
        let text = read_text_nofollow(&path).ok()?;
        Some(text.trim().to_string()).filter(|q| !q.is_empty())
    }

    /// Records ticket `id`'s queue after a move (`None`: back where its first message
    /// put it). The ticket's move note is the truth; `reindex` rebuilds these.
    pub fn set_moved(&self, id: u32, queue: Option<&str>) -> io::Result<()> {
        let dir = self.state_dir().join("moved");
        let path = dir.join(id.to_string());
        match queue {
            Some(q) => {
                ensure_dir(&dir)?;
                write_replace(&path, format!("{q}\n").as_bytes())
            }
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ctx(path.display(), e)),
                _ => Ok(()),
            },
        }
    }
}

/// What one line of `.mailtix/log` records; also the events a hook can follow
/// ([`Action::HOOKED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    New,
    Followup,
    Reopen,
    Close,
    CloseRefused,
    Bounce,
    Duplicate,
    Discarded,
}

impl Action {
    /// The events a `[[hooks]]` entry can name.
    pub const HOOKED: [Action; 5] = [
        Action::New,
        Action::Followup,
        Action::Reopen,
        Action::Close,
        Action::Bounce,
    ];

    /// The hookable event named `word` in a config.
    pub fn hooked(word: &str) -> Option<Action> {
        Self::HOOKED.into_iter().find(|a| a.as_str() == word)
    }

    /// The word in the log, in hook configs and in `MAILTIX_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Followup => "followup",
            Action::Reopen => "reopen",
            Action::Close => "close",
            Action::CloseRefused => "close-refused",
            Action::Bounce => "bounce",
            Action::Duplicate => "duplicate",
            Action::Discarded => "discarded",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of `.mailtix/log`: `TIME exim=ID sender=S rcpt=R ticket=N action=A
/// outcome=0 DETAIL` for a delivery, `TIME ticket=N action=A by=USER DETAIL` for a
/// command. Every value is cleaned of control characters; sender and recipient have
/// no spaces, so the line splits on them.
pub struct LogLine<'a> {
    pub at: chrono::DateTime<chrono::Utc>,
    pub ticket: u32,
    pub action: Action,
    pub who: Who<'a>,
    pub detail: &'a str,
}

/// Who caused a logged event.
pub enum Who<'a> {
    /// A delivery: Exim's message id, the envelope sender and recipient.
    Mail {
        exim: Option<&'a str>,
        sender: &'a str,
        rcpt: &'a str,
    },
    /// A command run by this user.
    User(&'a str),
}

impl LogLine<'_> {
    /// The line, without its newline.
    pub fn render(&self) -> String {
        let clean = crate::headers::clean;
        let at = self.at.format("%Y-%m-%dT%H:%M:%SZ");
        let (ticket, action, detail) = (self.ticket, self.action, clean(self.detail));
        match self.who {
            Who::Mail { exim, sender, rcpt } => format!(
                "{at} exim={} sender={} rcpt={} ticket={ticket} action={action} outcome=0 {detail}",
                clean(exim.unwrap_or("-")).replace(' ', "_"),
                clean(sender).replace(' ', "_"),
                clean(rcpt).replace(' ', "_"),
            ),
            Who::User(user) => {
                format!(
                    "{at} ticket={ticket} action={action} by={} {detail}",
                    clean(user)
                )
            }
        }
    }
}

impl Store {
    /// Appends a [`LogLine`] to `.mailtix/log`.
    pub fn log_event(&self, line: &LogLine<'_>) -> io::Result<()> {
        self.log(&line.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_bounce_record_reads_back_as_written_and_nothing_else_does() {
        let r = BounceRecord {
            at: 1_796_000_000,
            ticket: 7,
            severity: crate::bounce::Severity::Hard,
            status: String::new(),
            addr: "Ann Example@x".into(),
        };
        let line = r.render();
        assert_eq!(line, "1796000000 7 hard - Ann_Example@x");
        let back = BounceRecord::parse(&line).unwrap();
        assert_eq!(
            (back.addr.as_str(), back.status.as_str()),
            ("Ann_Example@x", "")
        );
        for bad in [
            "",
            "1 7 hard - a@x extra",
            "x 7 hard - a@x",
            "1 7 maybe - a@x",
            "1 0 hard - a@x",
        ] {
            assert_eq!(BounceRecord::parse(bad), None, "{bad:?}");
        }
        assert!(back.hard_at(r.at + BOUNCE_KEEP_SECS - 1));
        assert!(!back.hard_at(r.at + BOUNCE_KEEP_SECS));
    }

    #[test]
    fn a_log_line_has_one_shape_per_cause_and_no_control_characters() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap();
        let mail = LogLine {
            at,
            ticket: 4,
            action: Action::Close,
            who: Who::Mail {
                exim: Some("1abc-0"),
                sender: "a b@x\x1b[2J",
                rcpt: "ticket-4-close@x",
            },
            detail: "sent\nclose notice",
        };
        assert_eq!(
            mail.render(),
            "2026-12-02T09:30:00Z exim=1abc-0 sender=a_b@x_[2J rcpt=ticket-4-close@x ticket=4 action=close outcome=0 sent close notice"
        );
        let cmd = LogLine {
            at,
            ticket: 4,
            action: Action::Reopen,
            who: Who::User("ann"),
            detail: "hook ok",
        };
        assert_eq!(
            cmd.render(),
            "2026-12-02T09:30:00Z ticket=4 action=reopen by=ann hook ok"
        );
    }
}
