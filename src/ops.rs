//! Running mailtix on a host: the man pages and shell completions a package installs
//! (generated from the clap definitions, so they cannot drift from `--help`), and the
//! ticket numbers the completions offer.

use crate::cli::{Cli, IdsArgs};
use crate::route::State;
use crate::store::Store;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;
use std::path::Path;

/// The commands whose argument is a ticket number, and which tickets each takes.
const ID_COMMANDS: [(&str, &str); 3] = [("show", "--all"), ("close", ""), ("reopen", "--closed")];

/// `man DIR`: mailtix.1 and one page per visible command, as `mailtix-show.1`.
pub fn man(dir: &Path, out: &mut dyn Write) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    clap_mangen::generate_to(Cli::command(), dir).with_context(|| dir.display().to_string())?;
    writeln!(out, "man pages written to {}", dir.display())?;
    Ok(())
}

/// `completions SHELL`: clap_complete's script, plus ticket numbers for `show`,
/// `close` and `reopen`, which it cannot know: they come from `mailtix __ids` at the
/// moment of completion, with the same `--config`/`$MAILTIX_CONFIG` as any command.
pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
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
pub fn ids(store: &Store, a: &IdsArgs, out: &mut dyn Write) -> Result<()> {
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
