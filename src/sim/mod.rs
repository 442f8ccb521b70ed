//! The simulation kernel: integer virtual time, one event queue with a deterministic tie-break,
//! seeded random streams, and the running trace hash. Knows nothing about Flink.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};

/// Virtual time in microseconds since the start of the run.
pub type TimeUs = u64;

/// Formats virtual time for people: `12.064s`.
pub fn fmt_time(us: TimeUs) -> String {
    format!("{}.{:03}s", us / 1_000_000, (us / 1_000) % 1_000)
}

/// Formats a duration for people: `250ms`, `1.5s`, `50s`.
pub fn fmt_duration(us: u64) -> String {
    if us < 1_000_000 {
        if us.is_multiple_of(1_000) { format!("{}ms", us / 1_000) } else { format!("{}us", us) }
    } else if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else {
        let ms = us / 1_000;
        let s = format!("{}.{:03}", ms / 1_000, ms % 1_000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

#[derive(Clone)]
struct Entry<E> {
    at_us: TimeUs,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_us, self.seq).cmp(&(other.at_us, other.seq))
    }
}

/// Events ordered by (time, insertion sequence): two events at the same instant run in the
/// order they were scheduled, so a run is a pure function of its inputs.
///
/// Events scheduled for the current instant skip the heap: they go to a FIFO that is served
/// after the heap's entries for this instant. That is the same order, because every heap entry
/// at the current instant was scheduled before time reached it (a smaller sequence number) and
/// nothing scheduled from now on for this instant enters the heap.
///
/// `schedule_first` puts events ahead of everything else at the current instant (what happened
/// before now and only waited to be worked off: a thawed host's backlog).
#[derive(Clone)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    now_fifo: std::collections::VecDeque<E>,
    now_first: std::collections::VecDeque<E>,
    next_seq: u64,
    now_us: TimeUs,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            now_fifo: std::collections::VecDeque::with_capacity(256),
            now_first: std::collections::VecDeque::new(),
            next_seq: 0,
            now_us: 0,
        }
    }

    pub fn now_us(&self) -> TimeUs {
        self.now_us
    }

    /// Schedules `event` at `at_us`; an event is never scheduled in the past.
    pub fn schedule(&mut self, at_us: TimeUs, event: E) {
        debug_assert!(at_us >= self.now_us, "event scheduled in the past");
        let at_us = at_us.max(self.now_us);
        if at_us == self.now_us {
            self.now_fifo.push_back(event);
            return;
        }
        self.heap.push(Reverse(Entry { at_us, seq: self.next_seq, event }));
        self.next_seq += 1;
    }

    pub fn schedule_in(&mut self, delay_us: TimeUs, event: E) {
        self.schedule(self.now_us + delay_us, event);
    }

    /// Schedules `events` at the current instant, in their order, before every event already
    /// due now (and before those scheduled for now later): events that were due earlier and
    /// only waited (a frozen host's backlog) keep their place ahead of what came after them.
    pub fn schedule_first(&mut self, events: impl IntoIterator<Item = E>) {
        self.now_first.extend(events);
    }

    /// Pops the next event and advances the clock to it.
    pub fn pop(&mut self) -> Option<(TimeUs, E)> {
        if let Some(event) = self.now_first.pop_front() {
            return Some((self.now_us, event));
        }
        let heap_now = self.heap.peek().is_some_and(|Reverse(e)| e.at_us == self.now_us);
        if !heap_now && let Some(event) = self.now_fifo.pop_front() {
            return Some((self.now_us, event));
        }
        let Reverse(e) = self.heap.pop()?;
        self.now_us = e.at_us;
        Some((e.at_us, e.event))
    }

    /// When the next event happens, if any.
    pub fn peek_time(&self) -> Option<TimeUs> {
        if !self.now_fifo.is_empty() || !self.now_first.is_empty() {
            return Some(self.now_us);
        }
        self.heap.peek().map(|Reverse(e)| e.at_us)
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.now_fifo.len() + self.now_first.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.now_fifo.is_empty() && self.now_first.is_empty()
    }
}

