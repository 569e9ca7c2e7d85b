//! # mailtix
//!
//! An email-first support-ticket system for one maintainer. Exim's pipe transport runs
//! `mailtix deliver` once per message; every ticket is one mboxrd file that mutt opens.
//! There is no database and no daemon.
//!
//! ## Where a message goes
//! ```text
//! main.rs     args, env, stdin, clock ─────────────► lib::run
//! lib.rs      parse the CLI, load the config, catch panics, pick the exit code
//! deliver.rs  the shell for one message:
//!   envelope.rs  envelope recipient and sender (flag, Exim's env, headers) pure
//!   inbound.rs   header facts (Message-ID, threading, From, loop signs)   pure
//!   address.rs   which of our addresses, strict ticket ids                 pure
//!   route.rs     which ticket: the routing rules, table-tested            pure
//!   mbox.rs      the mboxrd entry (From_ line, quoting, trace block)      pure
//!   headers.rs   every header we write and read back: trace block, loop
//!                marker, our Message-IDs; clean()                         pure
//!   store/       the only fs module for tickets and .mailtix/:
//!     mod.rs       layout, new tickets, counter, secret, safety checks
//!     lock.rs      fcntl + dotlock, append with crash repair, move
//!     index.rs     Message-ID -> ticket shards, the route lookups
//!     records.rs   bounce records, ack and relay allowances, the log line
//!   ── commit point: the message is on disk ──
//!   plan.rs      what goes out for each outcome, table-tested             pure
//!   policy.rs    who gets an ack, who may close, the VERP and reply addresses pure
//!   token.rs     the HMAC tokens and MACs of addresses and Message-IDs    pure
//!   notify.rs    acknowledgement, admin notice, close notice, relay       pure
//!   bounce.rs    reading the bounces of ~75 MTAs; hard or soft as sisimai pure
//!   outbound.rs  sends notices, close notices, relays and runs hooks, each
//!                with its envelope and a result line for the log (also used
//!                by close and reopen)
//!   mailer.rs    sendmail / smtp / file outbox                            the only sender
//!   hooks.rs     the maintainer's commands after an event, with a timeout
//! config.rs   the TOML config, with the queues it declares; trust.rs says whether a
//!             config or template file may be believed
//! admin/      the commands (anyhow): mod.rs show, close, reopen, archive, reindex,
//!             move, template preview; list.rs list and the one printer of tickets
//!             (table and --json, search's too); check.rs; muttrc.rs
//! summary.rs  list summaries and check's problems                         pure
//! thread.rs   a ticket as a decoded thread (MIME, charsets), for show     pure
//! search/     `search`: the query language, the words, a tantivy index under
//!             .mailtix/search/ that each search brings up to date first
//! term.rs     the one filter between admin output and the terminal        pure
//! template.rs the text of the mail mailtix sends: parse, check, render    pure
//! queue.rs    several intake addresses; a ticket's queue; STORE/queues/ for Exim
//! format.rs   the store's format number, `upgrade`, `init`; checked first by every command
//! html/       `mailtix html`: a static archive, incremental; render.rs is pure
//! ops.rs      man pages, completions and ticket ids for the package; selftest,
//!             check --nagios and metrics, which only read the live store
//! ```
//! No module imports another in a cycle: the pure modules at the top of this map
//! import only ones below them in it, or none.
//!
//! A route is decided in [`route::route`]; what is sent for it in `plan::plan`. Each
//! file of `STORE/.mailtix/` is listed, with the module that writes and reads it, in
//! [`store`]'s documentation; all of it but `secret` and `format` can be rebuilt or lost.
//!
//! ## The exit-code contract of `deliver`
//! | code | when | Exim |
//! |---|---|---|
//! | 0  | stored, or already stored | delivered |
//! | 65 | not a mail message (empty, no header section, too large) | bounce |
//! | 67 | not one of our addresses, or no such ticket | bounce |
//! | 75 | anything temporary: locks, I/O, config, usage, a panic | retry |
//!
//! `deliver` prints nothing on stdout and exactly one line on stderr. Nothing after the
//! commit point returns 75, because Exim would retry and store the message twice.
//! The admin commands exit 0, 1 with a one-line reason, or 2 on a usage error;
//! `check --nagios` alone uses the monitoring-plugin codes 0 to 3. The
//! command line is parsed once: help and version exit 0 (`deliver --help` too), and
//! only a bad `deliver` line is 75.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod address;
mod admin;
mod bounce;
mod cli;
pub mod config;
mod deliver;
mod envelope;
mod error;
mod format;
mod headers;
mod hooks;
mod html;
pub mod inbound;
mod mailer;
pub mod mbox;
mod notify;
mod ops;
mod outbound;
mod plan;
mod policy;
mod queue;
pub mod route;
pub mod search;
pub mod store;
pub mod summary;
mod template;
pub mod term;
pub mod thread;
mod token;
mod trust;

