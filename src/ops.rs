//! Running mailtix on a host: the man pages and shell completions a package installs
//! (generated from the clap definitions, so they cannot drift from `--help`), and the
//! ticket numbers the completions offer.

use crate::cli::{CheckArgs, Cli, IdsArgs, MetricsArgs, SelftestArgs};
use crate::config::{Config, Transport};
use crate::route::State;
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The commands whose argument is a ticket number, and which tickets each takes.
const ID_COMMANDS: [(&str, &str); 3] = [("show", "--all"), ("close", ""), ("reopen", "--closed")];

/// `man DIR`: mailtix.1 and one page per visible command, as `mailtix-show.1`.
pub(crate) fn man(dir: &Path, out: &mut dyn Write) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    clap_mangen::generate_to(Cli::command(), dir).with_context(|| dir.display().to_string())?;
    writeln!(out, "man pages written to {}", dir.display())?;
    Ok(())
}

/// `completions SHELL`: clap_complete's script, plus ticket numbers for `show`,
/// `close` and `reopen`, which it cannot know: they come from `mailtix __ids` at the
/// moment of completion, with the same `--config`/`$MAILTIX_CONFIG` as any command.
pub(crate) fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    // clap_complete offers hidden commands too: complete a copy without them.
    let full = Cli::command();
    let mut cmd = clap::Command::new("mailtix")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mailtix", &mut script);
    let mut script = String::from_utf8(script).context("the completion script")?;
    if shell != Shell::Zsh {
        out.write_all(script.as_bytes())?;
    }
    let ids = |sub: &str| {
        ID_COMMANDS
            .iter()
            .find(|(c, _)| *c == sub)
            .map(|(_, flag)| *flag)
            .unwrap_or("")
    };
    match shell {
        Shell::Bash => write!(
            out,
            r#"
# Ticket numbers for show, close and reopen, from the store itself.
_mailtix_with_ids() {{
    local i sub= cfg=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            --config) cfg=(--config "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
            -*) ;;
            *) sub=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    local cur=${{COMP_WORDS[COMP_CWORD]}}
    if [[ $cur != -* && $i -eq $((COMP_CWORD - 1)) ]]; then
        local flag=
        case "$sub" in
            show) flag={show} ;;
            close) flag={close} ;;
            reopen) flag={reopen} ;;
            *) _mailtix "$@"; return ;;
        esac
        COMPREPLY=($(compgen -W "$(mailtix "${{cfg[@]}}" __ids $flag 2>/dev/null)" -- "$cur"))
        return
    fi
    _mailtix "$@"
}}
complete -F _mailtix_with_ids -o bashdefault -o default mailtix
"#,
            show = ids("show"),
            close = ids("close"),
            reopen = ids("reopen"),
        )?,
        Shell::Zsh => {
            // zsh: the ticket number's argument spec gets a function that asks the
            // store, defined before the script's last lines run the completion.
            let plain = "':id -- Ticket number:_default'";
            anyhow::ensure!(
                script.contains(plain),
                "no ticket argument in the zsh script"
            );
            script = script.replace(plain, "':id -- Ticket number:_mailtix_ids'");
            let tail = script
                .rfind("\nif [ \"$funcstack[1]\" = \"_mailtix\" ]")
                .context("no end in the zsh script")?;
            out.write_all(&script.as_bytes()[..tail])?;
            write!(
                out,
                r#"
# Ticket numbers for show, close and reopen, from the store itself.
_mailtix_ids() {{
    local -a ids cfg
    local i
    for ((i = 2; i < CURRENT; i++)); do
        [[ ${{words[i]}} == --config ]] && cfg=(--config "${{words[i+1]}}")
    done
    case "${{words[(r)show|close|reopen]}}" in
        show) ids=(${{(f)"$(mailtix $cfg __ids {show} 2>/dev/null)"}}) ;;
        reopen) ids=(${{(f)"$(mailtix $cfg __ids {reopen} 2>/dev/null)"}}) ;;
        *) ids=(${{(f)"$(mailtix $cfg __ids {close} 2>/dev/null)"}}) ;;
    esac
    compadd -a ids
}}
"#,
                show = ids("show"),
                close = ids("close"),
                reopen = ids("reopen"),
            )?;
            out.write_all(&script.as_bytes()[tail..])?;
        }
        Shell::Fish => {
            for (sub, flag) in ID_COMMANDS {
                writeln!(
                    out,
                    "complete -c mailtix -n '__fish_seen_subcommand_from {sub}' -f -a '(mailtix __ids {flag} 2>/dev/null)'"
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `__ids`: ticket numbers, sorted, one a line: open ones, or closed, or all.
pub(crate) fn ids(store: &Store, a: &IdsArgs, out: &mut dyn Write) -> Result<()> {
    let mut ids = Vec::new();
    if !a.closed {
        ids.extend(store.ids(State::Open));
    }
    if a.closed || a.all {
        ids.extend(store.ids(State::Closed));
    }
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        writeln!(out, "{id}")?;
    }
    Ok(())
}

// ------------------------------------------------------------------ monitoring

/// What monitoring reads from a store. It only reads: no repair, no cache update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Health {
    pub format: u32,
    pub open: u64,
    pub closed: u64,
    /// Open tickets whose newest mail is not from an admin.
    pub waiting: u64,
    /// How long the longest-waiting of them has waited, in seconds.
    pub oldest_waiting_secs: u64,
    /// Crash-repair records left over (`.mailtix/pending/`).
    pub pending: u64,
    /// Failed or deferred deliveries to mailtix in the last hour, from Exim's log;
    /// None when the log cannot be read.
    pub failed_1h: Option<u64>,
    /// Messages in the outbox of the file transport.
    pub outbox: u64,
    /// Bytes free to mailtix on the store's file system.
    pub free_bytes: Option<u64>,
}

/// Reads the store's state for `check --nagios` and `metrics`.
pub(crate) fn health(
    cfg: &Config,
    store: &Store,
    now: DateTime<Utc>,
    exim_log: &Path,
) -> Result<Health> {
    let format = crate::format::admit(store.root()).map_err(anyhow::Error::msg)?;
    std::fs::metadata(store.root()).with_context(|| format!("store {}", store.root().display()))?;
    let open_ids = store.ids(State::Open);
    let mut waiting = 0;
    let mut oldest = 0u64;
    for &id in &open_ids {
        let Ok(data) = store.read(id, State::Open) else {
            continue;
        };
        if let Some(since) = waiting_since(cfg, &data) {
            waiting += 1;
            oldest = oldest.max(now.signed_duration_since(since).num_seconds().max(0) as u64);
        }
    }
    let outbox = match &cfg.transport {
        Transport::File(dir) => std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count() as u64
            })
            .unwrap_or(0),
        _ => 0,
    };
    Ok(Health {
        format,
        open: open_ids.len() as u64,
        closed: store.ids(State::Closed).len() as u64,
        waiting,
        oldest_waiting_secs: oldest,
        pending: store.pending_ids().len() as u64,
        failed_1h: failed_deliveries(exim_log, now),
        outbox,
        free_bytes: fs2::available_space(store.root()).ok(),
    })
}

