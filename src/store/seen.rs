//! The crawl's seen set: for every URL ever admitted, the generation it was
//! last admitted in and whether it is done. It answers "queue this link?"
//! for every link of every page, so it is asked millions of times.
//!
//! It lives in a file of its own next to sled's, not in a sled tree, because
//! sled 0.34 keeps a small tree in memory whole whatever its
//! `cache_capacity`: its LRU is 256 shards that account page accesses in
//! batches of 64, so up to ~16,000 leaves (16 keys each) stay cached before
//! anything is evicted. Measured with the 65,536-bucket layout this file
//! replaces: 33 MB at 20k queued URLs, 59 MB at 2 M (`bench/crawl_frontier_mem.sh`).
//! A hash table read and written with `pread`/`pwrite` keeps nothing in the
//! process: the kernel's page cache holds what is hot.
//!
//! The table is derived data. The truth is in sled: a URL is seen when it
//! has a page record (done, with the generation of its fetch, also every
//! URL of its redirect chain) or a frontier entry (queued). The header says
//! whether the file matches the database:
//! * `clean` is written only after sled was flushed and the table synced,
//!   and cleared (and synced) before the next change;
//! * `tag` is a random value kept in the database's `meta` tree, so a table
//!   left from another database is not believed.
//!
//! A table that is not clean, carries another tag, or cannot be read is
//! rebuilt from sled when the store opens (after a crash: seconds per
//! million pages).
//!
//! Layout: a 64-byte header, then `slots` 16-byte slots (open addressing,
//! linear probing): fingerprint (u64 LE, 0 = empty), generation (u32 LE),
//! state (1 = done), 3 bytes unused. The table doubles at 60 % load.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::SeenState;

const MAGIC: &[u8; 16] = b"finscan seen v1\0";
const HEADER: u64 = 64;
const SLOT: usize = 16;
/// Slots of a new, empty table (1 MiB).
const MIN_SLOTS: u64 = 1 << 16;
/// Slots read at once while probing.
const WINDOW: usize = 8;

/// The seen set's file.
pub struct SeenTable {
    file: File,
    path: PathBuf,
    tag: [u8; 16],
    slots: u64,
    used: u64,
    /// The header on disk says "clean": it must be cleared before a change.
    clean_on_disk: bool,
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(f: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_write(buf, at)?;
        buf = &buf[n..];
        at += n as u64;
    }
    Ok(())
}

fn decode(slot: &[u8]) -> (u64, u32, SeenState) {
    let fp = u64::from_le_bytes(slot[..8].try_into().unwrap_or_default());
    let generation = u32::from_le_bytes(slot[8..12].try_into().unwrap_or_default());
    let state = if slot[12] == 1 {
        SeenState::Done
    } else {
        SeenState::Queued
    };
    (fp, generation, state)
}

fn encode(fp: u64, generation: u32, state: SeenState) -> [u8; SLOT] {
    let mut s = [0; SLOT];
    s[..8].copy_from_slice(&fp.to_le_bytes());
    s[8..12].copy_from_slice(&generation.to_le_bytes());
    s[12] = matches!(state, SeenState::Done) as u8;
    s
}

