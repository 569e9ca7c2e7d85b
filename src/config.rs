//! The TOML config. `parse` is pure; `load` reads the file. With no config file at all,
//! `Config::quickstart` gives the built-in defaults that SPEC promises: the store is
//! `$MAILTIX_STORE` or `./tickets`, the domain is `localhost`, and outgoing mail is
//! written into `STORE/.mailtix/outbox`.

use crate::address::Addresses;
use crate::store::Action;
use crate::trust::{euid, unsafe_config};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file as written. Every field is optional; `Config` holds the resolved values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The ticket directory; relative paths are resolved against the config's directory
    /// [default: `$MAILTIX_STORE`, else `tickets`].
    store: Option<PathBuf>,
    /// The mail domain mailtix answers for [default: `localhost`].
    domain: Option<String>,
    /// The maintainer's own addresses: they get notices and may close tickets by mail
    /// [default: none].
    admins: Option<Vec<String>>,
    /// Local part that opens new tickets [default: `support`].
    support: Option<String>,
    /// Local-part prefix of ticket addresses [default: `ticket-`, giving `ticket-12@`].
    ticket_prefix: Option<String>,
    /// Local-part suffix of close addresses [default: `-close`, giving `ticket-12-close@`].
    close_suffix: Option<String>,
    /// Subject tag word [default: `issue`, giving `[issue12]`].
    subject_tag: Option<String>,
    /// Seconds to wait for a ticket lock before failing temporarily [default: 20, 1 to 600].
    lock_timeout: Option<u64>,
    /// Seconds after which a dotlock with no live writer is removed [default: 300].
    stale_lock: Option<u64>,
    /// Largest message accepted, in bytes; larger input exits 65 [default: 50 MiB].
    max_message_size: Option<u64>,
    /// When true, the close address carries a token derived from a secret [default: false].
    close_token: Option<bool>,
    /// Send an admin's answer to a notice (mail to the notice's secret Reply-To,
    /// ticket-N-reply-TOKEN@) on to the requester: answering from any client
    /// [default: false].
    relay_admin_replies: Option<bool>,
    /// Most relayed answers in an hour, over all tickets; past it an answer is only
    /// filed, and the admins are told [default: 20].
    relay_per_hour: Option<u32>,
    /// Mail to a ticket closed longer than this opens a new ticket instead of reopening
    /// [default: unset, always reopen].
    reopen_within_days: Option<u32>,
    /// Tell the requester when their ticket is closed [default: false].
    notify_on_close: Option<bool>,
    /// How mail goes out [default: sendmail, `/usr/sbin/sendmail`].
    mail: Option<RawMail>,
    /// Bounces of the mail mailtix sends.
    bounces: Option<RawBounces>,
    /// Limits on acknowledgements.
    acks: Option<RawAcks>,
    /// Commands run after events [default: none].
    hooks: Option<Vec<RawHook>>,
    /// Seconds all the hooks of one delivery may take together [default: 60, at most 240].
    hook_time_limit: Option<u64>,
    /// Directory of template files (ack, notice, close, refused-close, relay-footer); a missing
    /// file, or no directory, means the built-in text [default: unset].
    templates_dir: Option<PathBuf>,
    /// More intake addresses, each a queue (see queue.rs) [default: only `support`].
    queues: Option<Vec<RawQueue>>,
    /// The static HTML archive (`mailtix html`).
    html: Option<RawHtml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHtml {
    /// "text" (HTML parts shown as text) or "sanitised" (shown as HTML through a
    /// whitelist, never with images) [default: "text"].
    html_parts: Option<String>,
}

// ---------------------------------------------------------------- queues

/// The queue of `support@` and of every ticket with no queue recorded.
pub const SUPPORT: &str = "support";

/// The directory, under the store, that the Exim router looks queue addresses up in.
pub const DIR: &str = "queues";

/// One `[[queues]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    /// The queue's name, shown by `list` and used by `move` and `list --queue`.
    name: String,
    /// Local part of the queue's address (`sales` gives `sales@DOMAIN`); for the
    /// queue named `support` it is the `support` key.
    address: Option<String>,
    /// Who gets the queue's notices and may close its tickets by mail [default: `admins`].
    admins: Option<Vec<String>>,
    /// The queue's own templates; a file missing here comes from the global
    /// `templates_dir`, then the built-in text.
    templates_dir: Option<PathBuf>,
    /// false: new tickets of this queue get no acknowledgement.
    ack: Option<bool>,
}