use chrono::{DateTime, Utc};
use clap::Parser;
use cli::{AdminCommand, Cli, Command};
use config::Config;
use error::{DeliverError, EX_OK, EX_TEMPFAIL};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// What the outside world gives one run of mailtix.
pub struct Inputs<'a> {
    pub args: Vec<OsString>,
    pub env: HashMap<String, String>,
    pub cwd: PathBuf,
    pub now: DateTime<Utc>,
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// Runs mailtix and returns the process exit code. The command line is parsed once,
/// here; what a refused command line exits with depends on the subcommand it names:
/// help and version are not errors (0), a bad `deliver` line is temporary for Exim
/// (75, one stderr line), and any other usage error is 2.
pub fn run(io: Inputs<'_>) -> u8 {
    match Cli::try_parse_from(&io.args) {
        Ok(Cli {
            config,
            command: Command::Deliver(dargs),
        }) => run_deliver(io, config, dargs),
        Ok(Cli {
            config,
            command: Command::Admin(AdminCommand::Check(a)),
        }) if a.nagios => ops::run_nagios(io, config.as_deref(), &a),
        Ok(Cli {
            config,
            command: Command::Admin(cmd),
        }) => run_admin(io, config, cmd),
        Ok(Cli {
            command: Command::Man(a),
            ..
        }) => run_packaging(io, |out| ops::man(&a.dir, out)),
        Ok(Cli {
            command: Command::Completions(a),
            ..
        }) => run_packaging(io, |out| ops::completions(a.shell, out)),
        Err(e) => refused_command_line(io, &e),
    }
}

fn refused_command_line(io: Inputs<'_>, e: &clap::Error) -> u8 {
    let Inputs {
        args,
        stdout,
        stderr,
        ..
    } = io;
    if !e.use_stderr() {
        let _ = write!(stdout, "{}", e.render());
        let _ = stdout.flush();
        return EX_OK;
    }
    if cli::subcommand_word(&args).is_some_and(|w| w == "deliver") {
        let first = e.to_string();
        let first = first
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        let line = DeliverError::temp(format!("bad command line: {first}"));
        let _ = writeln!(stderr, "mailtix: {}", one_line(&line.to_string()));
        return EX_TEMPFAIL;
    }
    let _ = write!(stderr, "{}", e.render());
    2
}