/// When the requester's unanswered mail arrived, if the newest mail in the ticket is
/// not from an admin (notes such as close and reopen records are not mail).
pub(crate) fn waiting_since(cfg: &Config, data: &[u8]) -> Option<DateTime<Utc>> {
    let entries = crate::mbox::read(data).ok()?;
    let last = entries
        .iter()
        .rev()
        .find(|e| !crate::summary::is_note(&e.message))?;
    let head_end = last
        .message
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(last.message.len(), |p| p + 1);
    let from = mail_parser::MessageParser::default()
        .parse_headers(&last.message[..head_end])
        .and_then(|m| {
            m.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string)
        })
        .unwrap_or_else(|| last.from_line.split(' ').next().unwrap_or("").to_string());
    if cfg.is_admin(&from) || crate::queue::is_any_admin(cfg, &from) {
        return None;
    }
    crate::summary::from_line_date(&last.from_line)
}

/// Deliveries to mailtix that Exim logged as failed (`**`) or deferred (`==`) in the
/// hour before `now`. Exim writes its log in local time. Only the log's last 8 MiB are
/// read, which holds far more than an hour on a host this size.
fn failed_deliveries(log: &Path, now: DateTime<Utc>) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(8 << 20);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let since = (now - chrono::Duration::hours(1))
        .with_timezone(&chrono::Local)
        .naive_local();
    let text = String::from_utf8_lossy(&buf);
    let mut n = 0;
    for line in text.lines() {
        if !line.contains("T=mailtix_pipe") {
            continue;
        }
        let words: Vec<&str> = line.splitn(6, ' ').collect();
        // DATE TIME [PID] ID FLAG ...: the pid is there with log_selector +pid.
        let skip = usize::from(words.get(2).is_some_and(|w| w.starts_with('[')));
        let (Some(d), Some(t), Some(flag)) = (words.first(), words.get(1), words.get(3 + skip))
        else {
            continue;
        };
        if *flag != "**" && *flag != "==" {
            continue;
        }
        let Ok(at) =
            chrono::NaiveDateTime::parse_from_str(&format!("{d} {t}"), "%Y-%m-%d %H:%M:%S")
        else {
            continue;
        };
        if at >= since {
            n += 1;
        }
    }
    Some(n)
}