/// A resolved queue.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    /// The local part, lowercased.
    pub address: String,
    /// `None`: the global admins.
    pub admins: Option<Vec<String>>,
    pub templates_dir: Option<PathBuf>,
    pub ack: bool,
    /// The queue's templates, read by `Config::load` (layered over the global ones).
    pub templates: crate::template::Templates,
}

fn queue_word(key: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && !v.starts_with('.')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "queues: {key} = {v:?}: use letters, digits, '-', '_' and '.' (not first), at most 64"
        ))
    }
}

/// Resolves the `[[queues]]` entries: the `support` queue first (declared or not),
/// then the others in file order. Names and addresses must be unique, and an address
/// must not be one of mailtix's other local parts.
fn resolve_queues(
    raw: Vec<RawQueue>,
    support: &str,
    ticket_prefix: &str,
    base: &Path,
) -> Result<Vec<Queue>, String> {
    let mut out = vec![Queue {
        name: SUPPORT.into(),
        address: support.into(),
        admins: None,
        templates_dir: None,
        ack: true,
        templates: Default::default(),
    }];
    let mut support_declared = false;
    for q in raw {
        let name = q.name.trim().to_ascii_lowercase();
        queue_word("name", &name)?;
        let admins = match q.admins {
            Some(list) => {
                let list: Vec<String> = list
                    .into_iter()
                    .map(|a| a.trim().to_ascii_lowercase())
                    .collect();
                for a in &list {
                    if !a.contains('@') || a.chars().any(|c| c.is_whitespace() || c == '<') {
                        return Err(format!(
                            "queues: {name}: admins: {a:?} is not a bare address like me@example.org"
                        ));
                    }
                }
                Some(list)
            }
            None => None,
        };
        let templates_dir = q
            .templates_dir
            .map(|p| if p.is_absolute() { p } else { base.join(p) });
        let ack = q.ack.unwrap_or(true);
        if name == SUPPORT {
            if let Some(a) = q.address.as_deref()
                && !a.eq_ignore_ascii_case(support)
            {
                return Err(format!(
                    "queues: the support queue's address is the `support` key ({support:?}), not {a:?}"
                ));
            }
            if support_declared {
                return Err("queues: the support queue is declared twice".into());
            }
            support_declared = true;
            out[0].admins = admins;
            out[0].templates_dir = templates_dir;
            out[0].ack = ack;
            continue;
        }
        let address = q
            .address
            .ok_or_else(|| {
                format!("queues: {name}: address is missing (a local part such as \"{name}\")")
            })?
            .trim()
            .to_ascii_lowercase();
        queue_word("address", &address)?;
        if address.starts_with(ticket_prefix) {
            return Err(format!(
                "queues: {name}: address {address:?} starts with ticket_prefix {ticket_prefix:?}"
            ));
        }
        if address.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("queues: {name}: address {address:?} is a number"));
        }
        if let Some(o) = out.iter().find(|o| o.name == name) {
            return Err(format!("queues: the name {:?} is used twice", o.name));
        }
        if let Some(o) = out.iter().find(|o| o.address == address) {
            return Err(format!(
                "queues: {name}: address {address:?} is already queue {}'s",
                o.name
            ));
        }
        out.push(Queue {
            name,
            address,
            admins,
            templates_dir,
            ack,
            templates: Default::default(),
        });
    }
    Ok(out)
}