fn load_config(
    cli_config: Option<&Path>,
    env: &HashMap<String, String>,
    cwd: &Path,
) -> Result<Config, String> {
    let env_store = env.get("MAILTIX_STORE").map(String::as_str);
    let path = cli_config.map(Path::to_path_buf).or_else(|| {
        env.get("MAILTIX_CONFIG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    match path {
        Some(p) => {
            let p = if p.is_absolute() { p } else { cwd.join(p) };
            Config::load(&p, env_store)
        }
        None => Ok(Config::quickstart(env_store, cwd)),
    }
}

fn one_line(s: &str) -> String {
    let s = crate::headers::clean(s);
    if s.len() > 900 {
        let mut end = 900;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{} ...", &s[..end])
    } else {
        s
    }
}

/// `deliver`: every failure becomes one of 65 / 67 / 75 with one stderr line. A panic
/// anywhere in here is caught and becomes 75, because Exim bounces on 101.
fn run_deliver(io: Inputs<'_>, config: Option<PathBuf>, dargs: cli::DeliverArgs) -> u8 {
    let Inputs {
        args: _,
        env,
        cwd,
        now,
        stdin,
        stdout: _,
        stderr,
    } = io;
    store::restrict_umask();
    store::ignore_sigxfsz();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        deliver_inner(config.as_deref(), dargs, &env, &cwd, now, stdin)
    }));
    std::panic::set_hook(previous_hook);
    let (code, line) = match result {
        Ok(Ok(o)) => (
            EX_OK,
            if o.detail.is_empty() {
                format!("mailtix: ticket {}: {}", o.ticket, o.action)
            } else {
                format!("mailtix: ticket {}: {} ({})", o.ticket, o.action, o.detail)
            },
        ),
        Ok(Err(e)) => (e.exit_code(), format!("mailtix: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            (
                EX_TEMPFAIL,
                format!("mailtix: temporary failure, will retry: internal error: {what}"),
            )
        }
    };
    let _ = writeln!(stderr, "{}", one_line(&line));
    code
}

fn deliver_inner(
    config: Option<&Path>,
    dargs: cli::DeliverArgs,
    env: &HashMap<String, String>,
    cwd: &Path,
    now: DateTime<Utc>,
    stdin: &mut dyn Read,
) -> Result<deliver::Outcome, DeliverError> {
    // Test-only, and only in debug builds: the panic path of the exit-code contract.
    if cfg!(debug_assertions) && env.contains_key("MAILTIX_TEST_PANIC") {
        panic!("MAILTIX_TEST_PANIC is set");
    }
    let cfg = load_config(config, env, cwd).map_err(DeliverError::temp)?;
    // Read stdin to the end before anything is committed: Exim counts an exit 0
    // without a full read as delivered.
    let mut raw = Vec::new();
    let limit = cfg.max_message_size.saturating_add(1);
    stdin
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(|e| DeliverError::temp(format!("reading stdin: {e}")))?;
    let store = store::Store::new(&cfg.store).named_by(cfg.source.clone());
    format::admit(&cfg.store).map_err(DeliverError::temp)?;
    queue::sync_if_stale(&cfg);
    let mailer = mailer::ConfiguredMailer(cfg.transport.clone());
    let cx = deliver::Context {
        cfg: &cfg,
        store: &store,
        mailer: &mailer,
        env,
        now,
    };
    let input = deliver::EnvelopeInput {
        recipient: dargs.recipient,
        sender: dargs.sender,
    };
    deliver::deliver(&cx, &input, raw)
}

