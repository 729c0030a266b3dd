//! A set of small numbers (broker numbers) as bits: membership is one word for up to 64, and
//! finding the next member skips absent ones without reading their slots elsewhere.

#[derive(Debug, Clone, Default)]
pub struct BitSet {
    /// Numbers 0–63, inline: a set of up to 64 costs no extra cache line.
    first: u64,
    /// Numbers from 64 on, 64 per word.
    rest: Vec<u64>,
}

impl BitSet {
    fn word(&self, word_index: usize) -> Option<u64> {
        match word_index {
            0 => Some(self.first),
            _ => self.rest.get(word_index - 1).copied(),
        }
    }

    fn word_mut(&mut self, word_index: usize) -> &mut u64 {
        if word_index == 0 {
            return &mut self.first;
        }
        if self.rest.len() < word_index {
            self.rest.resize(word_index, 0);
        }
        &mut self.rest[word_index - 1]
    }

    pub fn insert(&mut self, index: usize) {
        *self.word_mut(index / 64) |= 1 << (index % 64);
    }

    pub fn remove(&mut self, index: usize) {
        if self.word(index / 64).is_some() {
            *self.word_mut(index / 64) &= !(1 << (index % 64));
        }
    }

    pub fn contains(&self, index: usize) -> bool {
        self.word(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// The smallest index in the set at or above `from`.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        let mut word_index = from / 64;
        let mut word = self.word(word_index)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(word_index * 64 + word.trailing_zeros() as usize);
            }
            word_index += 1;
            word = self.word(word_index)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Inserts and removals answer `next_from` as an ordered set does.
        #[test]
        fn agrees_with_an_ordered_set(
            ops in prop::collection::vec((any::<bool>(), 0usize..200), 0..100),
            probes in prop::collection::vec(0usize..220, 1..20),
        ) {
            let mut set = BitSet::default();
            let mut model = BTreeSet::new();
            for (insert, index) in ops {
                if insert {
                    set.insert(index);
                    model.insert(index);
                } else {
                    set.remove(index);
                    model.remove(&index);
                }
            }
            for from in probes {
                prop_assert_eq!(set.next_from(from), model.range(from..).next().copied());
                prop_assert_eq!(set.contains(from), model.contains(&from));
            }
        }
    }
}
