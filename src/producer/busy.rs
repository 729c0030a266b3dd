//! Which of a producer's connections may have requests in flight: a bit per broker. A bit is set
//! when a request goes out and cleared by a walk that finds the connection idle, so the set always
//! holds every busy connection and perhaps a few idle ones. The walks over requests in flight at
//! every wake-up visit only these: reading each connection's queue (30 in bench-wide, nearly all
//! idle) missed the cache more than anything else a producer does.

#[derive(Debug, Clone, Default)]
pub struct BusyConnections {
    words: Vec<u64>,
}

impl BusyConnections {
    pub fn insert(&mut self, index: usize) {
        let word = index / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (index % 64);
    }

    pub fn remove(&mut self, index: usize) {
        if let Some(word) = self.words.get_mut(index / 64) {
            *word &= !(1 << (index % 64));
        }
    }

    pub fn contains(&self, index: usize) -> bool {
        self.words
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// The smallest index in the set at or above `from`.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        let mut word_index = from / 64;
        let mut word = self.words.get(word_index)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(word_index * 64 + word.trailing_zeros() as usize);
            }
            word_index += 1;
            word = *self.words.get(word_index)?;
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
            let mut set = BusyConnections::default();
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