fn run_admin(io: Inputs<'_>, config: Option<PathBuf>, command: AdminCommand) -> u8 {
    let Inputs {
        args: _,
        env,
        cwd,
        now,
        stdin: _,
        stdout,
        stderr,
    } = io;
    // Everything an admin command prints passes through one filter (see term.rs).
    let mode = match &command {
        AdminCommand::Show(a) if a.raw => term::Mode::Raw,
        AdminCommand::List(a) if a.json => term::Mode::Json,
        AdminCommand::Search(a) if a.json => term::Mode::Json,
        _ => term::Mode::Text,
    };
    let mut stdout = term::Terminal::new(stdout, mode);
    let stdout: &mut dyn Write = &mut stdout;
    let mut stderr = term::Terminal::new(stderr, term::Mode::Text);
    let stderr: &mut dyn Write = &mut stderr;
    let cfg = match load_config(config.as_deref(), &env, &cwd) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(stderr, "mailtix: {}", one_line(&e));
            let _ = stderr.flush();
            return 1;
        }
    };
    if let Err(e) = format::admit(&cfg.store) {
        let _ = writeln!(stderr, "mailtix: {}", one_line(&e));
        return 1;
    }
    let mailer = mailer::ConfiguredMailer(cfg.transport.clone());
    let admin = admin::Admin {
        cfg: &cfg,
        store: store::Store::new(&cfg.store).named_by(cfg.source.clone()),
        now,
        mailer: &mailer,
        env: &env,
        user: env
            .get("USER")
            .or_else(|| env.get("LOGNAME"))
            .cloned()
            .unwrap_or_else(|| "an admin".into()),
    };
    let result = match &command {
        AdminCommand::List(a) => admin.list(a, stdout),
        AdminCommand::Show(a) => admin.show(a, stdout),
        AdminCommand::Close(a) => admin.close_or_reopen(a.id, true, stdout),
        AdminCommand::Reopen(a) => admin.close_or_reopen(a.id, false, stdout),
        AdminCommand::Archive(a) => admin.archive(a, stdout),
        AdminCommand::Check(_) => admin.check(stdout),
        AdminCommand::Reindex => {
            // The search index is derived from the tickets too: rebuilt even when some
            // ticket could not be read, never when the store itself is unusable.
            (|| -> anyhow::Result<()> {
                let unreadable = admin.reindex(stdout)?;
                let n = search::rebuild(&admin)?;
                writeln!(stdout, "rebuilt the search index of {n} tickets")?;
                if !unreadable.is_empty() {
                    anyhow::bail!("{}", unreadable.join("; "));
                }
                Ok(())
            })()
        }
        AdminCommand::Muttrc => admin.muttrc(stdout),
        AdminCommand::Search(a) => search::run(&admin, a, stdout),
        AdminCommand::Init(a) => {
            format::init(&cfg.store, a.user.as_deref(), a.group.as_deref(), stdout)
        }
        AdminCommand::Upgrade(a) => format::upgrade(&cfg.store, a.dry_run, stdout),
        AdminCommand::Ids(a) => ops::ids(&admin.store, a, stdout),
        AdminCommand::Selftest(a) => ops::selftest(&cfg, a, now, stdout),
        AdminCommand::Metrics(a) => ops::metrics(&cfg, &admin.store, a, now, stdout),
        AdminCommand::Move(a) => admin::move_ticket(&admin, a.id, &a.queue, stdout),
        AdminCommand::Template(cli::TemplateCommand::Preview(a)) => {
            admin::template_preview(&admin, &a.name, a.id, stdout)
        }
        AdminCommand::Html(a) => html::build(&cfg, &admin.store, a, &cwd, stdout),
    };
    let flushed = stdout.flush();
    match result.and(flushed.map_err(Into::into)) {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        // search exits as grep: 1 for no match (silently), 2 for a bad query
        Err(e) if matches!(e.downcast_ref(), Some(search::Exit::NoMatch)) => 1,
        Err(e) if matches!(e.downcast_ref(), Some(search::Exit::Usage(_))) => {
            let _ = writeln!(stderr, "mailtix search: {}", one_line(&format!("{e}")));
            let _ = stderr.flush();
            2
        }
        Err(e) => {
            let _ = writeln!(stderr, "mailtix: {}", one_line(&format!("{e:#}")));
            let _ = stderr.flush();
            1
        }
    }
}

/// The packaging commands (man pages, completions) need no config or store.
fn run_packaging(io: Inputs<'_>, f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> u8 {
    let Inputs { stdout, stderr, .. } = io;
    match f(stdout).and_then(|()| stdout.flush().map_err(Into::into)) {
        Ok(()) => 0,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "mailtix: {}", one_line(&format!("{e:#}")));
            1
        }
    }
}

/// `mailtix list | head` ends with a broken pipe, which is not an error (ripgrep).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(ErrorKind::BrokenPipe))
    })
}
