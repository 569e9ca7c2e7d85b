//! `list`: the summaries (through the summary cache) and the one printer of tickets,
//! which `search` uses too.

use super::*;

impl Admin<'_> {
    /// Summaries of every ticket in `states`, newest activity first. Tickets whose file
    /// is unchanged since the last call come from `.mailtix/summaries`; only changed
    /// ones are read and parsed, and the cache is then rewritten (best effort).
    pub(super) fn summaries<'a>(
        &self,
        states: &[State],
        cached_text: &'a str,
    ) -> Vec<(Summary<'a>, Option<String>)> {
        let bouncing = self
            .store
            .bouncing_addresses(self.cfg.bounce_hard_limit, self.now.timestamp());
        let mut cache: std::collections::HashMap<(u32, State), (Summary<'a>, u64, u128)> =
            cached_text
                .lines()
                .filter_map(summary::from_cache_line)
                .map(|(s, size, t)| ((s.id, s.state), (s, size, t)))
                .collect();
        let mut dirty = false;
        let mut out = Vec::new();
        // The file stamp of each readable ticket, in the order of `out`'s Ok entries.
        let mut stamps: Vec<Option<(u64, u128)>> = Vec::new();
        for &st in states {
            for (id, stamp) in self.store.stamps(st) {
                let hit = match (cache.remove(&(id, st)), stamp) {
                    (Some((s, size, t)), Some((size2, t2))) if size == size2 && t == t2 => Some(s),
                    _ => None,
                };
                let r = match hit {
                    Some(s) => Ok(s),
                    None => {
                        dirty = true;
                        self.store
                            .read(id, st)
                            .map_err(|e| e.to_string())
                            .and_then(|d| summary::summarize(id, st, &d))
                    }
                };
                match r {
                    Ok(mut s) => {
                        stamps.push(stamp);
                        s.requester_bounces = bouncing.contains(&s.requester.to_ascii_lowercase());
                        out.push((s, None));
                    }
                    Err(e) => out.push((
                        Summary {
                            id,
                            state: st,
                            subject: Default::default(),
                            requester: Default::default(),
                            messages: 0,
                            created: Default::default(),
                            updated: Default::default(),
                            requester_bounces: false,
                            queue: Default::default(),
                            updated_at: None,
                        },
                        Some(e),
                    )),
                }
            }
        }
        // A cached ticket of a listed state that is gone makes the cache stale too.
        let listed = |state: State| states.contains(&state);
        dirty |= cache.values().any(|(s, _, _)| listed(s.state));
        if dirty {
            let mut fresh = String::with_capacity(cached_text.len() + 4096);
            let ok = out.iter().filter(|(_, e)| e.is_none());
            for ((s, _), stamp) in ok.zip(stamps.iter()) {
                if let Some((size, t)) = stamp {
                    fresh.push_str(&summary::cache_line(s, *size, *t));
                }
            }
            // Keep the other state's entries when only one state was listed.
            for (s, size, t) in cache.values().filter(|(s, _, _)| !listed(s.state)) {
                fresh.push_str(&summary::cache_line(s, *size, *t));
            }
            let _ = self.store.write_summaries(&fresh);
        }
        // Sort small keys, then move each summary once (sorting 100,000 large
        // elements directly spends most of its time copying them).
        let mut order: Vec<(Option<DateTime<Utc>>, u32, usize)> = out
            .iter()
            .enumerate()
            .map(|(i, (s, _))| (s.updated_at, s.id, i))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut slots: Vec<Option<(Summary<'a>, Option<String>)>> =
            out.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|(_, _, i)| slots[i].take())
            .collect()
    }

    /// `list`.
    pub fn list(&self, args: &ListArgs, out: &mut dyn Write) -> Result<()> {
        self.safe_store()?;
        let states: &[State] = if args.all {
            &[State::Open, State::Closed]
        } else if args.closed {
            &[State::Closed]
        } else {
            &[State::Open]
        };
        let cached = self.store.read_summaries().unwrap_or_default();
        let mut rows = self.summaries(states, &cached);
        crate::queue::filter_rows(self.cfg, args.queue.as_deref(), &mut rows)?;
        let show_queue = crate::queue::several(self.cfg)
            || rows.iter().any(|(s, _)| s.queue != crate::config::SUPPORT);
        let bad: Vec<String> = rows
            .iter()
            .filter_map(|(s, e)| e.as_ref().map(|e| format!("ticket {}: {e}", s.id)))
            .collect();
        if args.json {
            print_json(
                out,
                rows.iter().filter(|(_, e)| e.is_none()).map(|(s, _)| s),
            )?;
        } else {
            let shown: Vec<&Summary<'_>> = rows
                .iter()
                .filter(|(_, e)| e.is_none())
                .map(|(s, _)| s)
                .collect();
            print_tickets(out, &shown, show_queue, &|_| String::new())?;
        }
        if !bad.is_empty() {
            bail!("{} unreadable: {}", bad.len(), bad.join("; "));
        }
        Ok(())
    }
}

/// The tickets as `--json` prints them, for `list` and `search`: an array with one
/// object per line, readable, and cheap for 100,000 tickets.
pub(crate) fn print_json<T: serde::Serialize>(
    out: &mut dyn Write,
    tickets: impl Iterator<Item = T>,
) -> Result<()> {
    write!(out, "[")?;
    for (i, t) in tickets.enumerate() {
        write!(out, "{}\n  ", if i == 0 { "" } else { "," })?;
        serde_json::to_writer(&mut *out, &t)?;
    }
    writeln!(out, "\n]")?;
    Ok(())
}

/// The one printer of tickets, for `list` and `search`: `list`'s columns, with QUEUE
/// before SUBJECT when `queue` is set (the subject, last, is never padded), and the
/// line `after(i)`, when not empty, under row `i`.
pub(crate) fn print_tickets(
    out: &mut dyn Write,
    tickets: &[&Summary<'_>],
    queue: bool,
    after: &dyn Fn(usize) -> String,
) -> Result<()> {
    let mut head = vec!["ID", "STATE", "UPDATED (UTC)", "MSGS", "REQUESTER"];
    if queue {
        head.push("QUEUE");
    }
    head.push("SUBJECT");
    let rows: Vec<Vec<String>> = tickets
        .iter()
        .map(|s| {
            let mut row = vec![
                s.id.to_string(),
                s.state.as_str().to_string(),
                s.updated_at
                    .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                s.messages.to_string(),
                if s.requester_bounces {
                    format!("{} (bounces)", s.requester)
                } else {
                    s.requester.to_string()
                },
            ];
            if queue {
                row.push(s.queue.to_string());
            }
            row.push(s.subject.to_string());
            row
        })
        .collect();
    print_columns(out, &head, &rows, after)
}

/// Prints rows with aligned columns (the last one not padded), with the line
/// `after(i)`, when not empty, under row `i`.
fn print_columns(
    out: &mut dyn Write,
    head: &[&str],
    rows: &[Vec<String>],
    after: &dyn Fn(usize) -> String,
) -> Result<()> {
    let n = head.len();
    // Widths are measured on what the terminal filter (term.rs) will let through.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| crate::term::clean(c)).collect())
        .collect();
    let rows = &rows[..];
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count().min(60));
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == n {
                s.push_str(c);
            } else {
                let c: String = c.chars().take(60).collect();
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for (i, r) in rows.iter().enumerate() {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
        let extra = after(i);
        if !extra.is_empty() {
            writeln!(out, "{extra}")?;
        }
    }
    Ok(())
}