/// `check --nagios`: the monitoring-plugin contract. One line on stdout, perfdata
/// after `|`, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (mailtix could not look).
pub(crate) fn run_nagios(io: crate::Inputs<'_>, config: Option<&Path>, a: &CheckArgs) -> u8 {
    let crate::Inputs {
        env,
        cwd,
        now,
        stdout,
        ..
    } = io;
    let (code, line) = match crate::load_config(config, &env, &cwd) {
        Err(e) => (3, format!("MAILTIX UNKNOWN - {e}")),
        Ok(cfg) => {
            let store = Store::new(&cfg.store);
            match health(&cfg, &store, now, &a.exim_log) {
                Err(e) => (3, format!("MAILTIX UNKNOWN - {e:#}")),
                Ok(h) => nagios_line(&h, a),
            }
        }
    };
    let _ = writeln!(stdout, "{}", crate::headers::clean(&line));
    let _ = stdout.flush();
    code
}

/// The status and the line for `h` under the thresholds in `a`.
pub(crate) fn nagios_line(h: &Health, a: &CheckArgs) -> (u8, String) {
    let mut code = 0u8;
    let mut why: Vec<String> = Vec::new();
    let mut judge = |value: u64, warn: Option<u64>, crit: Option<u64>, what: String, low: bool| {
        // As in the plugin guidelines' ranges: "N" alerts above N, "N:" below N.
        let hit = |t: Option<u64>| t.is_some_and(|t| if low { value < t } else { value > t });
        if hit(crit) {
            code = code.max(2);
            why.push(what);
        } else if hit(warn) {
            code = code.max(1);
            why.push(what);
        }
    };
    let hours = h.oldest_waiting_secs / 3600;
    judge(
        h.waiting,
        a.warning_waiting,
        a.critical_waiting,
        format!("{} waiting", h.waiting),
        false,
    );
    judge(
        hours,
        a.warning_age,
        a.critical_age,
        format!("oldest waiting {hours}h"),
        false,
    );
    if let Some(f) = h.failed_1h {
        judge(
            f,
            Some(a.warning_failed),
            Some(a.critical_failed),
            format!("{f} failed deliveries in the last hour"),
            false,
        );
    }
    judge(
        h.outbox,
        a.warning_outbox,
        a.critical_outbox,
        format!("{} in the outbox", h.outbox),
        false,
    );
    if let Some(free) = h.free_bytes {
        let mib = free >> 20;
        judge(
            mib,
            Some(a.warning_free),
            Some(a.critical_free),
            format!("{mib} MiB free"),
            true,
        );
    }
    if h.pending > 0 {
        code = code.max(1);
        why.push(format!(
            "{} interrupted appends (mailtix check repairs them)",
            h.pending
        ));
    }
    let status = ["OK", "WARNING", "CRITICAL"][code as usize];
    let summary = if why.is_empty() {
        format!(
            "{} open, {} waiting, oldest waiting {hours}h",
            h.open, h.waiting
        )
    } else {
        why.join(", ")
    };
    let t = |o: Option<u64>| o.map(|v| v.to_string()).unwrap_or_default();
    let perf = format!(
        "open={};;;0 waiting={};{};{};0 oldest_waiting_hours={hours};{};{};0 pending_appends={};1;;0 deliveries_failed_1h={};{};{};0 outbox_backlog={};{};{};0 store_free_bytes={}B;{}:;{}:;0",
        h.open,
        h.waiting,
        t(a.warning_waiting),
        t(a.critical_waiting),
        t(a.warning_age),
        t(a.critical_age),
        h.pending,
        h.failed_1h
            .map(|f| f.to_string())
            .unwrap_or_else(|| "U".into()),
        a.warning_failed,
        a.critical_failed,
        h.outbox,
        t(a.warning_outbox),
        t(a.critical_outbox),
        h.free_bytes
            .map(|f| f.to_string())
            .unwrap_or_else(|| "U".into()),
        a.warning_free << 20,
        a.critical_free << 20,
    );
    (code, format!("MAILTIX {status} - {summary} | {perf}"))
}

