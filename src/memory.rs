//! Process-wide memory settings applied before any thread starts.

/// Most malloc arenas glibc may create. By default it makes up to eight per core, one per
/// thread that contends, and keeps what each arena once held: with tokio's blocking pool,
/// tantivy's merge threads and the SQLite writer, a 100,000-post benchmark peaked at 420 MB
/// resident, 381 MB of it allocator arenas. Two arenas brought that to 182 MB but cost a
/// third of the ingest rate (threads queue on the arena locks); four gave 242 MB for about
/// a tenth.
const MALLOC_ARENAS: i32 = 4;

/// Caps glibc's malloc arenas (a no-op on other C libraries). Call first thing in `main`.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; it is called before other threads
        // exist, and a refusal (return 0) just leaves the default in place.
        let accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
        if accepted == 0 {
            eprintln!("warning: could not limit malloc arenas");
        }
    }
}

/// Hands memory that has been freed back to the operating system. glibc keeps freed heap
/// in its arenas for reuse; after a one-off burst (the bulk load's page cache and index
/// arena, about 900 MB at 1M posts) the process would otherwise stay that large.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns unused pages of the allocator's own heap.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
