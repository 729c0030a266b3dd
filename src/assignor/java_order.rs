//! Java's `HashMap`/`HashSet` iteration order, emulated without hashing anything ourselves.
//!
//! Several of Kafka's assignors walk hash maps, so their answers depend on that order. Java's
//! order is fully determined: a power-of-two table, bucket `(h ^ (h >>> 16)) & (capacity - 1)`,
//! entries of one bucket in insertion order (resizing splits buckets without reordering them),
//! and the table doubles once the size exceeds three quarters of the capacity. This module keeps
//! the keys with their Java hash and insertion sequence and sorts by (bucket, sequence) when
//! asked. Model limit: buckets of eight or more entries become trees in Java; their order is not
//! emulated, and with Kafka's key types such crowding does not arise at these sizes.

/// `String.hashCode`: over UTF-16 code units, wrapping.
pub fn string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `TopicPartition.hashCode`.
pub fn topic_partition_hash(topic: &str, partition: u32) -> i32 {
    let partition = partition as i32;
    31i32
        .wrapping_add(partition)
        .wrapping_mul(31)
        .wrapping_add(string_hash(topic))
}

/// `Uuid.hashCode` of the topic ids the conformance harness gives topics: `Uuid(0, rank + 1)`.
pub fn topic_id_hash(rank: usize) -> i32 {
    let bits = rank as i64 + 1;
    ((bits >> 32) as i32) ^ (bits as i32)
}

/// `HashMap.tableSizeFor`: the smallest power of two at least `wanted`, at least 1.
fn table_size_for(wanted: usize) -> usize {
    wanted.max(1).next_power_of_two().min(1 << 30)
}

/// The table length `new HashSet<>(collection)` starts with for `size` elements.
fn copy_table_size(size: usize) -> usize {
    table_size_for(((size as f32 / 0.75f32) as usize + 1).max(16))
}

/// The size beyond which a table of `capacity` doubles (load factor 0.75).
fn resize_threshold(capacity: usize) -> usize {
    (capacity as f32 * 0.75f32) as usize
}

#[derive(Debug, Clone)]
struct Slot<K> {
    key: K,
    hash: i32,
    sequence: u64,
}

/// The key set of one Java hash map, in the order Java would iterate it.
#[derive(Debug, Clone)]
pub struct JavaHashOrder<K> {
    /// Table length once allocated; before, the length the first insertion will allocate.
    capacity: usize,
    slots: Vec<Slot<K>>,
    next_sequence: u64,
}

impl<K: PartialEq + Clone> JavaHashOrder<K> {
    /// `new HashMap<>()` / `new HashSet<>()`.
    pub fn new() -> Self {
        Self::with_table(16)
    }

    /// `new HashSet<>(collection)` of `size` elements, before they are added.
    pub fn for_copy_of(size: usize) -> Self {
        Self::with_table(copy_table_size(size))
    }

