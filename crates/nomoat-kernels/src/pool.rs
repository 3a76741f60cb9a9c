//! A persistent thread pool for the token loop (performance.md §1.1, §7 item 3).
//!
//! `run(f)` publishes `f` to the workers by bumping a generation counter; every worker (and the
//! caller, as thread 0) runs `f(thread_id, n_threads)`, then the caller waits until all workers
//! have checked in. Workers spin on the generation counter for a short time (`SPIN`) after each
//! job, so back-to-back ops in a forward pass cost no system call, and then park on a condvar, so
//! an idle pool costs nothing. The counters live on separate cache lines (false sharing between
//! them cost llama.cpp 21% TG on many-core machines).
//!
//! `parallel_for(n, chunk, f)` hands out `chunk`-sized index ranges from an atomic cursor
//! (dynamic work stealing), so a slow thread does not hold the others back.
//!
//! A panic inside `f` on any thread is caught, the pool waits for every thread to finish the job
//! (the closure is borrowed from the caller's stack), and the panic is then re-raised in the
//! caller. Nested calls (from inside `f`) run inline on the calling thread.

use std::cell::{Cell, UnsafeCell};
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
const SPIN: Duration = Duration::from_micros(300);

/// A value alone on its (pair of) cache line(s): 128 bytes also covers adjacent-line prefetch.
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

type Job = dyn Fn(usize, usize) + Sync;

struct Shared {
    /// Bumped by the caller to publish a job.
    generation: Padded<AtomicU64>,
    /// Workers that finished the current job.
    done: Padded<AtomicUsize>,
    /// Workers parked on `cv` (or about to be).
    sleepers: Padded<AtomicUsize>,
    shutdown: AtomicBool,
    panicked: AtomicBool,
    /// The current job; written by the caller before `generation` is bumped (Release), read by
    /// workers after they observe the bump (Acquire), and not touched again until all are done.
    job: UnsafeCell<Option<*const Job>>,
    lock: Mutex<()>,
    cv: Condvar,
    n_threads: usize,
}

// SAFETY: `job` is only written by the (single, serialised by `run_lock`) caller while no worker
// reads it: before publishing a generation and after all workers reported done. The pointee is
// `Sync`, so calling it from several threads at once is allowed.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only dereferenced while the caller keeps the closure alive.
unsafe impl Send for Shared {}

thread_local! {
    static IN_POOL: Cell<bool> = const { Cell::new(false) };
}

/// Persistent worker threads; see the module documentation.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    run_lock: Mutex<()>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.n_threads())
            .finish()
    }
}

impl ThreadPool {
    /// A pool of `n_threads` threads in all (the caller counts as one, so `n_threads − 1` workers
    /// are spawned). `0` means [`default_threads`].
    pub fn new(n_threads: usize) -> Self {
        let n = if n_threads == 0 {
            default_threads()
        } else {
            n_threads
        };
        let shared = Arc::new(Shared {
            generation: Padded(AtomicU64::new(0)),
            done: Padded(AtomicUsize::new(0)),
            sleepers: Padded(AtomicUsize::new(0)),
            shutdown: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            n_threads: n,
        });
        let workers = (1..n)
            .map(|id| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("nomoat-worker-{id}"))
                    .spawn(move || worker_loop(&s, id))
                    .expect("failed to spawn a thread-pool worker")
            })
            .collect();
        Self {
            shared,
            workers,
            run_lock: Mutex::new(()),
        }
    }

    /// Threads taking part in `run`, the caller included.
    pub fn n_threads(&self) -> usize {
        self.shared.n_threads
    }

    /// Run `f(thread_id, n_threads)` on every thread (the caller is thread 0) and return when all
    /// are done. Re-raises a panic from any thread. Called from inside a job, runs `f(0, 1)` inline.
    pub fn run(&self, f: &(dyn Fn(usize, usize) + Sync)) {
        let n = self.shared.n_threads;
        if n == 1 || IN_POOL.with(|c| c.get()) {
            f(0, 1);
            return;
        }
        let _serial = self.run_lock.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // SAFETY: the lifetime is erased only for the duration of this call: we wait below until
        // every worker has finished with the pointer (even if `f` panics) before returning.
        let ptr: *const Job =
            unsafe { std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), &'static Job>(f) };
        // SAFETY: no worker reads `job` now: all finished the previous generation (waited below).
        unsafe { *s.job.get() = Some(ptr) };
        s.done.0.store(0, Ordering::Relaxed);
        s.panicked.store(false, Ordering::Relaxed);
        s.generation.0.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.0.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this wake-up after any worker's check-then-wait.
            drop(s.lock.lock().unwrap_or_else(|e| e.into_inner()));
            s.cv.notify_all();
        }
        IN_POOL.with(|c| c.set(true));
        let mine = catch_unwind(AssertUnwindSafe(|| f(0, n)));
        IN_POOL.with(|c| c.set(false));
        let mut spins = 0u32;
        while s.done.0.load(Ordering::Acquire) < n - 1 {
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: all workers are done with this generation; clear the dangling-to-be pointer.
        unsafe { *s.job.get() = None };
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if s.panicked.load(Ordering::Relaxed) {
            panic!("a thread-pool worker panicked while running a job");
        }
    }

    /// Split `0..n_items` into ranges of at most `chunk` items handed out dynamically to all
    /// threads; `f(range)` is called once per range, each index is covered exactly once.
    pub fn parallel_for(&self, n_items: usize, chunk: usize, f: impl Fn(Range<usize>) + Sync) {
        let chunk = chunk.max(1);
        if n_items == 0 {
            return;
        }
        if n_items <= chunk || self.n_threads() == 1 {
            let mut i = 0;
            while i < n_items {
                f(i..(i + chunk).min(n_items));
                i += chunk;
            }
            return;
        }
        let cursor = Padded(AtomicUsize::new(0));
        self.run(&|_, _| loop {
            let start = cursor.0.fetch_add(chunk, Ordering::Relaxed);
            if start >= n_items {
                break;
            }
            f(start..(start + chunk).min(n_items));
        });
    }
}

