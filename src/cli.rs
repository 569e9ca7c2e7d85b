//! The command line (clap derive). Doc comments are the `--help` text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// An email-first support-ticket system: Exim pipes mail in, each ticket is one mbox file.
#[derive(Debug, Parser)]
#[command(name = "mailtix", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Config file [default: $MAILTIX_CONFIG; with neither, built-in quickstart defaults]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommand an argument list asks for, as clap will see it: the first argument
/// that is neither an option nor the value of `--config`. Used to pick the exit code of
/// a command line that clap refuses, so `mailtix --config deliver list` is not taken
/// for `deliver`.
pub(crate) fn subcommand_word(args: &[std::ffi::OsString]) -> Option<&std::ffi::OsStr> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            return it.next().map(|a| a.as_os_str());
        } else if s == "--config" {
            it.next();
        } else if !s.starts_with('-') || s == "-" {
            return Some(a.as_os_str());
        }
    }
    None
}

/// A ticket id: a positive number without leading zeros.
fn ticket_id(s: &str) -> Result<u32, String> {
    crate::address::parse_id(s).ok_or_else(|| format!("{s:?} is not a ticket number"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read one message on stdin and file it (what Exim's pipe transport runs).
    ///
    /// Exits 0 (stored, or already stored), 65 (not a mail message), 67 (not our
    /// address, or no such ticket) or 75 (temporary failure: Exim retries).
    Deliver(DeliverArgs),
    #[command(flatten)]
    Admin(AdminCommand),
    /// Write the man pages into DIR: mailtix.1 and one page per command (for packaging).
    #[command(hide = true)]
    Man(ManArgs),
    /// Print the shell completion script for SHELL on stdout (for packaging).
    #[command(hide = true)]
    Completions(CompletionsArgs),
}

/// The commands a person runs: exit 0, 1 with a one-line reason, or 2 on a usage error.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// List tickets, newest activity first.
    List(ListArgs),
    /// Show a ticket's thread readably, or its raw mbox bytes.
    Show(ShowArgs),
    /// Close a ticket: move it to archived/ and record the change in it.
    Close(IdArgs),
    /// Reopen a closed ticket.
    Reopen(IdArgs),
    /// Close every open ticket with no message for DAYS days.
    Archive(ArchiveArgs),
    /// Check the config and the store; exit 1 with reasons if anything is wrong.
    ///
    /// With --nagios, a monitoring plugin instead: one line with perfdata, exit 0 (OK),
    /// 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN); it only reads.
    Check(CheckArgs),
    /// Rebuild the Message-ID index, the id counter and the search index from the mbox files.
    Reindex,
    /// Find tickets whose messages match a query (open tickets unless --all or --closed).
    ///
    /// Prints one line per ticket, as `list` does, and under it a snippet of the first
    /// matching message with the match in [brackets]. Exits 0 when a ticket matched, 1
    /// when none did, 2 on a bad query. Matching is on the decoded text that `show`
    /// prints (MIME, charsets, HTML as text, text attachments), ignoring case and
    /// accents; Chinese and Japanese words are found too. A message matches when all
    /// of the query holds for it; a ticket matches when one of its messages does.
    ///
    /// Query language (the words of QUERY are joined by spaces):
    ///
    ///   printer fire        both words (in the subject, body, From or an attachment name)
    ///   '"on fire"'         the words in this order (quote the quotes for the shell)
    ///   -toner              must not match;  NOT toner  is the same
    ///   a OR b, (a OR b) c  either; parentheses group
    ///   from:ann  to:  cc:  addresses and display names
    ///   subject:x  s:x      the subject;  body:x  b:x  the text
    ///   attachment:log.txt  n:log  an attachment's file name
    ///   id:<msgid@host>     a Message-ID;  ticket:42  one ticket;  queue:sales
    ///   is:open  is:closed  the ticket's state (either one makes the search cover both)
    ///   is:bounced          the requester's address bounces
    ///   is:waiting          the newest message is not from an admin
    ///   date:2026-01-01..2026-03-31  date:30d..  date:..2025-12-31  date:2026-02-03
    ///                       the Date of the message (UTC days; Nd, Nw, Nm, Ny ago)
    ///
    /// An unknown prefix (`foo:`) is a usage error; quote it to search for the text.
    /// The index lives in STORE/.mailtix/search/; each search first reads the tickets
    /// that changed since the last one, and `reindex` rebuilds it.
    #[command(verbatim_doc_comment)]
    Search(SearchArgs),
    /// Print mutt commands that make replies from a ticket folder come from, and copy,
    /// ticket-N@ (see muttrc.sample: `folder-hook . 'source "mailtix muttrc |"'`).
    Muttrc,
    /// Create the store (mode 2770, with archived/), unless it exists; an existing
    /// store is left as it is.
    Init(InitArgs),
    /// Bring the store to the format this mailtix writes; safe while mail arrives.
    Upgrade(UpgradeArgs),
    /// Print ticket numbers, one a line (what the shell completions call).
    #[command(name = "__ids", hide = true)]
    Ids(IdsArgs),
    /// Smoke-test this host with the live config, in a temporary store.
    ///
    /// Delivers test mail through this binary into a temporary store (the live store,
    /// transport and hooks are not used), and asks Exim with -bt how it routes
    /// support@ and an unknown ticket. Prints PASS or FAIL per step; exit 1 on a FAIL.
    Selftest(SelftestArgs),
    /// Write mailtix.prom into DIR for node_exporter's textfile collector.
    Metrics(MetricsArgs),
    /// Write a static HTML archive of the tickets into OUTDIR (only what changed).
    ///
    /// OUTDIR/index.html lists the open tickets, closed/ the closed ones, feed.atom the
    /// latest activity; OUTDIR/N/ holds ticket N's page, its mbox and its attachments.
    /// Files are 0640 and directories 0750: serve it behind HTTP authentication.
    Html(HtmlArgs),
    /// Move a ticket to another queue, and record the move in it.
    Move(MoveArgs),
    /// Work with the templates of the mail mailtix sends.
    #[command(subcommand)]
    Template(TemplateCommand),
}

#[derive(Debug, Args)]
pub(crate) struct MoveArgs {
    /// Ticket number.
    #[arg(value_parser = ticket_id)]
    pub id: u32,
    /// The queue's name, as in [[queues]] (or support).
    pub queue: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplateCommand {
    /// Print the mail that template NAME would send for ticket N, as it would go out.
    ///
    /// NAME is ack, notice, close, refused-close or relay-footer. The ticket's queue picks the
    /// templates; a template file that is missing or refused gives the built-in text.
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    /// ack, notice, close, refused-close or relay-footer.
    pub name: String,
    /// Ticket number.
    #[arg(value_parser = ticket_id)]
    pub id: u32,
}

#[derive(Debug, Args)]
pub(crate) struct DeliverArgs {
    /// Envelope recipient [default: $RECIPIENT, then $LOCAL_PART@$DOMAIN, then headers]
    #[arg(long, value_name = "ADDR")]
    pub recipient: Option<String>,
    /// Envelope sender; empty means a bounce [default: $SENDER, then Return-Path]
    #[arg(long, value_name = "ADDR")]
    pub sender: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Open and closed tickets.
    #[arg(long, conflicts_with = "closed")]
    pub all: bool,
    /// Only closed tickets.
    #[arg(long)]
    pub closed: bool,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only the tickets of this queue.
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Open and closed tickets.
    #[arg(long, conflicts_with = "closed")]
    pub all: bool,
    /// Only closed tickets.
    #[arg(long)]
    pub closed: bool,
    /// One JSON array: `list --json`'s fields, plus `matches` and `snippet`.
    #[arg(long)]
    pub json: bool,
    /// At most N tickets (the most recently active).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Also write every matching message of those tickets into FILE, a new mbox
    /// (replaced if it exists), for `mutt -R -f FILE`.
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<std::path::PathBuf>,
    /// The query (see above).
    #[arg(required = true, allow_hyphen_values = true, value_name = "QUERY")]
    pub query: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Ticket number.
    #[arg(value_parser = ticket_id)]
    pub id: u32,
    /// Print the mbox file as it is.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// Ticket number.
    #[arg(value_parser = ticket_id)]
    pub id: u32,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Close tickets whose newest message is at least this many days old (0: all).
    #[arg(long, value_name = "DAYS")]
    pub idle: u32,
    /// Only print what would be closed.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Act as a Nagios/Icinga plugin (read-only): one status line, perfdata after `|`.
    #[arg(long)]
    pub nagios: bool,
    /// WARNING when more than N open tickets wait for an answer.
    #[arg(long, value_name = "N", requires = "nagios")]
    pub warning_waiting: Option<u64>,
    /// CRITICAL when more than N open tickets wait for an answer.
    #[arg(long, value_name = "N", requires = "nagios")]
    pub critical_waiting: Option<u64>,
    /// WARNING when the longest-waiting ticket has waited more than HOURS.
    #[arg(long, value_name = "HOURS", requires = "nagios")]
    pub warning_age: Option<u64>,
    /// CRITICAL when the longest-waiting ticket has waited more than HOURS.
    #[arg(long, value_name = "HOURS", requires = "nagios")]
    pub critical_age: Option<u64>,
    /// WARNING when more than N deliveries failed or were deferred in the last hour.
    #[arg(long, value_name = "N", requires = "nagios", default_value_t = 0)]
    pub warning_failed: u64,
    /// CRITICAL when more than N deliveries failed or were deferred in the last hour.
    #[arg(long, value_name = "N", requires = "nagios", default_value_t = 10)]
    pub critical_failed: u64,
    /// WARNING when more than N messages are in the outbox (file transport).
    #[arg(long, value_name = "N", requires = "nagios")]
    pub warning_outbox: Option<u64>,
    /// CRITICAL when more than N messages are in the outbox (file transport).
    #[arg(long, value_name = "N", requires = "nagios")]
    pub critical_outbox: Option<u64>,
    /// WARNING when the store's file system has less than this many MiB free.
    #[arg(long, value_name = "MIB", requires = "nagios", default_value_t = 1024)]
    pub warning_free: u64,
    /// CRITICAL when the store's file system has less than this many MiB free.
    #[arg(long, value_name = "MIB", requires = "nagios", default_value_t = 100)]
    pub critical_free: u64,
    /// Exim's main log, where failed and deferred deliveries to mailtix are counted.
    #[arg(long, value_name = "FILE", default_value = "/var/log/exim4/mainlog")]
    pub exim_log: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SelftestArgs {
    /// The Exim binary for the routing test [default: exim4 or exim on PATH].
    #[arg(long, value_name = "PATH")]
    pub exim: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct MetricsArgs {
    /// node_exporter's textfile directory; mailtix.prom is replaced atomically.
    #[arg(long, value_name = "DIR")]
    pub textfile: PathBuf,
    /// Exim's main log, where failed and deferred deliveries to mailtix are counted.
    #[arg(long, value_name = "FILE", default_value = "/var/log/exim4/mainlog")]
    pub exim_log: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct HtmlArgs {
    /// The archive directory (created when missing; must be outside the store).
    pub outdir: PathBuf,
    /// Closed tickets too: always the case, accepted so the line reads like `list --all`.
    #[arg(long)]
    pub all: bool,
    /// For a public archive: mask every address as user@…, and leave out the mbox files
    /// and the attachments.
    #[arg(long)]
    pub public: bool,
    /// Only ticket N changed since the last run (a hook passes "$MAILTIX_TICKET"): only
    /// it is read, not every ticket. Without a usable state, the whole store is read.
    #[arg(long, value_name = "N", value_parser = ticket_id)]
    pub ticket: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write the pages into (created when missing).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// bash, zsh or fish.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Owner of the new store, a name or a number [default: whoever runs init].
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Group of the new store [default: the user's group].
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct UpgradeArgs {
    /// Only print the steps that would run.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IdsArgs {
    /// Only closed tickets (those `reopen` takes).
    #[arg(long, conflicts_with = "all")]
    pub closed: bool,
    /// Open and closed tickets.
    #[arg(long)]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_subcommand_word_skips_options_and_the_config_value() {
        let word = |args: &[&str]| {
            let v: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            subcommand_word(&v).map(|w| w.to_string_lossy().into_owned())
        };
        assert_eq!(
            word(&["mailtix", "deliver", "--bogus"]).as_deref(),
            Some("deliver")
        );
        assert_eq!(
            word(&["mailtix", "--config", "deliver", "list"]).as_deref(),
            Some("list")
        );
        assert_eq!(
            word(&["mailtix", "--config=c", "deliver"]).as_deref(),
            Some("deliver")
        );
        assert_eq!(
            word(&["mailtix", "list", "deliver"]).as_deref(),
            Some("list")
        );
        assert_eq!(word(&["mailtix", "--bogus"]), None);
    }

    #[test]
    fn ids_are_strict_on_the_command_line() {
        assert!(Cli::try_parse_from(["mailtix", "show", "012"]).is_err());
        assert!(Cli::try_parse_from(["mailtix", "close", "../1"]).is_err());
        assert!(Cli::try_parse_from(["mailtix", "show", "12"]).is_ok());
    }
}
