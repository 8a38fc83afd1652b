//! The crawl's seen set: for every URL ever admitted, the generation it was
//! last admitted in and whether it is done. It answers "queue this link?"
//! for every link of every page, so it is asked millions of times.
//!
//! It is an [`FpTable`] (`seen.tbl`, next to sled's files), not a sled
//! tree: sled 0.34 keeps a small tree in memory whole whatever its
//! `cache_capacity`. Measured with the 65,536-bucket tree this replaced:
//! 33 MB at 20k queued URLs, 59 MB at 2 M (`bench/crawl_frontier_mem.sh`).
//!
//! The table is derived data. The truth is in sled: a URL is seen when it
//! has a page record (done, with the generation of its fetch, also every
//! URL of its redirect chain) or a frontier entry (queued). Its tag is kept
//! in the database's `meta` tree; a table that is not clean, carries
//! another tag, or cannot be read is rebuilt from sled when the store
//! opens (after a crash: seconds per million pages).
//!
//! Value (8 bytes): generation (u32 LE), state (1 = done), 3 bytes unused.

use std::io;
use std::path::Path;

use super::SeenState;
use super::table::FpTable;

const MAGIC: &[u8; 16] = b"finscan seen v1\0";

/// The seen set's file.
pub struct SeenTable(FpTable<8>);

fn decode(v: &[u8; 8]) -> (u32, SeenState) {
    let generation = u32::from_le_bytes(v[..4].try_into().unwrap_or_default());
    let state = if v[4] == 1 {
        SeenState::Done
    } else {
        SeenState::Queued
    };
    (generation, state)
}

fn encode(generation: u32, state: SeenState) -> [u8; 8] {
    let mut v = [0; 8];
    v[..4].copy_from_slice(&generation.to_le_bytes());
    v[4] = matches!(state, SeenState::Done) as u8;
    v
}

impl SeenTable {
    /// Opens the table at `path` if it is clean and belongs to the database
    /// tagged `tag`; `None` when it must be rebuilt.
    pub fn open(path: &Path, tag: [u8; 16]) -> io::Result<Option<SeenTable>> {
        Ok(FpTable::open(path, MAGIC, tag)?.map(SeenTable))
    }

    /// A new, empty table at `path` (replacing any file there) sized for
    /// `expected` URLs without growing.
    pub fn create(path: &Path, tag: [u8; 16], expected: u64) -> io::Result<SeenTable> {
        FpTable::create(path, MAGIC, tag, expected).map(SeenTable)
    }

    /// URLs in the table.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The generation `fp` was last admitted in, and whether it is done.
    pub fn get(&self, fp: u64) -> io::Result<Option<(u32, SeenState)>> {
        Ok(self.0.get(fp)?.as_ref().map(decode))
    }

    /// Records `fp` as admitted (or done) in `generation`.
    pub fn set(&mut self, fp: u64, generation: u32, state: SeenState) -> io::Result<()> {
        self.0.set(fp, &encode(generation, state))
    }

    /// Like [`SeenTable::set`], but an entry of a later generation, or a
    /// done one of the same generation, is kept (rebuilding from sled, where
    /// the order of the sources is not the order of events).
    pub fn merge(&mut self, fp: u64, generation: u32, state: SeenState) -> io::Result<()> {
        match self.get(fp)? {
            Some((g, s)) if g > generation || (g == generation && s == SeenState::Done) => Ok(()),
            _ => self.set(fp, generation, state),
        }
    }

    /// Marks the table unclean on disk unless it already is (before the
    /// database changes what it derives from).
    pub fn mark_unclean(&mut self) -> io::Result<()> {
        self.0.mark_unclean()
    }

    /// Declares the table to match the database, which the caller has just
    /// flushed.
    pub fn mark_clean(&mut self) -> io::Result<()> {
        self.0.mark_clean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fingerprint;

    const TAG: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn state_and_generation_survive_a_clean_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen");
        let mut t = SeenTable::create(&path, TAG, 10).unwrap();
        t.set(fingerprint("http://a/"), 7, SeenState::Done).unwrap();
        t.set(fingerprint("http://a/q"), 8, SeenState::Queued)
            .unwrap();
        t.mark_clean().unwrap();
        drop(t);
        let t = SeenTable::open(&path, TAG).unwrap().expect("clean");
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.get(fingerprint("http://a/")).unwrap(),
            Some((7, SeenState::Done))
        );
        assert_eq!(
            t.get(fingerprint("http://a/q")).unwrap(),
            Some((8, SeenState::Queued))
        );
        assert_eq!(t.get(fingerprint("http://a/never")).unwrap(), None);
    }

    #[test]
    fn merge_keeps_the_later_generation_and_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = SeenTable::create(&dir.path().join("seen"), TAG, 0).unwrap();
        let fp = fingerprint("http://a/");
        t.merge(fp, 2, SeenState::Done).unwrap();
        t.merge(fp, 1, SeenState::Queued).unwrap();
        t.merge(fp, 2, SeenState::Queued).unwrap();
        assert_eq!(t.get(fp).unwrap(), Some((2, SeenState::Done)));
        t.merge(fp, 3, SeenState::Queued).unwrap();
        assert_eq!(t.get(fp).unwrap(), Some((3, SeenState::Queued)));
    }
}