/// What recorded bounces do (`[bounces] mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceMode {
    /// An address past `hard_limit` hard bounces gets no more acknowledgements.
    #[default]
    Enforce,
    /// Bounces are only recorded.
    Log,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBounces {
    /// [default: `enforce`]
    mode: Option<BounceMode>,
    /// Hard bounces after which an address gets no more acknowledgements [default: 1].
    hard_limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcks {
    /// Most acknowledgements one address gets in an hour (`+tags` count as one)
    /// [default: 5].
    per_sender_per_hour: Option<u32>,
    /// Most acknowledgements the store sends in one clock hour, to anyone [default: 100].
    total_per_hour: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    /// new | followup | reopen | close | bounce
    event: String,
    /// Run with /bin/sh -c; the message on stdin, MAILTIX_* in the environment.
    command: String,
    /// Only outside this local-time window, "HH:MM-HH:MM".
    outside: Option<String>,
    /// Seconds before the hook is killed [default: 10, 1 to 300].
    timeout: Option<u64>,
}

/// A local-time window, in minutes after midnight: `start` is inside, `end` is not.
/// `start > end` wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

impl Window {
    /// Parses "HH:MM-HH:MM".
    pub fn parse(s: &str) -> Result<Window, String> {
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (h < 24 && m < 60 && !t.trim().is_empty()).then_some(h * 60 + m)
        };
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?}: expected HH:MM-HH:MM"))?;
        match (minutes(a), minutes(b)) {
            (Some(start), Some(end)) if start != end => Ok(Window { start, end }),
            _ => Err(format!(
                "{s:?}: expected HH:MM-HH:MM with two different times"
            )),
        }
    }

    /// True when minute-of-day `m` is inside the window.
    pub fn contains(&self, m: u32) -> bool {
        if self.start < self.end {
            m >= self.start && m < self.end
        } else {
            m >= self.start || m < self.end
        }
    }
}

/// A configured hook.
#[derive(Debug, Clone)]
pub struct Hook {
    pub event: Action,
    pub command: String,
    pub outside: Option<Window>,
    pub timeout_secs: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    /// "sendmail" | "smtp" | "file".
    transport: Option<String>,
    /// The sendmail binary, called as `SENDMAIL -i -f FROM -- RCPT...`.
    sendmail: Option<PathBuf>,
    /// Directory for `transport = "file"`: one .eml per message.
    outbox: Option<PathBuf>,
    /// SMTP server for `transport = "smtp"` (no TLS, no auth: a local MTA).
    smtp_host: Option<String>,
    /// SMTP port.
    smtp_port: Option<u16>,
}

/// How outgoing mail is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Run a sendmail-compatible binary.
    Sendmail(PathBuf),
    /// Speak SMTP to a local MTA.
    Smtp { host: String, port: u16 },
    /// Write one .eml file per message into a directory.
    File(PathBuf),
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: PathBuf,
    /// Our domain and the shapes of our local parts: all that tells our mail from
    /// anyone else's (address.rs and route.rs need nothing more).
    pub addresses: Addresses,
    /// Lowercased admin addresses.
    pub admins: Vec<String>,
    pub lock_timeout_secs: u64,
    pub stale_lock_secs: u64,
    pub max_message_size: u64,
    pub close_token: bool,
    pub transport: Transport,
    pub relay_admin_replies: bool,
    pub relay_per_hour: u32,
    pub reopen_within_days: Option<u32>,
    pub notify_on_close: bool,
    pub bounce_mode: BounceMode,
    pub bounce_hard_limit: u32,
    pub acks_per_sender_per_hour: u32,
    /// Acknowledgements the store sends in one clock hour, to everyone together.
    pub acks_total_per_hour: u32,
    pub hooks: Vec<Hook>,
    /// Seconds all the hooks of one delivery may take together (each hook's own
    /// timeout is clipped to what is left).
    pub hook_time_limit_secs: u64,
    /// `[html] html_parts = "sanitised"`: the archive shows HTML parts sanitised.
    pub html_sanitised: bool,
    /// Where the config came from, for `check` and messages.
    pub source: Option<PathBuf>,
    /// `templates_dir`, resolved.
    pub templates_dir: Option<PathBuf>,
    /// The templates read from `templates_dir` by `load` (or a queue's, once scoped).
    pub templates: crate::template::Templates,
    /// Every queue, `support` first.
    pub queues: Vec<Queue>,
    /// The queue this config is scoped to (`queue::scoped`): `support` unless scoped.
    pub queue: String,
    /// false: the scoped queue sends no acknowledgements.
    pub queue_ack: bool,
}

/// Default time all the hooks of one delivery may take: well inside the 5 minutes
/// after which Exim's shipped pipe transport kills mailtix, with room for the lock wait
/// and the mail mailtix sends.
pub const DEFAULT_HOOK_TIME_LIMIT: u64 = 60;
/// Largest `hook_time_limit`: Exim's 5 minutes less a minute for everything else.
pub const MAX_HOOK_TIME_LIMIT: u64 = 240;

/// Default largest message: 50 MiB, Exim's default `message_size_limit`.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 50 * 1024 * 1024;

