//! The Message-ID index: `.mailtix/index/XX`, 256 append-only shards of
//! `MESSAGE-ID<TAB>TICKET` lines, and the route lookups it answers.

use super::*;

/// A Message-ID as an index key: no tabs or newlines.
pub(super) fn index_key(mid: &str) -> String {
    mid.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Store {
    // ---------------------------------------------------------------- index

    fn shard(&self, mid: &str) -> PathBuf {
        let h = crate::mbox::fnv1a(index_key(mid).as_bytes());
        self.state_dir()
            .join("index")
            .join(format!("{:02x}", h >> 56))
    }

    /// Every ticket the index lists for this Message-ID.
    pub fn tickets_of(&self, mid: &str) -> Vec<u32> {
        let key = index_key(mid);
        let Ok(data) = read_nofollow(&self.shard(mid)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in data.split(|&b| b == b'\n') {
            let Some(tab) = line.iter().rposition(|&b| b == b'\t') else {
                continue;
            };
            if &line[..tab] == key.as_bytes()
                && let Some(id) = std::str::from_utf8(&line[tab + 1..])
                    .ok()
                    .and_then(crate::address::parse_id)
            {
                out.push(id);
            }
        }
        out
    }

    /// Records that ticket `id` holds (or mailtix sent, about `id`) this Message-ID.
    /// The index is rebuilt by `reindex`, so it is not fsync'd. The append is made under
    /// the shard's lock, so it never lands in a shard that `reindex` is replacing.
    pub fn index_add(&self, mid: &str, id: u32) -> io::Result<()> {
        let path = self.shard(mid);
        let mut f = lock_shard(&path)?;
        f.write_all(format!("{}\t{id}\n", index_key(mid)).as_bytes())
            .map_err(|e| ctx(path.display(), e))
    }

    /// Merges `entries` (Message-ID, ticket) into the index, for `reindex`. The live
    /// index is never emptied, so deliveries that run meanwhile still find what is
    /// stored: each shard is rewritten under its lock as what it holds plus what was
    /// found, without entries for tickets that no longer exist and without repeats,
    /// and renamed into place. Returns how many entries the index holds.
    pub fn index_merge(&self, entries: &[(String, u32)]) -> io::Result<usize> {
        let mut by_shard: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
        for (mid, id) in entries {
            by_shard
                .entry(self.shard(mid))
                .or_default()
                .push(format!("{}\t{id}", index_key(mid)));
        }
        let dir = self.state_dir().join("index");
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name();
                let is_shard = name.len() == 2
                    && name
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
                if is_shard {
                    by_shard.entry(e.path()).or_default();
                }
            }
        }
        let mut exists: std::collections::HashMap<u32, bool> = Default::default();
        let mut total = 0;
        for (path, found) in by_shard {
            let mut f = lock_shard(&path)?;
            let mut current = String::new();
            f.read_to_string(&mut current)
                .map_err(|e| ctx(path.display(), e))?;
            let mut seen = std::collections::HashSet::new();
            let mut text = String::new();
            for line in current.lines().chain(found.iter().map(String::as_str)) {
                let Some(id) = line
                    .rsplit_once('\t')
                    .and_then(|(_, id)| crate::address::parse_id(id))
                else {
                    continue;
                };
                let live = *exists.entry(id).or_insert_with(|| self.state(id).is_some());
                if live && seen.insert(line) {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            total += seen.len();
            write_replace(&path, text.as_bytes())?;
            drop(f);
        }
        Ok(total)
    }
}

impl Lookup for Store {
    fn state(&self, id: u32) -> Option<State> {
        Store::state(self, id)
    }
    fn ticket_of(&self, mid: &str) -> Option<u32> {
        self.tickets_of(mid)
            .into_iter()
            .find(|&id| self.state(id).is_some())
    }
    fn message_id_key(&self) -> Option<Vec<u8>> {
        self.secret().ok()
    }
    fn tickets_of_batch(&self, mids: &[&str]) -> Vec<Option<u32>> {
        let keys: Vec<String> = mids.iter().map(|m| index_key(m)).collect();
        let mut by_shard: std::collections::HashMap<PathBuf, Vec<usize>> = Default::default();
        for (i, m) in mids.iter().enumerate() {
            by_shard.entry(self.shard(m)).or_default().push(i);
        }
        let mut found: Vec<Vec<u32>> = vec![Vec::new(); mids.len()];
        for (shard, wanted) in by_shard {
            let Ok(data) = read_nofollow(&shard) else {
                continue;
            };
            let mut index: std::collections::HashMap<&[u8], Vec<usize>> = Default::default();
            for &i in &wanted {
                index.entry(keys[i].as_bytes()).or_default().push(i);
            }
            for line in data.split(|&b| b == b'\n') {
                let Some(tab) = line.iter().rposition(|&b| b == b'\t') else {
                    continue;
                };
                if let Some(is) = index.get(&line[..tab])
                    && let Some(id) = std::str::from_utf8(&line[tab + 1..])
                        .ok()
                        .and_then(crate::address::parse_id)
                {
                    for &i in is {
                        found[i].push(id);
                    }
                }
            }
        }
        found
            .into_iter()
            .map(|ids| ids.into_iter().find(|&id| self.state(id).is_some()))
            .collect()
    }
}

/// Opens an index shard for appending and takes its flock. `reindex` replaces shards by
/// rename while holding the lock, so after waiting for it the path may name a new
/// file: then the lock is on a file nobody reads any more, and we open again.
pub(super) fn lock_shard(path: &Path) -> io::Result<File> {
    loop {
        let f = open_private(
            path,
            OpenOptions::new().read(true).append(true).create(true),
        )?;
        fs2::FileExt::lock_exclusive(&f).map_err(|e| ctx(path.display(), e))?;
        let held = f.metadata()?;
        match fs::symlink_metadata(path) {
            Ok(m) if m.ino() == held.ino() && m.dev() == held.dev() => return Ok(f),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ctx(path.display(), e)),
        }
    }
}
