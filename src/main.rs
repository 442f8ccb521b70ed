use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// mimalloc, counting the bytes the calling thread allocated and has not freed, so
/// `bench --seek` (single-threaded) can report exactly what the replay's snapshots take
/// (resident memory also holds freed pages). The counter is per thread: one shared atomic
/// counter was a cache line both threads of `explore --jobs 2` fought over on every allocation.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: a thread being torn down has no counter any more; its frees go uncounted.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is forwarded to `MiMalloc` unchanged; only a counter is updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `mi_option_purge_delay` of mimalloc.h, which libmimalloc-sys does not name: the option just
/// before `mi_option_use_numa_nodes`. Its default is 1000 (ms) in the mimalloc v3 this crate builds, checked in debug builds.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;

fn main() -> std::process::ExitCode {
    // Freed memory is kept for the next seed rather than handed back to the kernel after
    // mimalloc's default 10 ms and faulted in (and zeroed) again: `explore` spent 4 % of its
    // time in the kernel's page zeroing. The process's peak memory is unchanged.
    // SAFETY: reads and sets a process-wide mimalloc option before any thread is started.
    unsafe {
        debug_assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000, "mimalloc's purge_delay");
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
    recoverysim::cli::set_heap_counter(|| LIVE.with(|live| live.get().max(0) as usize));
    recoverysim::cli::main()
}
