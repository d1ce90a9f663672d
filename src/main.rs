use clap::Parser;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = clinicstream::config::Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(feature = "mimalloc")]
    runtime.on_thread_park(allocator::collect_when_idle);
    runtime.build()?.block_on(async {
        #[cfg(feature = "mimalloc")]
        tokio::spawn(allocator::janitor());
        clinicstream::commands::run(cli).await
    })
}

/// Handing freed memory back after a storm. A connection's memory is often freed by
/// another worker than the one that allocated it; mimalloc parks such frees on the
/// owner's page and only looks at them when the owner allocates there again, so after
/// 10,000 sockets connect at once and leave, an idle server kept two thirds of the peak
/// (BENCHMARKS.md, "Memory after a storm"). A worker that goes idle collects its own
/// heap, at most once a second: the pages every client left are returned to the system.
/// A worker that parked too soon after its last collection owes one, and may stay parked
/// while the server idles: the janitor wakes the workers a second later, and each parks
/// again, collecting. SQLite (and librdkafka) allocate with the C library's `malloc`, not
/// mimalloc, and glibc keeps what they free in its arenas: the janitor trims those then
/// too.
#[cfg(feature = "mimalloc")]
mod allocator {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const AT_MOST_EVERY: Duration = Duration::from_secs(1);
    /// Set when a parking worker skipped its collection.
    static OWED: AtomicBool = AtomicBool::new(false);

    pub fn collect_when_idle() {
        thread_local! {
            static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
        }
        let now = Instant::now();
        if LAST.get().is_some_and(|last| now.duration_since(last) < AT_MOST_EVERY) {
            OWED.store(true, Ordering::Relaxed);
            return;
        }
        LAST.set(Some(now));
        // Safety: mi_collect only touches the calling thread's own heap (and the
        // process-wide arenas, under mimalloc's own locks).
        unsafe { libmimalloc_sys::mi_collect(true) };
    }

    /// Every second, if a collection is owed, wakes the workers: a few empty tasks, which
    /// idle workers are woken to steal; each parks again afterwards and collects.
    pub async fn janitor() {
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let mut tick = tokio::time::interval(AT_MOST_EVERY + Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if OWED.swap(false, Ordering::Relaxed) {
                for _ in 0..workers * 2 {
                    tokio::spawn(tokio::task::yield_now());
                }
                trim_c_heap();
            }
        }
    }

    /// Hands the free pages of glibc's arenas back to the system.
    fn trim_c_heap() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // Safety: malloc_trim takes each arena's lock; any thread may call it.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