    fn with_table(capacity: usize) -> Self {
        JavaHashOrder {
            capacity,
            slots: Vec::new(),
            next_sequence: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `put`/`add`: a key already present keeps its place. Equal keys have equal hashes, so
    /// only keys with this hash are compared (a group of 1,000 member ids otherwise compares
    /// strings a million times per assignment).
    pub fn insert(&mut self, key: K, hash: i32) -> bool {
        if (self.slots.iter()).any(|slot| slot.hash == hash && slot.key == key) {
            return false;
        }
        self.slots.push(Slot {
            key,
            hash,
            sequence: self.next_sequence,
        });
        self.next_sequence += 1;
        if self.slots.len() > resize_threshold(self.capacity) && self.capacity < (1 << 30) {
            self.capacity *= 2;
        }
        true
    }

    /// `remove`: the table never shrinks, so the others keep their order.
    pub fn remove(&mut self, key: &K) -> bool {
        let before = self.slots.len();
        self.slots.retain(|slot| slot.key != *key);
        before != self.slots.len()
    }

    fn bucket(&self, hash: i32) -> usize {
        bucket(hash, self.capacity)
    }

    /// The keys in Java's iteration order.
    pub fn ordered(&self) -> Vec<K> {
        let mut order: Vec<&Slot<K>> = self.slots.iter().collect();
        order.sort_by_key(|slot| (self.bucket(slot.hash), slot.sequence));
        order.into_iter().map(|slot| slot.key.clone()).collect()
    }

    /// `iterator().next()`.
    pub fn first(&self) -> Option<K> {
        self.slots
            .iter()
            .min_by_key(|slot| (self.bucket(slot.hash), slot.sequence))
            .map(|slot| slot.key.clone())
    }
}

impl<K: PartialEq + Clone> Default for JavaHashOrder<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of a hash in a table of `capacity` (a power of two): `(h ^ (h >>> 16)) & (n - 1)`.
fn bucket(hash: i32, capacity: usize) -> usize {
    let spread = (hash as u32) ^ ((hash as u32) >> 16);
    (spread as usize) & (capacity - 1)
}

/// Order of `new HashMap<>()` filled with distinct keys with these hashes, in this order, as
/// indices into `hashes`. With distinct keys the table's final length depends only on their
/// number, so no key is compared with another (`JavaHashOrder::insert` would, for each one).
pub fn distinct_keys_map_order(hashes: &[i32]) -> Vec<usize> {
    distinct_keys_order(hashes, 16)
}

/// As [`distinct_keys_map_order`], for a table that starts with `capacity` buckets.
fn distinct_keys_order(hashes: &[i32], mut capacity: usize) -> Vec<usize> {
    while hashes.len() > resize_threshold(capacity) && capacity < (1 << 30) {
        capacity *= 2;
    }
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&index| (bucket(hashes[index], capacity), index));
    order
}

/// Order of `new HashSet<>(list)` of distinct integers (an `Integer` hashes to itself).
pub fn integer_copy_order(values: &[u32]) -> Vec<u32> {
    debug_assert!(
        {
            let mut sorted = values.to_vec();
            sorted.sort_unstable();
            sorted.windows(2).all(|pair| pair[0] != pair[1])
        },
        "integer_copy_order takes distinct values"
    );
    let hashes: Vec<i32> = values.iter().map(|&value| value as i32).collect();
    (distinct_keys_order(&hashes, copy_table_size(values.len())).into_iter())
        .map(|index| values[index])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("hello"), 99_162_322);
        assert_eq!(string_hash("consumer-group-member-long-id"), {
            let mut h: i32 = 0;
            for b in "consumer-group-member-long-id".bytes() {
                h = h.wrapping_mul(31).wrapping_add(i32::from(b));
            }
            h
        });
    }

    /// Order of `new HashMap<>()` filled with these strings in this order.
    fn string_map_order<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut order = JavaHashOrder::new();
        for key in keys {
            order.insert(key, string_hash(key));
        }
        order.ordered()
    }

    #[test]
    fn distinct_keys_order_as_inserted_one_by_one() {
        // Sizes around the table's growth points (12, 24, 48, ... entries).
        for size in [0usize, 1, 12, 13, 24, 25, 48, 49, 200, 1000, 1537] {
            let ids: Vec<String> = (0..size)
                .map(|i| format!("consumer-{}-{}", i * 7, i))
                .collect();
            let hashes: Vec<i32> = ids.iter().map(|id| string_hash(id)).collect();
            let expected = string_map_order(ids.iter().map(String::as_str));
            let ours: Vec<&str> = (distinct_keys_map_order(&hashes).into_iter())
                .map(|index| ids[index].as_str())
                .collect();
            assert_eq!(ours, expected, "{size} keys");
        }
    }

    #[test]
    fn distinct_integers_order_as_inserted_one_by_one() {
        let mut seed = 7u64;
        for size in [0usize, 1, 2, 11, 12, 13, 100, 2500, 5000] {
            // Distinct values spread over four times their number, in a shuffled order.
            let mut values: Vec<u32> = (0..size as u32 * 4).step_by(4).collect();
            for value in values.iter_mut() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                *value += (seed >> 62) as u32;
            }
            for index in (1..values.len()).rev() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                values.swap(index, (seed >> 33) as usize % (index + 1));
            }
            let mut expected = JavaHashOrder::for_copy_of(values.len());
            for &value in &values {
                expected.insert(value, value as i32);
            }
            assert_eq!(
                integer_copy_order(&values),
                expected.ordered(),
                "{size} values"
            );
        }
    }

    #[test]
    fn integers_wrap_around_the_table() {
        // A 3-element HashSet has 16 buckets: 17 lands in bucket 1, after 0 and before 5.
        assert_eq!(integer_copy_order(&[0, 5, 17]), vec![0, 17, 5]);
    }

    #[test]
    fn table_grows_past_three_quarters() {
        let mut order = JavaHashOrder::new();
        for value in 0..13u32 {
            order.insert(value, value as i32 * 16);
        }
        // 13 > 12 entries: the table has 32 buckets, so even multiples of 16 go to bucket 0 and
        // odd ones to bucket 16, each group in insertion order.
        let expected: Vec<u32> = (0..13).step_by(2).chain((1..13).step_by(2)).collect();
        assert_eq!(order.ordered(), expected);
    }
}