/// `metrics --textfile DIR`: DIR/mailtix.prom for node_exporter, written to a temp
/// file in DIR and renamed, so the collector never reads half a file.
pub(crate) fn metrics(
    cfg: &Config,
    store: &Store,
    a: &MetricsArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<()> {
    let h = health(cfg, store, now, &a.exim_log)?;
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, value: Option<u64>| {
        if let Some(v) = value {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        }
    };
    gauge(
        "mailtix_store_format",
        "The format number of the store.",
        Some(h.format.into()),
    );
    gauge("mailtix_open_tickets", "Open tickets.", Some(h.open));
    gauge(
        "mailtix_closed_tickets",
        "Closed (archived) tickets.",
        Some(h.closed),
    );
    gauge(
        "mailtix_waiting_tickets",
        "Open tickets whose newest mail is not from an admin.",
        Some(h.waiting),
    );
    gauge(
        "mailtix_oldest_waiting_seconds",
        "How long the longest-waiting ticket has waited.",
        Some(h.oldest_waiting_secs),
    );
    gauge(
        "mailtix_pending_appends",
        "Crash-repair records left over; mailtix check repairs them.",
        Some(h.pending),
    );
    gauge(
        "mailtix_deliveries_failed_last_hour",
        "Deliveries to mailtix that Exim logged as failed or deferred in the last hour.",
        h.failed_1h,
    );
    gauge(
        "mailtix_outbox_messages",
        "Messages in the outbox of the file transport.",
        Some(h.outbox),
    );
    gauge(
        "mailtix_store_free_bytes",
        "Bytes free on the store's file system.",
        h.free_bytes,
    );
    gauge(
        "mailtix_metrics_time_seconds",
        "When these metrics were written.",
        u64::try_from(now.timestamp()).ok(),
    );
    let dir = &a.textfile;
    let tmp = dir.join(format!(".mailtix.prom.{}", std::process::id()));
    let dest = dir.join("mailtix.prom");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &dest)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(dest.display().to_string()));
    }
    writeln!(out, "wrote {}", dest.display())?;
    Ok(())
}

// ------------------------------------------------------------------ selftest

