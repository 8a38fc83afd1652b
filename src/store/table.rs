//! A hash table in a file, keyed by 64-bit fingerprints
//! ([`super::fingerprint`]) with a fixed-size value per key, read and
//! written with `pread`/`pwrite` so that nothing of it is held in the
//! process: the kernel's page cache holds what is hot. An owner with memory
//! to spare ([`FpTable::hold_in_memory`]) keeps a small table in memory, or
//! a larger one's fingerprints alone, so that probing makes no system call.
//!
//! Why not a sled tree: sled 0.34 keeps a tree of fewer than ~16,000 leaves
//! in memory whole whatever its `cache_capacity` (its LRU is 256 shards
//! that account page accesses in batches of 64), and every random insert
//! costs a node copy and a log write. The crawl's seen set and the registry
//! index are asked once per link or per record, millions of times.
//!
//! A table is derived data: the truth is in sled, and the owner rebuilds
//! the table from it when the header does not say the file matches:
//! * `clean` is written only after sled was flushed and the table synced,
//!   and cleared (and synced) before the next change;
//! * `tag` is a random value the owner keeps in the database, so a table
//!   left from another database is not believed.
//!
//! Layout: a 64-byte header (magic, slots, used, tag, clean), then `slots`
//! slots of 8 + `V` bytes (open addressing, linear probing): fingerprint
//! (u64 LE, 0 = empty) and the value. The table doubles at 60 % load.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

const HEADER: u64 = 64;
/// Slots of a new, empty table.
const MIN_SLOTS: u64 = 1 << 16;
/// Slots read at once while probing.
const WINDOW: usize = 8;
/// Slots read or written at once when the whole table is.
const CHUNK: u64 = 4096;
/// The largest value a table holds (bounds the probe buffer).
const MAX_VALUE: usize = 56;

/// A table of `V`-byte values keyed by fingerprint; `magic` names the
/// format (and so the value size) in the header.
pub struct FpTable<const V: usize> {
    file: File,
    path: PathBuf,
    magic: &'static [u8; 16],
    tag: [u8; 16],
    slots: u64,
    used: u64,
    /// The header on disk says "clean": it must be cleared before a change.
    clean_on_disk: bool,
    /// The slots, when held in memory ([`FpTable::hold_in_memory`]): read
    /// and changed here, written to the file when marked clean.
    mem: Option<Vec<u8>>,
    /// Hold the slots in memory while they take at most this many bytes.
    mem_max: u64,
    /// When the slots are not held but their fingerprints fit in `mem_max`
    /// (8 bytes a slot instead of 8 + V): each slot's fingerprint, so that a
    /// probe reads no file. A new key then costs one write, a known one a
    /// read of its value and a write, instead of a read of a window of
    /// slots and a write.
    fps: Option<Vec<u64>>,
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

/// The fingerprint a slot holds (0: empty).
fn slot_fp(slot: &[u8]) -> u64 {
    u64::from_le_bytes(slot[..8].try_into().unwrap_or_default())
}

impl<const V: usize> FpTable<V> {
    const SLOT: usize = 8 + V;

    /// Writes `fp` and its value into slot `i`.
    fn put(&mut self, i: u64, fp: u64, value: &[u8; V]) -> io::Result<()> {
        let mut slot = [0u8; 8 + MAX_VALUE];
        slot[..8].copy_from_slice(&fp.to_le_bytes());
        slot[8..Self::SLOT].copy_from_slice(value);
        self.write_slot(&slot[..Self::SLOT], i)
    }

    /// Opens the table at `path` if it is clean, has this `magic` and
    /// belongs to the database tagged `tag`; `None` when it must be rebuilt
    /// (absent, unclean, of another format or database, or unreadable). A
    /// table opened is marked unclean on disk before its first change.
    pub fn open(
        path: &Path,
        magic: &'static [u8; 16],
        tag: [u8; 16],
    ) -> io::Result<Option<FpTable<V>>> {
        const { assert!(V <= MAX_VALUE) };
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
        let sound = &h[..16] == magic
            && h[48] == 1
            && h[32..48] == tag
            && slots.is_power_of_two()
            && slots >= MIN_SLOTS
            && used < slots
            && Some(len) == slots.checked_mul(Self::SLOT as u64).map(|b| b + HEADER);
        if !sound {
            return Ok(None);
        }
        Ok(Some(FpTable {
            file,
            path: path.to_owned(),
            magic,
            tag,
            slots,
            used,
            clean_on_disk: true,
            mem: None,
            mem_max: 0,
            fps: None,
        }))
    }