impl SeenTable {
    /// Opens the table at `path` if it is clean and belongs to the database
    /// tagged `tag`; `None` when it must be rebuilt (absent, unclean, from
    /// another database, or unreadable). A table opened is marked unclean
    /// on disk before its first change.
    pub fn open(path: &Path, tag: [u8; 16]) -> io::Result<Option<SeenTable>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut h = [0u8; HEADER as usize];
        if read_at(&file, &mut h, 0).is_err() {
            return Ok(None);
        }
        let slots = u64::from_le_bytes(h[16..24].try_into().unwrap_or_default());
        let used = u64::from_le_bytes(h[24..32].try_into().unwrap_or_default());
        let len = file.metadata()?.len();
        let sound = &h[..16] == MAGIC
            && h[48] == 1
            && h[32..48] == tag
            && slots.is_power_of_two()
            && slots >= MIN_SLOTS
            && used < slots
            && len == HEADER + slots * SLOT as u64;
        if !sound {
            return Ok(None);
        }
        Ok(Some(SeenTable {
            file,
            path: path.to_owned(),
            tag,
            slots,
            used,
            clean_on_disk: true,
        }))
    }

    /// A new, empty table at `path` (replacing any file there) sized for
    /// `expected` URLs without growing.
    pub fn create(path: &Path, tag: [u8; 16], expected: u64) -> io::Result<SeenTable> {
        let slots = Self::slots_for(expected);
        let file = Self::new_file(path, tag, slots)?;
        Ok(SeenTable {
            file,
            path: path.to_owned(),
            tag,
            slots,
            used: 0,
            clean_on_disk: false,
        })
    }

    fn slots_for(urls: u64) -> u64 {
        // at most half full once `urls` are in
        urls.saturating_mul(2)
            .max(MIN_SLOTS)
            .checked_next_power_of_two()
            .unwrap_or(1 << 62)
    }

    /// A zeroed file of `slots` slots with an unclean header.
    fn new_file(path: &Path, tag: [u8; 16], slots: u64) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        // sparse: the slots read as zeros (empty) until written
        file.set_len(HEADER + slots * SLOT as u64)?;
        write_at(&file, &Self::header(tag, slots, 0, false), 0)?;
        Ok(file)
    }

    fn header(tag: [u8; 16], slots: u64, used: u64, clean: bool) -> [u8; HEADER as usize] {
        let mut h = [0u8; HEADER as usize];
        h[..16].copy_from_slice(MAGIC);
        h[16..24].copy_from_slice(&slots.to_le_bytes());
        h[24..32].copy_from_slice(&used.to_le_bytes());
        h[32..48].copy_from_slice(&tag);
        h[48] = clean as u8;
        h
    }

    /// URLs in the table.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.used
    }

    /// The slot holding `fp`, or the empty slot where it would go, and what
    /// is there.
    fn probe(&self, fp: u64) -> io::Result<(u64, Option<(u32, SeenState)>)> {
        let mask = self.slots - 1;
        let mut i = fp & mask;
        let mut buf = [0u8; SLOT * WINDOW];
        loop {
            // a window never runs past the end of the table
            let n = WINDOW.min((self.slots - i) as usize);
            let window = &mut buf[..n * SLOT];
            read_at(&self.file, window, HEADER + i * SLOT as u64)?;
            for (k, slot) in window.chunks_exact(SLOT).enumerate() {
                let (f, generation, state) = decode(slot);
                if f == 0 {
                    return Ok((i + k as u64, None));
                }
                if f == fp {
                    return Ok((i + k as u64, Some((generation, state))));
                }
            }
            // the load is kept below 60 %, so an empty slot always comes
            i = (i + n as u64) & mask;
        }
    }

    /// The generation `fp` was last admitted in, and whether it is done.
    pub fn get(&self, fp: u64) -> io::Result<Option<(u32, SeenState)>> {
        Ok(self.probe(fp)?.1)
    }

    /// Records `fp` as admitted (or done) in `generation`.
    pub fn set(&mut self, fp: u64, generation: u32, state: SeenState) -> io::Result<()> {
        self.mark_unclean()?;
        let (at, old) = self.probe(fp)?;
        if old == Some((generation, state)) {
            return Ok(());
        }
        write_at(
            &self.file,
            &encode(fp, generation, state),
            HEADER + at * SLOT as u64,
        )?;
        if old.is_none() {
            self.used += 1;
            if self.used * 5 > self.slots * 3 {
                self.grow()?;
            }
        }
        Ok(())
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

    /// Marks the table unclean on disk (synced) unless it already is: before
    /// a change to it, and before the database changes what it derives from.
    pub fn mark_unclean(&mut self) -> io::Result<()> {
        if self.clean_on_disk {
            self.write_header(false)?;
        }
        Ok(())
    }

    /// Declares the table to match the database, which the caller has just
    /// flushed: the slots are synced before the header says so.
    pub fn mark_clean(&mut self) -> io::Result<()> {
        if !self.clean_on_disk {
            self.file.sync_data()?;
            self.write_header(true)?;
        }
        Ok(())
    }

    /// Writes and syncs the header saying whether the table is clean.
    fn write_header(&mut self, clean: bool) -> io::Result<()> {
        let h = Self::header(self.tag, self.slots, self.used, clean);
        write_at(&self.file, &h, 0)?;
        self.file.sync_data()?;
        self.clean_on_disk = clean;
        Ok(())
    }

    /// Twice the slots: every entry is copied into a new file, which then
    /// replaces this one (a crash in between leaves an unclean table either
    /// way, rebuilt at the next open).
    fn grow(&mut self) -> io::Result<()> {
        let slots = self.slots * 2;
        let tmp = self.path.with_extension("grow");
        let mut bigger = SeenTable {
            file: Self::new_file(&tmp, self.tag, slots)?,
            path: self.path.clone(),
            tag: self.tag,
            slots,
            used: 0,
            clean_on_disk: false,
        };
        const CHUNK: u64 = 4096;
        let mut buf = vec![0u8; CHUNK as usize * SLOT];
        let mut i = 0;
        while i < self.slots {
            let n = CHUNK.min(self.slots - i);
            let part = &mut buf[..n as usize * SLOT];
            read_at(&self.file, part, HEADER + i * SLOT as u64)?;
            for slot in part.chunks_exact(SLOT) {
                let fp = decode(slot).0;
                if fp != 0 {
                    let (at, _) = bigger.probe(fp)?;
                    write_at(&bigger.file, slot, HEADER + at * SLOT as u64)?;
                    bigger.used += 1;
                }
            }
            i += n;
        }
        // the old file is closed (by the assignment) before the new one
        // takes its name: Windows refuses to replace a file held open
        *self = bigger;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fingerprint;

    const TAG: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn set_get_and_grow_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen");
        let mut t = SeenTable::create(&path, TAG, 0).unwrap();
        let n = 100_000u64; // past 60 % of 65,536 slots: grows once
        for i in 0..n {
            let state = if i % 3 == 0 {
                SeenState::Done
            } else {
                SeenState::Queued
            };
            t.set(fingerprint(&format!("http://a/{i}")), (i % 7) as u32, state)
                .unwrap();
        }
        assert_eq!(t.len(), n);
        assert!(t.slots > MIN_SLOTS);
        for i in 0..n {
            let state = if i % 3 == 0 {
                SeenState::Done
            } else {
                SeenState::Queued
            };
            assert_eq!(
                t.get(fingerprint(&format!("http://a/{i}"))).unwrap(),
                Some(((i % 7) as u32, state)),
                "url {i}"
            );
        }
        assert_eq!(t.get(fingerprint("http://a/never")).unwrap(), None);
        // overwriting keeps the count
        t.set(fingerprint("http://a/1"), 9, SeenState::Done)
            .unwrap();
        assert_eq!(t.len(), n);
        assert_eq!(
            t.get(fingerprint("http://a/1")).unwrap(),
            Some((9, SeenState::Done))
        );
    }

    #[test]
    fn only_a_clean_table_of_the_same_database_is_believed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen");
        let mut t = SeenTable::create(&path, TAG, 10).unwrap();
        t.set(fingerprint("http://a/"), 1, SeenState::Done).unwrap();
        drop(t);
        // never marked clean: a crash
        assert!(SeenTable::open(&path, TAG).unwrap().is_none());

        let mut t = SeenTable::create(&path, TAG, 10).unwrap();
        t.set(fingerprint("http://a/"), 1, SeenState::Done).unwrap();
        t.mark_clean().unwrap();
        drop(t);
        assert!(
            SeenTable::open(&path, *b"another database")
                .unwrap()
                .is_none()
        );
        let mut t = SeenTable::open(&path, TAG).unwrap().expect("clean");
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.get(fingerprint("http://a/")).unwrap(),
            Some((1, SeenState::Done))
        );
        // the first change clears the clean mark on disk
        t.set(fingerprint("http://a/2"), 1, SeenState::Queued)
            .unwrap();
        assert!(SeenTable::open(&path, TAG).unwrap().is_none());
        drop(t);

        // a cut or garbled file is not believed
        std::fs::write(&path, b"finscan seen v1\0 short").unwrap();
        assert!(SeenTable::open(&path, TAG).unwrap().is_none());
        assert!(
            SeenTable::open(&dir.path().join("absent"), TAG)
                .unwrap()
                .is_none()
        );
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