fn worker_loop(s: &Shared, id: usize) {
    IN_POOL.with(|c| c.set(true));
    let mut seen = 0u64;
    loop {
        // Wait for a new generation: spin first, then park.
        let start = Instant::now();
        let mut iter = 0u32;
        let mut gen = s.generation.0.load(Ordering::Acquire);
        while gen == seen && !s.shutdown.load(Ordering::Relaxed) {
            iter = iter.wrapping_add(1);
            std::hint::spin_loop();
            if iter.is_multiple_of(256) && start.elapsed() > SPIN {
                let mut guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.sleepers.0.fetch_add(1, Ordering::SeqCst);
                while s.generation.0.load(Ordering::SeqCst) == seen
                    && !s.shutdown.load(Ordering::SeqCst)
                {
                    guard = s.cv.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                s.sleepers.0.fetch_sub(1, Ordering::SeqCst);
                drop(guard);
            }
            gen = s.generation.0.load(Ordering::Acquire);
        }
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        seen = gen;
        // SAFETY: the caller wrote `job` before bumping `generation` (we loaded it with Acquire)
        // and keeps the closure alive until we increment `done`.
        let job = unsafe { *s.job.get() };
        if let Some(ptr) = job {
            // SAFETY: see above; the pointee is `Sync`.
            let f = unsafe { &*ptr };
            if catch_unwind(AssertUnwindSafe(|| f(id, s.n_threads))).is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        s.done.0.fetch_add(1, Ordering::Release);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        drop(self.shared.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.cv.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Physical cores available to this process: `available_parallelism` (which honours the CPU
/// affinity mask and cgroup quota), reduced by the SMT sibling ratio read from
/// `/sys/devices/system/cpu/*/topology` where that is readable.
pub fn default_threads() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    match smt_ratio() {
        Some(r) if r > 1 => (logical / r).max(1),
        _ => logical,
    }
}

/// Logical CPUs per physical core (from the online CPUs' `thread_siblings_list`).
fn smt_ratio() -> Option<usize> {
    let mut logical = 0usize;
    let mut cores = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let name = name.to_str()?;
        if !name.starts_with("cpu")
            || !name[3..].chars().all(|c| c.is_ascii_digit())
            || name.len() == 3
        {
            continue;
        }
        let Ok(sib) = std::fs::read_to_string(entry.path().join("topology/thread_siblings_list"))
        else {
            continue;
        };
        logical += 1;
        cores.insert(sib.trim().to_string());
    }
    if logical == 0 || cores.is_empty() {
        return None;
    }
    Some((logical / cores.len()).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_every_thread_once() {
        for n in 1..=4 {
            let pool = ThreadPool::new(n);
            for _ in 0..200 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(&|id, nt| {
                    assert_eq!(nt, n);
                    hits[id].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn survives_parking_between_jobs() {
        let pool = ThreadPool::new(3);
        for _ in 0..3 {
            std::thread::sleep(SPIN * 4);
            let c = AtomicUsize::new(0);
            pool.run(&|_, _| {
                c.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(c.load(Ordering::Relaxed), 3);
        }
    }

    #[test]
    fn nested_run_is_inline() {
        let pool = ThreadPool::new(2);
        let c = AtomicUsize::new(0);
        pool.run(&|_, _| {
            pool.run(&|id, n| {
                assert_eq!((id, n), (0, 1));
                c.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(c.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn worker_panic_is_reraised_and_pool_stays_usable() {
        let pool = ThreadPool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(&|id, _| {
                if id == 1 {
                    panic!("boom");
                }
            })
        }));
        assert!(r.is_err());
        let c = AtomicUsize::new(0);
        pool.run(&|_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(c.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn default_threads_is_positive() {
        assert!(default_threads() >= 1);
    }
}