impl Config {
    /// The built-in defaults used when there is no config file.
    pub fn quickstart(env_store: Option<&str>, cwd: &Path) -> Config {
        match Self::parse("", cwd, env_store) {
            Ok(mut c) => {
                c.transport = Transport::File(c.store.join(".mailtix").join("outbox"));
                c
            }
            Err(e) => unreachable!("the empty config is valid: {e}"),
        }
    }

    /// Parses config text. `base` is the config file's directory.
    pub fn parse(text: &str, base: &Path, env_store: Option<&str>) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let store = resolve(
            raw.store
                .or_else(|| env_store.filter(|s| !s.is_empty()).map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("tickets")),
        );
        let domain = raw.domain.unwrap_or_else(|| "localhost".into());
        check_word("domain", &domain)?;
        let admins: Vec<String> = raw
            .admins
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        for a in &admins {
            if !a.contains('@') || a.chars().any(|c| c.is_whitespace() || c == '<') {
                return Err(format!(
                    "admins: {a:?} is not a bare address like me@example.org"
                ));
            }
        }
        let mail = raw.mail.unwrap_or_default();
        let transport = match mail.transport.as_deref().unwrap_or("sendmail") {
            "sendmail" => Transport::Sendmail(
                mail.sendmail
                    .map(resolve)
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/sendmail")),
            ),
            "smtp" => Transport::Smtp {
                host: mail.smtp_host.unwrap_or_else(|| "127.0.0.1".into()),
                port: mail.smtp_port.unwrap_or(25),
            },
            "file" => Transport::File(
                mail.outbox
                    .map(resolve)
                    .unwrap_or_else(|| store.join(".mailtix").join("outbox")),
            ),
            other => {
                return Err(format!(
                    "mail.transport = {other:?}: expected \"sendmail\", \"smtp\" or \"file\""
                ));
            }
        };
        let bounces = raw.bounces.unwrap_or_default();
        let mut hooks = Vec::new();
        for h in raw.hooks.unwrap_or_default() {
            let Some(event) = Action::hooked(&h.event) else {
                return Err(format!(
                    "hooks: event = {:?}: expected one of {}",
                    h.event,
                    Action::HOOKED.map(Action::as_str).join(", ")
                ));
            };
            if h.command.trim().is_empty() {
                return Err("hooks: command must not be empty".into());
            }
            hooks.push(Hook {
                event,
                command: h.command,
                outside: h
                    .outside
                    .as_deref()
                    .map(Window::parse)
                    .transpose()
                    .map_err(|e| format!("hooks: outside = {e}"))?,
                timeout_secs: h.timeout.unwrap_or(10).clamp(1, 300),
            });
        }
        let cfg = Config {
            store,
            addresses: Addresses {
                domain: domain.to_ascii_lowercase(),
                support: raw
                    .support
                    .unwrap_or_else(|| "support".into())
                    .to_ascii_lowercase(),
                queues: Vec::new(),
                ticket_prefix: raw
                    .ticket_prefix
                    .unwrap_or_else(|| "ticket-".into())
                    .to_ascii_lowercase(),
                close_suffix: raw
                    .close_suffix
                    .unwrap_or_else(|| "-close".into())
                    .to_ascii_lowercase(),
                subject_tag: raw.subject_tag.unwrap_or_else(|| "issue".into()),
            },
            admins,
            lock_timeout_secs: raw.lock_timeout.unwrap_or(20),
            stale_lock_secs: raw.stale_lock.unwrap_or(300),
            max_message_size: raw.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            close_token: raw.close_token.unwrap_or(false),
            transport,
            relay_admin_replies: raw.relay_admin_replies.unwrap_or(false),
            relay_per_hour: raw.relay_per_hour.unwrap_or(20),
            reopen_within_days: raw.reopen_within_days,
            notify_on_close: raw.notify_on_close.unwrap_or(false),
            bounce_mode: bounces.mode.unwrap_or_default(),
            bounce_hard_limit: bounces.hard_limit.unwrap_or(1).max(1),
            acks_per_sender_per_hour: raw
                .acks
                .as_ref()
                .and_then(|a| a.per_sender_per_hour)
                .unwrap_or(5),
            acks_total_per_hour: raw
                .acks
                .as_ref()
                .and_then(|a| a.total_per_hour)
                .unwrap_or(100),
            hooks,
            hook_time_limit_secs: raw.hook_time_limit.unwrap_or(DEFAULT_HOOK_TIME_LIMIT),
            html_sanitised: match raw.html.as_ref().and_then(|h| h.html_parts.as_deref()) {
                None | Some("text") => false,
                Some("sanitised") => true,
                Some(other) => {
                    return Err(format!(
                        "html: html_parts = {other:?}: expected \"text\" or \"sanitised\""
                    ));
                }
            },
            source: None,
            templates_dir: raw.templates_dir.map(resolve),
            templates: Default::default(),
            queues: Vec::new(),
            queue: SUPPORT.into(),
            queue_ack: true,
        };
        let a = &cfg.addresses;
        check_word("support", &a.support)?;
        check_word("ticket_prefix", &a.ticket_prefix)?;
        check_word("subject_tag", &a.subject_tag)?;
        if a.close_suffix.is_empty() {
            return Err("close_suffix must not be empty".into());
        }
        check_word("close_suffix", &a.close_suffix)?;
        let mut cfg = cfg;
        cfg.queues = resolve_queues(
            raw.queues.unwrap_or_default(),
            &cfg.addresses.support,
            &cfg.addresses.ticket_prefix,
            base,
        )?;
        cfg.addresses.queues = cfg
            .queues
            .iter()
            .skip(1)
            .map(|q| q.address.clone())
            .collect();
        if cfg.hook_time_limit_secs == 0 || cfg.hook_time_limit_secs > MAX_HOOK_TIME_LIMIT {
            return Err(format!(
                "hook_time_limit must be between 1 and {MAX_HOOK_TIME_LIMIT} seconds"
            ));
        }
        if cfg.lock_timeout_secs == 0 || cfg.lock_timeout_secs > 600 {
            return Err("lock_timeout must be between 1 and 600 seconds".into());
        }
        Ok(cfg)
    }

    /// Reads and parses a config file. The file names shell commands (hooks) that run as
    /// the mail user, so like procmail with a suspicious rcfile it is refused when anyone
    /// but its owner could have written it, or when its owner is neither root nor the
    /// user running mailtix.
    pub fn load(path: &Path, env_store: Option<&str>) -> Result<Config, String> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        // The checks look at the file that is read (fstat), not at whatever the name
        // points to a moment later.
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir_meta = std::fs::metadata(dir.unwrap_or(Path::new(".")))
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        unsafe_config(&meta, &dir_meta, euid())
            .map_err(|why| format!("refusing config {}: {why}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let mut cfg = Self::parse(&text, base, env_store)
            .map_err(|e| format!("bad config {}: {e}", path.display()))?;
        cfg.source = Some(path.to_path_buf());
        // Templates are read once, here, so that rendering stays pure.
        if let Some(dir) = &cfg.templates_dir {
            cfg.templates = crate::template::load_dir(dir);
        }
        for q in &mut cfg.queues {
            if let Some(dir) = &q.templates_dir {
                q.templates = crate::template::load_dir(dir);
            }
        }
        Ok(cfg)
    }

    /// True when `addr` (any case) is one of the admins.
    pub fn is_admin(&self, addr: &str) -> bool {
        let addr = addr.trim().to_ascii_lowercase();
        self.admins.contains(&addr)
    }

    /// `ticket-N@DOMAIN`.
    pub fn ticket_address(&self, id: u32) -> String {
        self.addresses.ticket_address(id)
    }

    /// `support@DOMAIN`.
    pub fn support_address(&self) -> String {
        self.addresses.support_address()
    }
}