    /// A new, empty table at `path` (replacing any file there) sized for
    /// `expected` keys without growing.
    pub fn create(
        path: &Path,
        magic: &'static [u8; 16],
        tag: [u8; 16],
        expected: u64,
    ) -> io::Result<FpTable<V>> {
        const { assert!(V <= MAX_VALUE) };
        let slots = Self::slots_for(expected);
        let file = Self::new_file(path, magic, tag, slots)?;
        Ok(FpTable {
            file,
            path: path.to_owned(),
            magic,
            tag,
            slots,
            used: 0,
            clean_on_disk: false,
            mem: None,
            mem_max: 0,
            fps: None,
        })
    }

    /// Holds the slots in memory from now on while they take at most
    /// `max_bytes` (the table grows out of memory past that): no system
    /// call per lookup or change. Changes reach the file when the table is
    /// marked clean; before that its header on disk says unclean, so a
    /// crash leaves a table that is rebuilt, as it would anyway.
    /// A larger table keeps only its fingerprints in memory while they fit
    /// ([`FpTable::fps`]).
    pub fn hold_in_memory(&mut self, max_bytes: u64) -> io::Result<()> {
        self.mem_max = max_bytes;
        let bytes = self.slots * Self::SLOT as u64;
        if self.mem.is_none() && bytes <= max_bytes {
            let mut mem = vec![0u8; bytes as usize];
            read_at(&self.file, &mut mem, HEADER)?;
            self.mem = Some(mem);
            self.fps = None;
        } else if self.mem.is_none() && self.fps.is_none() && self.slots * 8 <= max_bytes {
            let mut fps = Vec::with_capacity(self.slots as usize);
            self.for_each_slot(|fp, _| fps.push(fp))?;
            self.fps = Some(fps);
        }
        Ok(())
    }

    /// Reads slots from slot `i` on into `buf`.
    fn read_slots(&self, buf: &mut [u8], i: u64) -> io::Result<()> {
        let at = i as usize * Self::SLOT;
        match &self.mem {
            Some(mem) => {
                buf.copy_from_slice(&mem[at..at + buf.len()]);
                Ok(())
            }
            None => read_at(&self.file, buf, HEADER + at as u64),
        }
    }

    /// Writes one slot (`slot`: fingerprint and value) at slot `i`.
    fn write_slot(&mut self, slot: &[u8], i: u64) -> io::Result<()> {
        if let Some(fps) = &mut self.fps {
            fps[i as usize] = slot_fp(slot);
        }
        let at = i as usize * Self::SLOT;
        match &mut self.mem {
            Some(mem) => {
                mem[at..at + slot.len()].copy_from_slice(slot);
                Ok(())
            }
            None => write_at(&self.file, slot, HEADER + at as u64),
        }
    }

    fn slots_for(keys: u64) -> u64 {
        // at most half full once `keys` are in
        keys.saturating_mul(2)
            .max(MIN_SLOTS)
            .checked_next_power_of_two()
            .unwrap_or(1 << 62)
    }

    /// A zeroed file of `slots` slots with an unclean header.
    fn new_file(path: &Path, magic: &[u8; 16], tag: [u8; 16], slots: u64) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        // sparse: the slots read as zeros (empty) until written
        file.set_len(HEADER + slots * Self::SLOT as u64)?;
        write_at(&file, &Self::header(magic, tag, slots, 0, false), 0)?;
        Ok(file)
    }