/// `selftest`: the live config, a temporary store, the real binary, and Exim's view of
/// the addresses. The live store is only ever looked at by Exim's own routing test.
pub(crate) fn selftest(
    cfg: &Config,
    a: &SelftestArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut failed = 0usize;
    let mut passed = 0usize;
    let mut step = |out: &mut dyn Write, ok: bool, what: String| -> Result<bool> {
        writeln!(out, "{} {what}", if ok { "PASS" } else { "FAIL" })?;
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        Ok(ok)
    };
    let source = cfg
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults (no config file)".into());
    step(
        out,
        true,
        format!(
            "config {source} loads (domain {}, store {})",
            cfg.addresses.domain,
            cfg.store.display()
        ),
    )?;

    let tmp = std::env::temp_dir().join(format!(
        "mailtix-selftest.{}.{}",
        std::process::id(),
        now.timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .with_context(|| tmp.display().to_string())?;
    let result = selftest_in(cfg, a, now, &tmp, out, &mut step);
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    writeln!(out, "selftest: {passed} passed, {failed} failed")?;
    anyhow::ensure!(failed == 0, "{failed} selftest step(s) failed");
    Ok(())
}

type Step<'a> = dyn FnMut(&mut dyn Write, bool, String) -> Result<bool> + 'a;

fn selftest_in(
    cfg: &Config,
    a: &SelftestArgs,
    now: DateTime<Utc>,
    tmp: &Path,
    out: &mut dyn Write,
    step: &mut Step<'_>,
) -> Result<()> {
    // The live config with the store, the mail transport and the hooks replaced: test
    // mail goes into an outbox in the temp directory, and no hook runs.
    let mut table: toml::Table = match &cfg.source {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| p.display().to_string())?
            .parse()
            .context("the config")?,
        None => toml::Table::new(),
    };
    let store = tmp.join("store");
    let outbox = tmp.join("outbox");
    table.insert("store".into(), store.display().to_string().into());
    table.insert("domain".into(), cfg.addresses.domain.clone().into());
    table.remove("hooks");
    // Template directories as the live config resolves them (it may name them
    // relative to its own directory, which the temporary config is not in).
    if let Some(d) = &cfg.templates_dir {
        table.insert("templates_dir".into(), d.display().to_string().into());
    }
    if let Some(toml::Value::Array(queues)) = table.get_mut("queues") {
        for q in queues.iter_mut().filter_map(toml::Value::as_table_mut) {
            let name = q
                .get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_ascii_lowercase);
            let dir = name
                .and_then(|n| crate::queue::find(cfg, n.trim()))
                .and_then(|q| q.templates_dir.as_ref());
            if let Some(d) = dir {
                q.insert("templates_dir".into(), d.display().to_string().into());
            }
        }
    }
    let mut mail = toml::Table::new();
    mail.insert("transport".into(), "file".into());
    mail.insert("outbox".into(), outbox.display().to_string().into());
    table.insert("mail".into(), mail.into());
    // The operator makes the store root (deliver never does): here selftest is that
    // operator.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&store)
        .with_context(|| store.display().to_string())?;
    let config = tmp.join("config.toml");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&config)?
        .write_all(toml::to_string(&table)?.as_bytes())?;
    step(
        out,
        true,
        format!(
            "temporary store {} (the live store is not touched)",
            store.display()
        ),
    )?;

    let bin = std::env::current_exe().context("finding the mailtix binary")?;
    let deliver = |rcpt: &str, body: &str| -> Result<(i32, String)> {
        let mut child = std::process::Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args([
                "deliver",
                "--recipient",
                rcpt,
                "--sender",
                "selftest@example.invalid",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running mailtix deliver")?;
        let msg = format!(
            "From: mailtix selftest <selftest@example.invalid>\nTo: {rcpt}\nSubject: mailtix selftest\nDate: {}\nMessage-ID: <selftest.{}.{}@example.invalid>\n\n{body}\n",
            now.to_rfc2822(),
            std::process::id(),
            body.len(),
        );
        child.stdin.take().map(|mut s| s.write_all(msg.as_bytes()));
        let o = child.wait_with_output()?;
        Ok((
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ))
    };
    let support = cfg.support_address();
    let (code, line) = deliver(&support, "A new ticket, made by mailtix selftest.")?;
    step(
        out,
        code == 0 && store.join("1").is_file(),
        format!("deliver to {support}: exit {code}, ticket 1 ({line})"),
    )?;
    let acks = std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    step(
        out,
        acks > 0,
        format!("acknowledgement written ({acks} in the temporary outbox)"),
    )?;
    let t1 = cfg.ticket_address(1);
    let (code, line) = deliver(&t1, "A follow-up.")?;
    let n = std::fs::read(store.join("1"))
        .ok()
        .and_then(|d| crate::mbox::read(&d).ok())
        .map_or(0, |e| e.len());
    step(
        out,
        code == 0 && n == 2,
        format!("deliver to {t1}: exit {code}, {n} messages ({line})"),
    )?;
    let unknown = cfg.ticket_address(999_999);
    let (code, _) = deliver(&unknown, "No such ticket.")?;
    step(
        out,
        code == 67,
        format!("deliver to {unknown}: exit {code} (67 expected: no such ticket)"),
    )?;

    let exim = a.exim.clone().or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .flat_map(|d| [d.join("exim4"), d.join("exim")])
                .find(|p| p.is_file())
        })
    });
    match exim {
        None => writeln!(
            out,
            "SKIP exim -bt: no exim4 or exim on PATH (--exim PATH names one)"
        )?,
        Some(exim) => {
            let bt = |addr: &str| -> (bool, String) {
                match std::process::Command::new(&exim)
                    .args(["-bt", addr])
                    .output()
                {
                    Ok(o) => (
                        o.status.success(),
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        ),
                    ),
                    Err(e) => (false, e.to_string()),
                }
            };
            let (ok, text) = bt(&support);
            step(
                out,
                ok && text.contains("transport = mailtix_pipe"),
                format!("{} -bt {support}: {}", exim.display(), first_words(&text)),
            )?;
            let (ok, text) = bt(&unknown);
            step(
                out,
                !ok && text.contains("no such ticket"),
                format!("{} -bt {unknown}: {}", exim.display(), first_words(&text)),
            )?;
            // Each queue address, through STORE/queues/ of the live store.
            for q in cfg.queues.iter().skip(1) {
                let addr = format!("{}@{}", q.address, cfg.addresses.domain);
                let (ok, text) = bt(&addr);
                step(
                    out,
                    ok && text.contains("transport = mailtix_pipe"),
                    format!(
                        "{} -bt {addr} (queue {}): {}",
                        exim.display(),
                        q.name,
                        first_words(&text)
                    ),
                )?;
            }
        }
    }
    if crate::queue::several(cfg) {
        let in_step = crate::queue::in_step(cfg);
        step(
            out,
            matches!(in_step, Ok(true)),
            match in_step {
                Ok(true) => format!(
                    "{}/queues/ lists the config's queue addresses",
                    cfg.store.display()
                ),
                Ok(false) => format!(
                    "{}/queues/ is out of step with the config: run `mailtix check`",
                    cfg.store.display()
                ),
                Err(e) => format!("{}/queues/: {e}", cfg.store.display()),
            },
        )?;
    }
    Ok(())
}

/// Exim's answer in one short line.
fn first_words(text: &str) -> String {
    let one = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(160).collect()
}
