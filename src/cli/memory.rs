//! Keeping glibc's malloc from holding memory the program no longer uses.
//!
//! sled allocates and frees a copy of a tree node on most reads and writes,
//! from whichever thread does the work. glibc gives each thread its own arena
//! and returns freed memory to the system only from the top of an arena, so
//! a long crawl or registry import kept tens of megabytes of free fragments
//! resident that grew with the database (see BENCHMARKS.md, "Frontier growth
//! and memory"). Two standard glibc knobs fix that: fewer arenas, and a
//! periodic `malloc_trim`, which hands whole free pages back to the system
//! from anywhere in the heap. Other allocators were measured too: jemalloc
//! and mimalloc both peaked higher on the same crawl.
//!
//! Elsewhere (musl, macOS, Windows) these are no-ops.

/// Arenas for the whole process: one per core that finscan keeps busy.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAX_ARENAS: libc::c_int = 2;

/// How often free memory is handed back.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Call first thing in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tuning parameter; it is called before
        // any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, MAX_ARENAS);
        }
        let trim = || {
            loop {
                std::thread::sleep(TRIM_EVERY);
                finscan::store::release_free_memory();
            }
        };
        let _ = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(trim);
    }
}