/// What a random stream is for. Each purpose has its own ChaCha stream of the same seed, so a
/// new consumer of randomness never shifts the numbers another one sees.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Faults = 1,
    Network = 2,
    Data = 3,
    Restart = 4,
    Checkpoint = 5,
    /// `explore`: the fault schedule drawn for a seed.
    Explore = 6,
    /// `explore --vary`: the job and configuration drawn for a seed.
    Vary = 7,
    /// `explore`: which drawn faults fire at a checkpoint-protocol phase instead of a time, and
    /// where (its own stream, so the schedule `Explore` draws is the same with or without it).
    ExplorePhase = 8,
    /// `explore`: which drawn faults follow the one before closely, and how message delays
    /// relate to the checkpoint interval (its own stream, like `ExplorePhase`).
    ExploreTiming = 9,
    /// `explore --vary`: keyed state sizes (their own stream, like `ExplorePhase`).
    VaryState = 10,
    /// `explore --vary`: the failure-rate restart strategy (its own stream, like `VaryState`).
    VaryRestart = 11,
    /// `explore --vary`: which all-to-all or pointwise exchange a non-forward edge is (rebalance,
    /// rescale, broadcast; its own stream, like `VaryState`).
    VaryEdges = 12,
    /// `explore --vary`: slot sharing groups (their own stream, like `VaryState`).
    VarySlots = 13,
    /// `explore --operations`: the user's operations drawn for a seed (their own stream).
    ExploreOps = 14,
    /// `explore --vary`: which two-phase-commit sinks behind a keyed aggregation are upsert
    /// sinks instead (their own stream, like `VaryState`).
    VarySinks = 15,
    /// `explore`: a checkpoint-storage outage (its own stream, like `ExploreOps`).
    ExploreStorage = 16,
    /// `explore --vary`: unaligned checkpoints and their aligned-checkpoint-timeout (their own
    /// stream, so the rest of the draw stays as it was).
    VaryUnaligned = 17,
    /// `explore --vary`: the state backend and incremental checkpoints (their own stream).
    VaryBackend = 18,
}

#[derive(Clone)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Rng {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream as u64);
        Rng(r)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in 0..=max (no modulo bias worth caring about for simulation jitter).
    pub fn below_inclusive(&mut self, max: u64) -> u64 {
        if max == 0 { 0 } else { self.next_u64() % (max + 1) }
    }

    /// Uniform in [0, 1).
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The trace hash: FNV-1a's offset basis and prime, applied a machine word at a time (integers
/// are folded whole, byte slices 8 bytes at a time). Used as a `Hasher` so any
/// `#[derive(Hash)]` value can be folded in. Fixed and portable: no random keys.
#[derive(Clone, Copy, Debug)]
pub struct TraceHasher(u64);

const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    #[inline]
    fn fold(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(FNV_PRIME);
        self.0 ^= self.0 >> 29;
    }
}

