//! Who owns a database: the serve file a running server leaves in it, and
//! the process that holds sled's lock.
//!
//! sled lets one process open a database. While `finscan serve` runs it
//! writes `serve.json` into the database directory: its process id and the
//! address it answers on (no token: a token left in the data directory
//! would be a credential in every backup of it, and requests made with it
//! would be nobody's; the command line brings its own, see
//! `finscan::serve::client`). Commands read the file to go through the
//! server instead of opening the database.
//!
//! When the database is locked and no server answers, [`holder`] names the
//! process holding the lock, from the serve file or from `/proc/locks`
//! (Linux), so the error can say which process it is and what to do
//! instead of repeating sled's lock error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The serve file's name inside the database directory.
pub const SERVE_FILE: &str = "serve.json";

/// What a running server writes into its database directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeFile {
    /// The server's process id.
    pub pid: u32,
    /// Base URL of the API (`http://127.0.0.1:8686`).
    pub url: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The config file it runs with.
    pub config: PathBuf,
}

impl ServeFile {
    pub fn path(db: &Path) -> PathBuf {
        db.join(SERVE_FILE)
    }

    /// The serve file of the database in `db`, if there is one that reads.
    pub fn read(db: &Path) -> Option<ServeFile> {
        let text = std::fs::read(ServeFile::path(db)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Writes the file (through a temporary file and a rename: a reader
    /// never sees half of it).
    pub fn write(&self, db: &Path) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(db)?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut tmp, b"\n")?;
        tmp.persist(ServeFile::path(db)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the file if it is still this process's.
    pub fn remove_if_ours(db: &Path) {
        if ServeFile::read(db).is_some_and(|f| f.pid == std::process::id()) {
            let _ = std::fs::remove_file(ServeFile::path(db));
        }
    }

    /// Whether the process it names still runs (Linux: `/proc`; elsewhere
    /// assumed to).
    pub fn alive(&self) -> bool {
        process_alive(self.pid)
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// The process holding a database's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command line, when it can be read.
    pub command: Option<String>,
    /// The serve file, when the holder is the server that wrote it.
    pub serve: Option<ServeFile>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {}", self.pid)?;
        if let Some(c) = &self.command {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

/// Whether an error from opening a database is sled's "locked by another
/// process".
pub fn is_lock_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("could not acquire lock") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The process that holds the lock of the database in `db`, if it can be
/// found: the server of the serve file when it still runs, else the
/// process `/proc/locks` names for sled's `db` file.
pub fn holder(db: &Path) -> Option<Holder> {
    let serve = ServeFile::read(db).filter(ServeFile::alive);
    let pid = lock_pid(&db.join("db")).or(serve.as_ref().map(|s| s.pid))?;
    Some(Holder {
        pid,
        command: command_line(pid),
        serve: serve.filter(|s| s.pid == pid),
    })
}

/// Why a database cannot be opened here when another process holds it,
/// naming that process and what to do instead.
pub fn locked_message(db: &Path) -> String {
    let d = db.display();
    match holder(db) {
        Some(Holder {
            pid,
            serve: Some(s),
            ..
        }) => format!(
            "database {d} is in use by finscan serve (pid {pid}, {}): one process at a time opens a database. \
             Commands go through that server when it answers (with --token or FINSCAN_TOKEN); \
             to open the database here, stop it first (kill {pid})",
            s.url
        ),
        Some(h) => format!(
            "database {d} is in use by {h}, and no finscan server answers for it: \
             wait for that process to finish, or stop it (kill {}), then try again",
            h.pid
        ),
        None => format!(
            "database {d} is in use by another process (its lock is held; the process could not be named): \
             wait for it to finish, then try again"
        ),
    }
}

/// The process id `/proc/locks` gives for a lock on `file` (matched by
/// inode, and by device when it can be compared).
fn lock_pid(file: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).ok()?;
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        find_lock(&locks, meta.ino(), meta.dev())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// Reads `/proc/locks` lines (`1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`)
/// for a lock on inode `ino` of device `dev`.
fn find_lock(locks: &str, ino: u64, dev: u64) -> Option<u32> {
    let mut by_inode = None;
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // a blocked waiter's line has "->" before the type
        let fields: Vec<&str> = fields.into_iter().filter(|f| *f != "->").collect();
        if fields.len() < 6 {
            continue;
        }
        let Ok(pid) = fields[4].parse::<u32>() else {
            continue;
        };
        let mut parts = fields[5].split(':');
        let (Some(major), Some(minor), Some(inode)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if inode.parse::<u64>().ok() != Some(ino) {
            continue;
        }
        let (Ok(major), Ok(minor)) = (
            u64::from_str_radix(major, 16),
            u64::from_str_radix(minor, 16),
        ) else {
            continue;
        };
        // Linux's dev_t: major in bits 8..20 and 32.., minor in 0..8 and 20..32
        let ours_major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let ours_minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        if major == ours_major && minor == ours_minor {
            return Some(pid);
        }
        by_inode.get_or_insert(pid);
    }
    by_inode
}

/// A process's command line, arguments joined by spaces.
fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_matched_by_inode_and_device() {
        let locks = "1: POSIX  ADVISORY  WRITE 77 00:2a:999 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 99 00:19:1234 0 EOF\n\
                     3: -> FLOCK  ADVISORY  WRITE 100 00:19:1234 0 EOF\n";
        let dev_08_01 = (0x08 << 8) | 0x01;
        assert_eq!(find_lock(locks, 1234, dev_08_01), Some(4242));
        assert_eq!(find_lock(locks, 1234, 0x19), Some(99));
        // an overlay whose device differs: the inode alone decides
        assert_eq!(find_lock(locks, 999, 5), Some(77));
        assert_eq!(find_lock(locks, 5, 5), None);
    }

    #[test]
    fn the_holder_of_a_locked_database_is_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let _store = crate::store::Store::open(&db).unwrap();
        let err = sled::Config::new().path(&db).open().expect_err("locked");
        assert!(is_lock_error(&err), "{err}");
        if cfg!(target_os = "linux") {
            let h = holder(&db).expect("found in /proc/locks");
            assert_eq!(h.pid, std::process::id());
            assert!(h.serve.is_none());
        }
    }

    #[test]
    fn a_serve_file_reads_back_and_is_removed_only_by_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let f = ServeFile {
            pid: std::process::id(),
            url: "http://127.0.0.1:1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            config: "finscan.toml".into(),
        };
        f.write(dir.path()).unwrap();
        assert_eq!(ServeFile::read(dir.path()), Some(f.clone()));
        assert!(f.alive());
        let other = ServeFile { pid: 1, ..f };
        other.write(dir.path()).unwrap();
        ServeFile::remove_if_ours(dir.path());
        assert!(ServeFile::path(dir.path()).exists());
    }
}
