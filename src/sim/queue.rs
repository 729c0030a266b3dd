//! The event queue: one priority queue ordered by (time, insertion sequence), so ties fire in the
//! order they were scheduled and a run never depends on heap internals. Timers have keys and can be
//! moved or cancelled in O(log n) instead of leaving dead events behind (style.md habit 4).

use priority_queue::PriorityQueue;
use std::borrow::Borrow;
use std::cmp::Reverse;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// How an entry is found again: plain events by their sequence number, timers by their key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKey<T> {
    Plain(u64),
    Timer(T),
}

/// An entry is identified by its key alone; the payload rides along.
struct Entry<E, T> {
    key: EntryKey<T>,
    event: E,
}

impl<E, T: PartialEq> PartialEq for Entry<E, T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E, T: Eq> Eq for Entry<E, T> {}
impl<E, T: Hash> Hash for Entry<E, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}
impl<E, T> Borrow<EntryKey<T>> for Entry<E, T> {
    fn borrow(&self) -> &EntryKey<T> {
        &self.key
    }
}

/// A small multiplicative hasher: the queue's index only needs speed, and a fixed hash keeps every
/// run identical (the default `RandomState` would not change results, but costs time).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }
}

type Priority = Reverse<(u64, u64)>;

/// Pending events of type `E`, with timers keyed by `T`.
pub struct EventQueue<E, T: Hash + Eq> {
    heap: PriorityQueue<Entry<E, T>, Priority, BuildHasherDefault<FastHasher>>,
    next_seq: u64,
    now_ns: u64,
}

impl<E, T: Hash + Eq + Copy + std::fmt::Debug> Default for EventQueue<E, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, T: Hash + Eq + Copy + std::fmt::Debug> EventQueue<E, T> {
    pub fn new() -> Self {
        EventQueue {
            heap: PriorityQueue::with_default_hasher(),
            next_seq: 0,
            now_ns: 0,
        }
    }

    /// The time of the last event popped.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    fn priority(&mut self, at_ns: u64) -> Priority {
        assert!(
            at_ns >= self.now_ns,
            "event scheduled in the past: at {at_ns} ns, now {} ns",
            self.now_ns
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        Reverse((at_ns, seq))
    }

    /// Schedules a one-off event.
    pub fn schedule(&mut self, at_ns: u64, event: E) {
        let priority = self.priority(at_ns);
        let key = EntryKey::Plain(priority.0 .1);
        self.heap.push(Entry { key, event }, priority);
    }

    /// Sets timer `key` to fire at `at_ns` with `event`, replacing any pending timer of that key.
    pub fn set_timer(&mut self, key: T, at_ns: u64, event: E) {
        let priority = self.priority(at_ns);
        self.heap.remove(&EntryKey::Timer(key));
        self.heap.push(
            Entry {
                key: EntryKey::Timer(key),
                event,
            },
            priority,
        );
    }

    /// Cancels timer `key`; returns whether it was pending.
    pub fn cancel_timer(&mut self, key: T) -> bool {
        self.heap.remove(&EntryKey::Timer(key)).is_some()
    }

    /// When timer `key` fires, if pending.
    pub fn timer_at(&self, key: T) -> Option<u64> {
        self.heap
            .get_priority(&EntryKey::Timer(key))
            .map(|priority| priority.0 .0)
    }

    /// The time of the next event, if any.
    pub fn peek_at(&self) -> Option<u64> {
        self.heap.peek().map(|(_, priority)| priority.0 .0)
    }

    /// Removes and returns the next event; time never goes back.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let (entry, Reverse((at_ns, _))) = self.heap.pop()?;
        assert!(
            at_ns >= self.now_ns,
            "time went back: {at_ns} < {}",
            self.now_ns
        );
        self.now_ns = at_ns;
        Some((at_ns, entry.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_fire_in_insertion_order() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.schedule(10, "b");
        queue.schedule(5, "a");
        queue.schedule(10, "c");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn timers_move_and_cancel() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.set_timer(1, 100, "t1");
        queue.set_timer(2, 50, "t2");
        queue.set_timer(1, 20, "t1-moved");
        assert_eq!(queue.timer_at(1), Some(20));
        assert!(queue.cancel_timer(2));
        assert!(!queue.cancel_timer(2));
        assert_eq!(queue.pop(), Some((20, "t1-moved")));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut queue: EventQueue<&str, u32> = EventQueue::new();
        queue.schedule(10, "a");
        queue.pop();
        queue.schedule(5, "late");
    }
}
