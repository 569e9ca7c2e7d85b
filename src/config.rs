//! The TOML config. `parse` is pure; `load` reads the file. With no config file at all,
//! `Config::quickstart` gives the built-in defaults that SPEC promises: the store is
//! `$MAILTIX_STORE` or `./tickets`, the domain is `localhost`, and outgoing mail is
//! written into `STORE/.mailtix/outbox`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file as written. Every field is optional; `Config` holds the resolved values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The ticket directory; relative paths are resolved against the config's directory.
    store: Option<PathBuf>,
    /// The mail domain mailtix answers for.
    domain: Option<String>,
    /// The maintainer's own addresses: they get notices and may close tickets by mail.
    admins: Option<Vec<String>>,
    /// Local part that opens new tickets.
    support: Option<String>,
    /// Local-part prefix of ticket addresses (`ticket-` gives `ticket-12@`).
    ticket_prefix: Option<String>,
    /// Local-part suffix of close addresses (`-close` gives `ticket-12-close@`).
    close_suffix: Option<String>,
    /// Subject tag word (`issue` gives `[issue12]`).
    subject_tag: Option<String>,
    /// Seconds to wait for a ticket lock before failing temporarily.
    lock_timeout: Option<u64>,
    /// Seconds after which a dotlock with no live writer is removed.
    stale_lock: Option<u64>,
    /// Largest message accepted, in bytes; larger input exits 65.
    max_message_size: Option<u64>,
    /// When true, the close address carries a token derived from a secret.
    close_token: Option<bool>,
    /// How mail goes out.
    mail: Option<RawMail>,
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
    pub domain: String,
    /// Lowercased admin addresses.
    pub admins: Vec<String>,
    pub support: String,
    pub ticket_prefix: String,
    pub close_suffix: String,
    pub subject_tag: String,
    pub lock_timeout_secs: u64,
    pub stale_lock_secs: u64,
    pub max_message_size: u64,
    pub close_token: bool,
    pub transport: Transport,
    /// Where the config came from, for `check` and messages.
    pub source: Option<PathBuf>,
}

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
        let cfg = Config {
            store,
            domain: domain.to_ascii_lowercase(),
            admins,
            support: raw
                .support
                .unwrap_or_else(|| "support".into())
                .to_ascii_lowercase(),
            ticket_prefix: raw
                .ticket_prefix
                .unwrap_or_else(|| "ticket-".into())
                .to_ascii_lowercase(),
            close_suffix: raw
                .close_suffix
                .unwrap_or_else(|| "-close".into())
                .to_ascii_lowercase(),
            subject_tag: raw.subject_tag.unwrap_or_else(|| "issue".into()),
            lock_timeout_secs: raw.lock_timeout.unwrap_or(20),
            stale_lock_secs: raw.stale_lock.unwrap_or(300),
            max_message_size: raw.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            close_token: raw.close_token.unwrap_or(false),
            transport,
            source: None,
        };
        check_word("support", &cfg.support)?;
        check_word("ticket_prefix", &cfg.ticket_prefix)?;
        check_word("subject_tag", &cfg.subject_tag)?;
        if cfg.close_suffix.is_empty() {
            return Err("close_suffix must not be empty".into());
        }
        check_word("close_suffix", &cfg.close_suffix)?;
        if cfg.lock_timeout_secs == 0 || cfg.lock_timeout_secs > 600 {
            return Err("lock_timeout must be between 1 and 600 seconds".into());
        }
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path, env_store: Option<&str>) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
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
        Ok(cfg)
    }

    /// True when `addr` (any case) is one of the admins.
    pub fn is_admin(&self, addr: &str) -> bool {
        let addr = addr.trim().to_ascii_lowercase();
        self.admins.contains(&addr)
    }

    /// `ticket-N@DOMAIN`.
    pub fn ticket_address(&self, id: u32) -> String {
        format!("{}{id}@{}", self.ticket_prefix, self.domain)
    }

    /// `support@DOMAIN`.
    pub fn support_address(&self) -> String {
        format!("{}@{}", self.support, self.domain)
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
        assert_eq!(c.domain, "localhost");
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
    fn the_example_config_parses() {
        let text = include_str!("../examples/config.toml");
        let c = Config::parse(text, Path::new("/etc/mailtix"), None).unwrap();
        assert_eq!(c.domain, "example.org");
        assert!(!c.admins.is_empty());
    }
}
