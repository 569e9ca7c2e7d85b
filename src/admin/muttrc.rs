//! `muttrc`: the folder-hooks that make mutt answer from each ticket's address.

use super::*;

impl Admin<'_> {
    /// `muttrc`: mutt commands, sourced by a `folder-hook .` on every folder change.
    /// They reset From and Cc, then add one folder-hook per ticket that sets both to
    /// the ticket's address. Hooks added while hooks run still run in the same pass,
    /// so the current folder is covered even if its ticket is newer than mutt. mutt
    /// matches the folder path as typed, so the hooks match the store's path, its real
    /// path, and relative forms ending in `STORE_NAME/N`.
    pub fn muttrc(&self, out: &mut dyn Write) -> Result<()> {
        let root = self.store.root();
        let mut prefixes = vec![root.display().to_string()];
        if let Ok(real) = std::fs::canonicalize(root) {
            prefixes.push(real.display().to_string());
        }
        let mut alternatives: Vec<String> = Vec::new();
        for p in &prefixes {
            match mutt_regex_literal(p.trim_end_matches('/')) {
                Some(r) => alternatives.push(format!("{r}/")),
                None => bail!("the store path {p:?} has characters mutt hooks cannot match"),
            }
        }
        if let Some(name) = root
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(mutt_regex_literal)
        {
            alternatives.push(format!("(^|/){name}/"));
        }
        alternatives.push("^([.]/)?".into());
        alternatives.dedup();
        let base = alternatives.join("|");
        writeln!(out, "unmy_hdr From Cc")?;
        let mut ids: Vec<u32> = self.store.ids(State::Open);
        ids.extend(self.store.ids(State::Closed));
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let addr = self.cfg.ticket_address(id);
            writeln!(
                out,
                "folder-hook '(({base})(archived/)?{id})$' 'my_hdr From: {addr}; my_hdr Cc: {addr}; macro index,pager \\eC \"<sync-mailbox><shell-escape>mailtix close {id}<enter><change-folder>{root}/archived/{id}<enter>\" \"close ticket {id}\"'",
                root = root.display(),
            )?;
        }
        Ok(())
    }
}

/// A literal path as a mutt regex: metacharacters become one-character classes.
/// `None` for characters that cannot be written safely inside a quoted mutt command.
fn mutt_regex_literal(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '.' | '*' | '+' | '?' | '(' | ')' | '{' | '}' | '|' | '$' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            '\\' | ']' | '^' | '\'' | '"' | '`' | '\n' | '\r' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}