impl std::hash::Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.fold(u64::from_le_bytes(c.try_into().expect("chunks_exact gives 8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.fold(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }
    fn write_u8(&mut self, v: u8) {
        self.fold(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.fold(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.fold(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.fold(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.fold(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.fold(v as u64);
    }
    fn write_isize(&mut self, v: isize) {
        self.fold(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_events_pop_in_schedule_order() {
        let mut q = EventQueue::new();
        q.schedule(5, 'b');
        q.schedule(3, 'a');
        q.schedule(5, 'c');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c']);
    }

    #[test]
    fn trace_hash_is_fixed_and_order_sensitive() {
        use std::hash::{Hash, Hasher};
        let h = |v: &[(u64, u32)]| {
            let mut t = TraceHasher::default();
            v.hash(&mut t);
            t.finish()
        };
        assert_eq!(h(&[(1, 2), (3, 4)]), h(&[(1, 2), (3, 4)]));
        assert_ne!(h(&[(1, 2), (3, 4)]), h(&[(3, 4), (1, 2)]));
        assert_ne!(h(&[]), h(&[(0, 0)]));
    }

    #[test]
    fn events_for_the_current_instant_keep_schedule_order() {
        let mut q = EventQueue::new();
        q.schedule(0, 'a');
        q.schedule(10, 'c');
        q.schedule(5, 'b');
        assert_eq!(q.pop(), Some((0, 'a')));
        assert_eq!(q.pop(), Some((5, 'b')));
        // At 5: 'd' and 'e' are scheduled for now, after the heap's 'x' for 5 was.
        q.schedule(10, 'f');
        q.schedule(5, 'd');
        q.schedule(5, 'e');
        assert_eq!(q.pop(), Some((5, 'd')));
        q.schedule(5, 'g');
        assert_eq!(q.pop(), Some((5, 'e')));
        assert_eq!(q.pop(), Some((5, 'g')));
        assert_eq!(q.pop(), Some((10, 'c')));
        assert_eq!(q.pop(), Some((10, 'f')));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn heap_entries_for_an_instant_run_before_that_instants_fifo() {
        let mut q = EventQueue::new();
        q.schedule(5, 'a');
        q.schedule(5, 'b');
        assert_eq!(q.pop(), Some((5, 'a')));
        q.schedule(5, 'c'); // scheduled at 5 for 5: after 'b', which was scheduled earlier
        assert_eq!(q.pop(), Some((5, 'b')));
        assert_eq!(q.pop(), Some((5, 'c')));
    }

    #[test]
    fn events_scheduled_first_run_before_everything_due_now() {
        let mut q = EventQueue::new();
        q.schedule(5, 'a');
        q.schedule(5, 'b');
        assert_eq!(q.pop(), Some((5, 'a')));
        q.schedule(5, 'c');
        q.schedule_first(['x', 'y']);
        assert_eq!(q.peek_time(), Some(5));
        assert_eq!(q.pop(), Some((5, 'x')));
        assert_eq!(q.pop(), Some((5, 'y')));
        assert_eq!(q.pop(), Some((5, 'b')));
        assert_eq!(q.pop(), Some((5, 'c')));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a1 = Rng::new(7, Stream::Faults).next_u64();
        let a2 = Rng::new(7, Stream::Faults).next_u64();
        let b = Rng::new(7, Stream::Network).next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
    }
}

/// An append-only list. A chunked one (`AppendLog::chunked`) keeps its items in immutable,
/// reference-counted chunks of `CHUNK` plus a tail, so its clones share everything but the
/// tail: the replay's periodic snapshots of a world clone it, and what a long run committed is
/// kept once, not once per snapshot. A plain one (the default) is a vector: no chunking cost
/// where nothing is cloned.
#[derive(Clone, Debug)]
pub struct AppendLog<T> {
    chunks: Vec<std::rc::Rc<[T]>>,
    tail: Vec<T>,
    chunked: bool,
}

impl<T> Default for AppendLog<T> {
    fn default() -> Self {
        AppendLog { chunks: Vec::new(), tail: Vec::new(), chunked: false }
    }
}

impl<T: Clone> AppendLog<T> {
    const CHUNK: usize = 4096;

    /// An empty log whose clones share full chunks.
    pub fn chunked() -> Self {
        AppendLog { chunks: Vec::new(), tail: Vec::new(), chunked: true }
    }

    /// Takes the items out, leaving an empty log of the same kind.
    pub fn take(&mut self) -> Self {
        let empty = AppendLog { chunks: Vec::new(), tail: Vec::new(), chunked: self.chunked };
        std::mem::replace(self, empty)
    }

    pub fn push(&mut self, item: T) {
        self.tail.push(item);
        if self.chunked && self.tail.len() == Self::CHUNK {
            let full = std::mem::replace(&mut self.tail, Vec::with_capacity(Self::CHUNK));
            self.chunks.push(full.into());
        }
    }

    /// Makes room for `n` more items in a plain log (a chunked one grows by chunks anyway).
    pub fn reserve(&mut self, n: usize) {
        if !self.chunked {
            self.tail.reserve(n);
        }
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        if !self.chunked {
            self.tail.extend(items);
            return;
        }
        for i in items {
            self.push(i);
        }
    }

    pub fn len(&self) -> usize {
        self.chunks.len() * Self::CHUNK + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter()).chain(self.tail.iter())
    }

    /// The items as one vector, freeing each chunk once copied (when no clone shares it), so
    /// the copy does not double the memory.
    pub fn into_vec(self) -> Vec<T> {
        if self.chunks.is_empty() {
            return self.tail;
        }
        let mut v = Vec::with_capacity(self.len());
        for chunk in self.chunks {
            v.extend_from_slice(&chunk);
        }
        v.extend(self.tail);
        v
    }

    /// Bytes of the items this log alone holds (the tail), and of those it shares with its
    /// clones (the full chunks).
    pub fn bytes(&self) -> (usize, usize) {
        let item = std::mem::size_of::<T>();
        (self.tail.capacity() * item, self.chunks.len() * Self::CHUNK * item)
    }
}

/// Hashes like a slice of the same items (for items with a derived `Hash`), so a trace hash
/// does not depend on how the items are stored.
impl<T: Hash + Clone> Hash for AppendLog<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for i in self.iter() {
            i.hash(state);
        }
    }
}

#[cfg(test)]
mod append_log_tests {
    use super::*;

    #[test]
    fn clones_share_full_chunks_and_read_like_a_vec() {
        let mut a = AppendLog::chunked();
        let n = 3 * AppendLog::<u64>::CHUNK + 17;
        a.extend(0..n as u64);
        let b = a.clone();
        a.push(99);
        assert_eq!(b.len(), n);
        assert_eq!(a.len(), n + 1);
        assert_eq!(b.iter().copied().collect::<Vec<_>>(), (0..n as u64).collect::<Vec<_>>());
        assert_eq!(b.clone().into_vec(), (0..n as u64).collect::<Vec<_>>());
        assert!(std::rc::Rc::ptr_eq(&a.chunks[1], &b.chunks[1]), "full chunks are shared");
        // Like a slice of items whose `Hash` is derived (integers hash a slice as one byte
        // string instead; the engine hashes committed records, a derived `Hash`).
        #[derive(Clone, Hash)]
        struct Item(u64, u32);
        let mut c = AppendLog::chunked();
        c.extend((0..n as u64).map(|i| Item(i, i as u32 * 3)));
        let mut plain = AppendLog::default();
        plain.extend((0..n as u64).map(|i| Item(i, i as u32 * 3)));
        assert!(plain.chunks.is_empty(), "a plain log does not chunk");
        let mut h0 = TraceHasher::default();
        plain.hash(&mut h0);
        let (mut h1, mut h2) = (TraceHasher::default(), TraceHasher::default());
        c.hash(&mut h1);
        c.clone().into_vec()[..].hash(&mut h2);
        assert_eq!(h1.finish(), h2.finish(), "hashes like a slice");
        assert_eq!(h0.finish(), h2.finish(), "chunked or not");
        let mut d = c.clone();
        assert_eq!(d.take().len(), n);
        d.push(Item(1, 1));
        assert!(d.chunked && d.len() == 1, "take leaves an empty log of the same kind");
    }
}