fn check_word(key: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key} = {value:?}: use letters, digits, '-', '_' and '.' only"
        ))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_defaults() {
        let c = Config::parse("", Path::new("/etc/mailtix"), None).unwrap();
        assert_eq!(c.store, PathBuf::from("/etc/mailtix/tickets"));
        assert_eq!(c.addresses.domain, "localhost");
        assert_eq!(
            c.transport,
            Transport::Sendmail("/usr/sbin/sendmail".into())
        );
        assert_eq!(c.ticket_address(7), "ticket-7@localhost");
    }

    #[test]
    fn quickstart_writes_into_the_store_outbox() {
        let c = Config::quickstart(Some("/srv/t"), Path::new("/home/me"));
        assert_eq!(c.store, PathBuf::from("/srv/t"));
        assert_eq!(
            c.transport,
            Transport::File("/srv/t/.mailtix/outbox".into())
        );
        let c = Config::quickstart(None, Path::new("/home/me"));
        assert_eq!(c.store, PathBuf::from("/home/me/tickets"));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = Config::parse("stor = \"x\"", Path::new("/"), None).unwrap_err();
        assert!(err.contains("stor"), "{err}");
        let err = Config::parse("[mail]\ntransprt = \"file\"", Path::new("/"), None).unwrap_err();
        assert!(err.contains("transprt"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = Config::parse(
            "store = \"t\"\n[mail]\ntransport = \"file\"\noutbox = \"out\"",
            Path::new("/cfg"),
            Some("/ignored"),
        )
        .unwrap();
        assert_eq!(c.store, PathBuf::from("/cfg/t"));
        assert_eq!(c.transport, Transport::File("/cfg/out".into()));
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "domain = \"a b\"",
            "admins = [\"nobody\"]",
            "[mail]\ntransport = \"carrier-pigeon\"",
            "lock_timeout = 0",
            "ticket_prefix = \"../\"",
        ] {
            assert!(Config::parse(text, Path::new("/"), None).is_err(), "{text}");
        }
    }

    #[test]
    fn admins_match_without_case() {
        let c = Config::parse("admins = [\"Me@Example.org\"]", Path::new("/"), None).unwrap();
        assert!(c.is_admin("me@EXAMPLE.org"));
        assert!(!c.is_admin("you@example.org"));
    }

    #[test]
    fn windows_include_the_start_minute_and_exclude_the_end() {
        let w = Window::parse("10:00-17:00").unwrap();
        assert!(!w.contains(9 * 60 + 59));
        assert!(w.contains(10 * 60));
        assert!(w.contains(16 * 60 + 59));
        assert!(!w.contains(17 * 60));
        let night = Window::parse("22:30-06:00").unwrap();
        assert!(night.contains(23 * 60) && night.contains(0) && night.contains(5 * 60 + 59));
        assert!(!night.contains(6 * 60) && !night.contains(12 * 60));
        for bad in [
            "10-17",
            "10:00",
            "25:00-17:00",
            "10:00-10:00",
            "a:b-c:d",
            "10:60-11:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hooks_and_sections_are_checked() {
        let ok = "[[hooks]]\nevent = \"new\"\ncommand = \"/bin/true\"\noutside = \"10:00-17:00\"\n[bounces]\nmode = \"log\"\nhard_limit = 2\n[acks]\nper_sender_per_hour = 3\n";
        let c = Config::parse(ok, Path::new("/"), None).unwrap();
        assert_eq!(c.hooks.len(), 1);
        assert_eq!(c.bounce_mode, BounceMode::Log);
        assert_eq!(c.bounce_hard_limit, 2);
        assert_eq!(c.acks_per_sender_per_hour, 3);
        let t = Config::parse("[acks]\ntotal_per_hour = 7", Path::new("/"), None).unwrap();
        assert_eq!(t.acks_total_per_hour, 7);
        assert_eq!(t.acks_per_sender_per_hour, 5);
        for bad in [
            "[[hooks]]\nevent = \"sms\"\ncommand = \"x\"",
            "[[hooks]]\nevent = \"new\"\ncommand = \" \"",
            "[[hooks]]\nevent = \"new\"\ncommand = \"x\"\noutside = \"9-5\"",
            "[bounces]\nmode = \"strict\"",
            "[acks]\nper_hour = 1",
        ] {
            assert!(Config::parse(bad, Path::new("/"), None).is_err(), "{bad}");
        }
        let d = Config::parse("", Path::new("/"), None).unwrap();
        assert!(
            d.bounce_mode == BounceMode::Enforce
                && d.bounce_hard_limit == 1
                && d.acks_per_sender_per_hour == 5
        );
        assert_eq!(d.acks_total_per_hour, 100);
        assert!(!d.relay_admin_replies && !d.notify_on_close && d.reopen_within_days.is_none());
        assert_eq!(d.relay_per_hour, 20);
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../examples/config.toml");
        let c = Config::parse(text, Path::new("/etc/mailtix"), None).unwrap();
        assert_eq!(c.addresses.domain, "example.org");
        assert!(!c.admins.is_empty());
    }
}