    fn header(
        magic: &[u8; 16],
        tag: [u8; 16],
        slots: u64,
        used: u64,
        clean: bool,
    ) -> [u8; HEADER as usize] {
        let mut h = [0u8; HEADER as usize];
        h[..16].copy_from_slice(magic);
        h[16..24].copy_from_slice(&slots.to_le_bytes());
        h[24..32].copy_from_slice(&used.to_le_bytes());
        h[32..48].copy_from_slice(&tag);
        h[48] = clean as u8;
        h
    }

    /// Keys in the table.
    pub fn len(&self) -> u64 {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The slot holding `fp`, or the empty slot where it would go, and the
    /// value there.
    fn probe(&self, fp: u64) -> io::Result<(u64, Option<[u8; V]>)> {
        let mask = self.slots - 1;
        if let Some(fps) = &self.fps {
            let mut i = fp & mask;
            for _ in 0..self.slots {
                match fps[i as usize] {
                    0 => return Ok((i, None)),
                    f if f == fp => {
                        let mut slot = [0u8; 8 + MAX_VALUE];
                        self.read_slots(&mut slot[..Self::SLOT], i)?;
                        let v = slot[8..Self::SLOT].try_into().unwrap_or([0; V]);
                        return Ok((i, Some(v)));
                    }
                    _ => i = (i + 1) & mask,
                }
            }
            return Err(self.full());
        }
        let mut i = fp & mask;
        let mut buf = [0u8; (8 + MAX_VALUE) * WINDOW];
        // the load is kept below 60 %, so an empty slot always comes; a
        // damaged file whose header lies could be full: read it once at most
        let mut read = 0u64;
        loop {
            if read >= self.slots {
                return Err(self.full());
            }
            // a window never runs past the end of the table
            let n = WINDOW.min((self.slots - i) as usize);
            let window = &mut buf[..n * Self::SLOT];
            self.read_slots(window, i)?;
            for (k, slot) in window.chunks_exact(Self::SLOT).enumerate() {
                let f = slot_fp(slot);
                if f == 0 {
                    return Ok((i + k as u64, None));
                }
                if f == fp {
                    let v = slot[8..].try_into().unwrap_or([0; V]);
                    return Ok((i + k as u64, Some(v)));
                }
            }
            read += n as u64;
            i = (i + n as u64) & mask;
        }
    }

    /// A probe went round the whole table: the load is kept below 60 %, so
    /// only a damaged file whose header lies gets here.
    fn full(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no free slot (damaged table)", self.path.display()),
        )
    }

    /// The value of `fp`, if it is in the table.
    pub fn get(&self, fp: u64) -> io::Result<Option<[u8; V]>> {
        Ok(self.probe(fp)?.1)
    }

    /// Sets the value of `fp` (`fp` must not be 0).
    pub fn set(&mut self, fp: u64, value: &[u8; V]) -> io::Result<()> {
        self.mark_unclean()?;
        let (at, old) = self.probe(fp)?;
        if old.as_ref() == Some(value) {
            return Ok(());
        }
        self.put(at, fp, value)?;
        if old.is_none() {
            self.used += 1;
            if self.used * 5 > self.slots * 3 {
                self.grow()?;
            }
        }
        Ok(())
    }

