//! The producer's lookahead (`Producer::next_trigger_ns`) plays the pending records forward on
//! a copy of the open batches they touch. It runs at every producer wake-up over a few dozen
//! records, so the copy lives here between runs: a dense per-partition index finds a
//! partition's entry without a search and without allocating.

use super::batch::BatchBuilder;

/// A partition's open batches as the lookahead sees them: the last batch's builder (None: no
/// open batch) and how many batches its deque holds.
pub type OpenBatches = (Option<BatchBuilder>, usize);

#[derive(Debug, Default)]
pub struct LookaheadScratch {
    /// Per partition: 1 + its index in `entries`, or 0 when this run has not touched it.
    slot_of_partition: Vec<u32>,
    entries: Vec<(u32, OpenBatches)>,
}

impl LookaheadScratch {
    /// The partition's entry, made by `init` the first time this run touches it.
    pub fn entry(
        &mut self,
        partition: u32,
        init: impl FnOnce() -> OpenBatches,
    ) -> &mut OpenBatches {
        let index = partition as usize;
        if index >= self.slot_of_partition.len() {
            self.slot_of_partition.resize(index + 1, 0);
        }
        let slot = match self.slot_of_partition[index] {
            0 => {
                self.entries.push((partition, init()));
                self.slot_of_partition[index] = self.entries.len() as u32;
                self.entries.len() - 1
            }
            slot => slot as usize - 1,
        };
        &mut self.entries[slot].1
    }

    /// Forgets this run's entries (only the touched partitions' slots are reset).
    pub fn clear(&mut self) {
        for (partition, _) in self.entries.drain(..) {
            self.slot_of_partition[partition as usize] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_made_once_per_run_and_forgotten_by_clear() {
        let mut scratch = LookaheadScratch::default();
        scratch.entry(7, || (None, 1)).1 += 1;
        // Already touched: `init` is not called again and the change is kept.
        assert_eq!(scratch.entry(7, || (None, 100)).1, 2);
        assert_eq!(scratch.entry(2, || (None, 5)).1, 5);
        scratch.clear();
        assert_eq!(scratch.entry(7, || (None, 9)).1, 9);
        assert_eq!(scratch.entries.len(), 1);
        assert_eq!(scratch.slot_of_partition[2], 0);
    }
}
