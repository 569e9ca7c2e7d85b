//! `check`: every problem of the store, the config and the templates, one per line,
//! repairing what a crash left.

use super::*;

impl Admin<'_> {
    /// `check`: every problem found, one per line; an error when there are any.
    pub fn check(&self, out: &mut dyn Write) -> Result<()> {
        let mut problems: Vec<String> = Vec::new();
        let root = self.store.root();
        crate::format::report(root, out)?;
        // Finish or undo a new ticket and appends that a crash interrupted: taking the
        // new-ticket lock repairs the first, locking a ticket repairs the others.
        if root.is_dir() {
            // A delivery killed while it set the store up leaves some of it missing.
            // Nothing is repaired through a link: the problems below report it.
            if self.store.safety_problems().is_empty() && self.store.write_problems().is_empty() {
                if let Err(e) = self.store.init() {
                    problems.push(e.to_string());
                }
                match self.store.repair_new_tickets() {
                    Ok(done) => {
                        for d in done {
                            writeln!(out, "repaired: {d}")?;
                        }
                    }
                    Err(e) => problems.push(format!("interrupted new ticket not repaired: {e}")),
                }
            }
        }
        let safe =
            self.store.safety_problems().is_empty() && self.store.write_problems().is_empty();
        for id in self.store.pending_ids().into_iter().filter(|_| safe) {
            match self.store.lock(id, self.policy()) {
                Ok(_) => writeln!(out, "repaired: ticket {id} had an interrupted append")?,
                Err(e) => {
                    problems.push(format!("ticket {id}: interrupted append not repaired: {e}"))
                }
            }
        }
        match std::fs::metadata(root) {
            Err(_) if self.store.missing_root().is_some() => {
                problems.extend(self.store.missing_root())
            }
            Err(e) => problems.push(format!("store {}: {e}", root.display())),
            Ok(_) => {
                problems.extend(self.store.safety_problems());
                problems.extend(self.store.write_problems());
                problems.extend(self.store.secret_problem());
                for st in [State::Open, State::Closed] {
                    for id in self.store.ids(st) {
                        let meta = match self.store.metadata(id, st) {
                            Ok(m) => m,
                            Err(e) => {
                                problems.push(format!("ticket {id}: {e}"));
                                continue;
                            }
                        };
                        use std::os::unix::fs::MetadataExt;
                        if meta.file_type().is_symlink() {
                            problems.push(format!("ticket {id} is a symlink"));
                            continue;
                        }
                        if meta.nlink() > 1 {
                            problems.push(format!("ticket {id} has {} hard links", meta.nlink()));
                        }
                        if meta.mode() & 0o002 != 0 {
                            problems.push(format!("ticket {id} is world-writable"));
                        }
                        if self.store.state(id) == Some(State::Open)
                            && st == State::Open
                            && self.store.metadata(id, State::Closed).is_ok()
                        {
                            problems.push(format!("ticket {id} is both open and archived"));
                        }
                        match self.store.read(id, st) {
                            Ok(d) => {
                                for p in summary::problems(&d) {
                                    problems.push(format!("ticket {id}: {p}"));
                                }
                            }
                            Err(e) => problems.push(format!("ticket {id}: {e}")),
                        }
                    }
                }
                let stale = Duration::from_secs(self.cfg.stale_lock_secs);
                for (path, age) in self.store.leftovers() {
                    if age > stale || path.parent().is_some_and(|p| p.ends_with("pending")) {
                        problems.push(format!(
                            "leftover {} ({}s old)",
                            path.display(),
                            age.as_secs()
                        ));
                    }
                }
                if let Ok(mode) = store::mode_of(root)
                    && mode & 0o007 != 0
                {
                    writeln!(
                        out,
                        "note: {} is accessible to others (mode {:o})",
                        root.display(),
                        mode & 0o777
                    )?;
                }
            }
        }
        crate::queue::check(self.cfg, &mut problems, out)?;
        if let crate::config::Transport::Sendmail(p) = &self.cfg.transport
            && !p.exists()
        {
            problems.push(format!("mail.sendmail {} does not exist", p.display()));
        }
        if problems.is_empty() {
            writeln!(out, "ok: config and store {} are healthy", root.display())?;
            Ok(())
        } else {
            for p in &problems {
                writeln!(out, "problem: {p}")?;
            }
            bail!("{} problem(s) found", problems.len())
        }
    }
}