    /// Removes `fp`; returns whether it was there. The entries after it in
    /// its probe run move back into the gap (backward-shift deletion), so
    /// the table needs no tombstones and lookups stay as short as before.
    pub fn remove(&mut self, fp: u64) -> io::Result<bool> {
        let (mut hole, old) = self.probe(fp)?;
        if old.is_none() {
            return Ok(false);
        }
        self.mark_unclean()?;
        let mask = self.slots - 1;
        let mut slot = [0u8; 8 + MAX_VALUE];
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            self.read_slots(&mut slot[..Self::SLOT], j)?;
            let f = slot_fp(&slot[..Self::SLOT]);
            if f == 0 {
                break;
            }
            // the entry at `j` may fill the hole unless its home slot lies
            // after the hole (cyclically, in `(hole, j]`)
            let home = f & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.write_slot(&slot[..Self::SLOT], hole)?;
                hole = j;
            }
        }
        self.write_slot(&[0u8; 8 + MAX_VALUE][..Self::SLOT], hole)?;
        self.used -= 1;
        Ok(true)
    }

    /// Every key and value, in slot order (reads the whole file in chunks).
    pub fn for_each(&self, mut f: impl FnMut(u64, &[u8; V])) -> io::Result<()> {
        self.for_each_slot(|fp, value| {
            if fp != 0 {
                f(fp, value);
            }
        })
    }

    /// Every slot's fingerprint (0: empty) and value, in slot order.
    fn for_each_slot(&self, mut f: impl FnMut(u64, &[u8; V])) -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK as usize * Self::SLOT];
        let mut i = 0;
        while i < self.slots {
            let n = CHUNK.min(self.slots - i);
            let part = &mut buf[..n as usize * Self::SLOT];
            self.read_slots(part, i)?;
            for slot in part.chunks_exact(Self::SLOT) {
                f(slot_fp(slot), slot[8..].try_into().unwrap_or(&[0; V]));
            }
            i += n;
        }
        Ok(())
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
            if let Some(mem) = &self.mem {
                write_at(&self.file, mem, HEADER)?;
            }
            self.file.sync_data()?;
            self.write_header(true)?;
        }
        Ok(())
    }

    /// Writes and syncs the header saying whether the table is clean.
    fn write_header(&mut self, clean: bool) -> io::Result<()> {
        let h = Self::header(self.magic, self.tag, self.slots, self.used, clean);
        write_at(&self.file, &h, 0)?;
        self.file.sync_data()?;
        self.clean_on_disk = clean;
        Ok(())
    }

    /// Writes `placed` (slot, value), sorted by slot, into the file of this
    /// table, whose fingerprint mirror already holds their keys: in slot
    /// order, a chunk of [`CHUNK`] slots per write.
    fn write_placed(&self, placed: &[(u64, [u8; V])]) -> io::Result<()> {
        let Some(fps) = self.fps.as_ref() else {
            return Err(io::Error::other("write_placed: no fingerprint mirror"));
        };
        let mut buf = vec![0u8; CHUNK as usize * Self::SLOT];
        let mut entries = placed.iter().peekable();
        while let Some(&&(first, _)) = entries.peek() {
            let start = first / CHUNK * CHUNK;
            let n = CHUNK.min(self.slots - start);
            let chunk = &mut buf[..n as usize * Self::SLOT];
            chunk.fill(0);
            while let Some((i, value)) = entries.next_if(|e| e.0 < start + n) {
                let at = (i - start) as usize * Self::SLOT;
                chunk[at..at + 8].copy_from_slice(&fps[*i as usize].to_le_bytes());
                chunk[at + 8..at + Self::SLOT].copy_from_slice(value);
            }
            write_at(&self.file, chunk, HEADER + start * Self::SLOT as u64)?;
        }
        Ok(())
    }

    /// Twice the slots: every entry is copied into a new file, which then
    /// replaces this one (a crash in between leaves an unclean table either
    /// way, rebuilt at the next open).
    fn grow(&mut self) -> io::Result<()> {
        let slots = self.slots * 2;
        let tmp = self.path.with_extension("grow");
        let mut bigger = FpTable::<V> {
            file: Self::new_file(&tmp, self.magic, self.tag, slots)?,
            path: self.path.clone(),
            magic: self.magic,
            tag: self.tag,
            slots,
            used: 0,
            clean_on_disk: false,
            mem: None,
            mem_max: self.mem_max,
            fps: None,
        };
        if slots * Self::SLOT as u64 <= self.mem_max {
            bigger.mem = Some(vec![0u8; (slots * Self::SLOT as u64) as usize]);
        } else if slots * 8 <= self.mem_max {
            bigger.fps = Some(vec![0u64; slots as usize]);
        }
        // A table on disk with its fingerprints mirrored gets its entries
        // placed in the mirror and written afterwards a chunk at a time:
        // one write per entry (157,000 of them when the registry index first
        // outgrows memory) stalled a registry scan. This costs a moment's
        // `used × (8 + V)` bytes.
        let deferred = bigger.mem.is_none() && bigger.fps.is_some();
        let mut placed = Vec::with_capacity(if deferred { self.used as usize } else { 0 });
        let mut failed = None;
        self.for_each(|fp, value| {
            if failed.is_some() {
                return;
            }
            let r = bigger.probe(fp).and_then(|(at, _)| match &mut bigger.fps {
                Some(fps) if deferred => {
                    fps[at as usize] = fp;
                    placed.push((at, *value));
                    Ok(())
                }
                _ => bigger.put(at, fp, value),
            });
            match r {
                Ok(()) => bigger.used += 1,
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if deferred {
            placed.sort_unstable_by_key(|p| p.0);
            bigger.write_placed(&placed)?;
        }
        // freed before the old table is: held through that, it kept the
        // peak of a scan growing the registry index 3.5 MB higher
        drop(placed);
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
    const MAGIC: &[u8; 16] = b"finscan test v1\0";

    #[test]
    fn set_get_and_grow_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut t = FpTable::<24>::create(&path, MAGIC, TAG, 0).unwrap();
        let n = 100_000u64; // past 60 % of 65,536 slots: grows once
        let value = |i: u64| {
            let mut v = [0u8; 24];
            v[..8].copy_from_slice(&i.to_le_bytes());
            v[16..].copy_from_slice(&(i * 3).to_le_bytes());
            v
        };
        for i in 0..n {
            t.set(fingerprint(&format!("k{i}")), &value(i)).unwrap();
        }
        assert_eq!(t.len(), n);
        assert!(t.slots > MIN_SLOTS);
        for i in 0..n {
            assert_eq!(
                t.get(fingerprint(&format!("k{i}"))).unwrap(),
                Some(value(i)),
                "key {i}"
            );
        }
        assert_eq!(t.get(fingerprint("never")).unwrap(), None);
        let mut seen = 0;
        t.for_each(|_, _| seen += 1).unwrap();
        assert_eq!(seen, n);
        // overwriting keeps the count
        t.set(fingerprint("k1"), &value(7)).unwrap();
        assert_eq!(t.len(), n);
        assert_eq!(t.get(fingerprint("k1")).unwrap(), Some(value(7)));
    }

    #[test]
    fn removing_keys_keeps_every_other_key_reachable() {
        let dir = tempfile::tempdir().unwrap();
        let value = |i: u64| {
            let mut v = [0u8; 24];
            v[..8].copy_from_slice(&i.to_le_bytes());
            v
        };
        // held in memory, fingerprints mirrored, and on disk alone
        for budget in [u64::MAX, 1 << 20, 0] {
            let path = dir.path().join(format!("t{budget}"));
            let mut t = FpTable::<24>::create(&path, MAGIC, TAG, 0).unwrap();
            t.hold_in_memory(budget).unwrap();
            let n = 800u64;
            // keys crowded into few home slots: long probe runs that wrap
            // around the table's end
            let key = |i: u64| {
                let f = fingerprint(&format!("k{i}"));
                (f & !0xffff) | ((i % 64).wrapping_sub(32) & 0xffff) | (1 << 20)
            };
            for i in 0..n {
                t.set(key(i), &value(i)).unwrap();
            }
            for i in (0..n).filter(|i| i % 3 == 0) {
                assert!(t.remove(key(i)).unwrap(), "key {i}");
            }
            assert!(!t.remove(key(0)).unwrap(), "removed already");
            assert_eq!(t.len(), n - n.div_ceil(3));
            for i in 0..n {
                let want = (i % 3 != 0).then(|| value(i));
                assert_eq!(t.get(key(i)).unwrap(), want, "key {i}, budget {budget}");
            }
            // and after a reopen from the file
            t.mark_clean().unwrap();
            drop(t);
            let t = FpTable::<24>::open(&path, MAGIC, TAG).unwrap().unwrap();
            assert_eq!(t.len(), n - n.div_ceil(3));
            for i in (0..n).step_by(7) {
                assert_eq!(t.get(key(i)).unwrap(), (i % 3 != 0).then(|| value(i)));
            }
        }
    }

    #[test]
    fn a_table_too_large_to_hold_keeps_its_fingerprints_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let value = |i: u64, v: u64| {
            let mut b = [0u8; 24];
            b[..8].copy_from_slice(&i.to_le_bytes());
            b[16..].copy_from_slice(&v.to_le_bytes());
            b
        };
        let mut t = FpTable::<24>::create(&path, MAGIC, TAG, 0).unwrap();
        // 65,536 slots of 32 bytes do not fit in 1.5 MB; their fingerprints do
        let budget = 3 << 19;
        t.hold_in_memory(budget).unwrap();
        assert!(t.mem.is_none() && t.fps.is_some());
        let mut seen_mirror_grow = false;
        for i in 0..100_000u64 {
            t.set(fingerprint(&format!("k{i}")), &value(i, 0)).unwrap();
            // the first growth keeps a mirror (1 MB), the second cannot (2 MB)
            seen_mirror_grow |= t.slots == 131_072 && t.fps.is_some();
        }
        assert!(seen_mirror_grow);
        assert!(t.fps.is_none() && t.slots == 262_144);
        t.hold_in_memory(budget).unwrap();
        assert!(t.mem.is_none() && t.fps.is_none());
        // updates, in a table opened again with a mirror built from the file
        t.mark_clean().unwrap();
        let mut again = FpTable::<24>::open(&path, MAGIC, TAG)
            .unwrap()
            .expect("clean");
        again.hold_in_memory(4 << 20).unwrap();
        assert!(again.mem.is_none() && again.fps.is_some());
        for i in (0..100_000u64).step_by(7) {
            again
                .set(fingerprint(&format!("k{i}")), &value(i, 1))
                .unwrap();
        }
        assert_eq!(again.len(), 100_000);
        assert_eq!(again.get(fingerprint("absent")).unwrap(), None);
        again.mark_clean().unwrap();
        let plain = FpTable::<24>::open(&path, MAGIC, TAG)
            .unwrap()
            .expect("clean");
        for i in 0..100_000u64 {
            let want = Some(value(i, u64::from(i % 7 == 0)));
            let fp = fingerprint(&format!("k{i}"));
            assert_eq!(again.get(fp).unwrap(), want, "key {i}");
            assert_eq!(plain.get(fp).unwrap(), want, "key {i}");
        }
    }

    #[test]
    fn a_table_held_in_memory_grows_into_a_mirrored_one_with_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let value = |i: u64| {
            let mut b = [0u8; 24];
            b[..8].copy_from_slice(&i.to_le_bytes());
            b[8..16].copy_from_slice(&(i * 3).to_le_bytes());
            b
        };
        let mut t = FpTable::<24>::create(&path, MAGIC, TAG, 0).unwrap();
        // 65,536 slots of 32 bytes fit in 2 MB; 131,072 do not, their
        // fingerprints do
        t.hold_in_memory(2 << 20).unwrap();
        assert!(t.mem.is_some());
        let keys = 60_000u64;
        for i in 0..keys {
            t.set(fingerprint(&format!("k{i}")), &value(i)).unwrap();
        }
        assert!(t.mem.is_none() && t.fps.is_some() && t.slots == 131_072);
        assert_eq!(t.len(), keys);
        // the mirror says which slots are used, as the file does
        let mirror = t.fps.clone().unwrap();
        let mut on_disk = Vec::new();
        t.for_each_slot(|fp, _| on_disk.push(fp)).unwrap();
        assert_eq!(mirror, on_disk);
        t.mark_clean().unwrap();
        let plain = FpTable::<24>::open(&path, MAGIC, TAG)
            .unwrap()
            .expect("clean");
        assert_eq!(plain.len(), keys);
        for i in 0..keys {
            let fp = fingerprint(&format!("k{i}"));
            assert_eq!(t.get(fp).unwrap(), Some(value(i)), "key {i}");
            assert_eq!(plain.get(fp).unwrap(), Some(value(i)), "key {i}");
        }
        assert_eq!(t.get(fingerprint("absent")).unwrap(), None);
    }

    #[test]
    fn a_probe_of_a_full_damaged_table_fails_instead_of_looping() {
        for mirrored in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t");
            let mut t = FpTable::<8>::create(&path, MAGIC, TAG, 0).unwrap();
            if mirrored {
                // room for the fingerprints, not the slots
                t.hold_in_memory(MIN_SLOTS * 8).unwrap();
                assert!(t.mem.is_none() && t.fps.is_some());
            }
            // every slot taken, as no set() would leave it
            for i in 0..t.slots {
                t.put(i, i + 1, &[0; 8]).unwrap();
            }
            let e = t.get(fingerprint("absent")).unwrap_err();
            assert!(e.to_string().contains("no free slot"), "{e}");
        }
    }

    #[test]
    fn a_table_held_in_memory_reaches_the_file_when_marked_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut t = FpTable::<8>::create(&path, MAGIC, TAG, 0).unwrap();
        // room for the first size only: growing moves it back to the file
        t.hold_in_memory(MIN_SLOTS * 16).unwrap();
        assert!(t.mem.is_some());
        for i in 0..30_000u64 {
            t.set(fingerprint(&format!("k{i}")), &i.to_le_bytes())
                .unwrap();
        }
        // a crash now: the file says unclean
        assert!(FpTable::<8>::open(&path, MAGIC, TAG).unwrap().is_none());
        t.mark_clean().unwrap();
        let mut again = FpTable::<8>::open(&path, MAGIC, TAG)
            .unwrap()
            .expect("clean");
        assert_eq!(again.len(), 30_000);
        assert_eq!(
            again.get(fingerprint("k7")).unwrap(),
            Some(7u64.to_le_bytes())
        );
        // past 60 % of the slots it grows, out of memory, keeping every entry
        again.hold_in_memory(MIN_SLOTS * 16).unwrap();
        for i in 30_000..50_000u64 {
            again
                .set(fingerprint(&format!("k{i}")), &i.to_le_bytes())
                .unwrap();
        }
        assert!(again.mem.is_none());
        for i in (0..50_000u64).step_by(997) {
            assert_eq!(
                again.get(fingerprint(&format!("k{i}"))).unwrap(),
                Some(i.to_le_bytes()),
                "key {i}"
            );
        }
    }

    #[test]
    fn only_a_clean_table_of_the_same_format_and_database_is_believed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut t = FpTable::<8>::create(&path, MAGIC, TAG, 10).unwrap();
        t.set(fingerprint("a"), &[1; 8]).unwrap();
        drop(t);
        // never marked clean: a crash
        assert!(FpTable::<8>::open(&path, MAGIC, TAG).unwrap().is_none());

        let mut t = FpTable::<8>::create(&path, MAGIC, TAG, 10).unwrap();
        t.set(fingerprint("a"), &[1; 8]).unwrap();
        t.mark_clean().unwrap();
        drop(t);
        let other = *b"another database";
        assert!(FpTable::<8>::open(&path, MAGIC, other).unwrap().is_none());
        assert!(
            FpTable::<8>::open(&path, b"finscan othr v1\0", TAG)
                .unwrap()
                .is_none()
        );
        // another value size does not fit the file's length
        assert!(FpTable::<24>::open(&path, MAGIC, TAG).unwrap().is_none());
        let mut t = FpTable::<8>::open(&path, MAGIC, TAG)
            .unwrap()
            .expect("clean");
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(fingerprint("a")).unwrap(), Some([1; 8]));
        // the first change clears the clean mark on disk
        t.set(fingerprint("b"), &[2; 8]).unwrap();
        assert!(FpTable::<8>::open(&path, MAGIC, TAG).unwrap().is_none());
        drop(t);

        // a cut or garbled file is not believed
        std::fs::write(&path, b"finscan test v1\0 short").unwrap();
        assert!(FpTable::<8>::open(&path, MAGIC, TAG).unwrap().is_none());
        assert!(
            FpTable::<8>::open(&dir.path().join("absent"), MAGIC, TAG)
                .unwrap()
                .is_none()
        );
    }
}
