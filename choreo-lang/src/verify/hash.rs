//! The hasher of the model checker's tables.

/// A fast, deterministic hasher for the visited set: states are `u32`
/// words, and SipHash's flood resistance buys nothing here while costing
/// most of a lookup. Multiply-rotate mixing, one 64-bit word at a time.
#[derive(Default, Clone, Copy)]
pub(crate) struct WordHasher(u64);

impl WordHasher {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    fn finish(&self) -> u64 {
        // A final avalanche, so that the low bits (the table index) depend
        // on every input bit.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// `HashMap`s keyed by the model checker's own numbers use this.
pub(crate) type Fast = std::hash::BuildHasherDefault<WordHasher>;

/// The hash of a slice of words (a global state's encoding), two words per
/// mixing step.
pub(crate) fn hash_words(words: &[u32]) -> u64 {
    let mut h = WordHasher::default();
    let mut pairs = words.chunks_exact(2);
    for pair in &mut pairs {
        if let [a, b] = *pair {
            h.mix(u64::from(a) | (u64::from(b) << 32));
        }
    }
    if let [last] = *pairs.remainder() {
        h.mix(u64::from(last) | (1 << 63));
    }
    h.mix(words.len() as u64);
    std::hash::Hasher::finish(&h)
}

/// An interning table that holds only ids: the keys live elsewhere (the
/// explorer's state store, the world's local states), so a key is stored
/// once and a lookup compares against it through a closure. Open
/// addressing with linear probing, at most half full. Each slot keeps the
/// high half of its key's hash, which also picks the slot: growing never
/// rehashes a key, and a probe compares a key only when the stored half
/// matches.
#[derive(Debug, Clone)]
pub(crate) struct IdTable {
    /// (high half of the hash, id); id `u32::MAX` marks an empty slot.
    slots: Vec<(u32, u32)>,
    len: usize,
}

const EMPTY: u32 = u32::MAX;

impl Default for IdTable {
    /// A small table (it grows as ids come).
    fn default() -> IdTable {
        IdTable::with_capacity(8)
    }
}

impl IdTable {
    /// A table for about `expected` ids before it first grows.
    pub fn with_capacity(expected: usize) -> IdTable {
        let n = (expected.max(8) * 2).next_power_of_two();
        IdTable {
            slots: vec![(0, EMPTY); n],
            len: 0,
        }
    }

    /// Empty again, keeping its slots.
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill((0, EMPTY));
            self.len = 0;
        }
    }

    fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The id whose key hashes to `hash` and satisfies `is_key`, if any.
    pub fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let tag = Self::tag(hash);
        let mut i = tag as usize & mask;
        loop {
            let &(t, id) = self.slots.get(i)?;
            if id == EMPTY {
                return None;
            }
            if t == tag && is_key(id) {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` under `hash` (the caller checked with [`IdTable::find`]
    /// that its key is not there).
    pub fn insert(&mut self, hash: u64, id: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let bigger = vec![(0, EMPTY); self.slots.len().max(8) * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            for (tag, id) in old {
                if id != EMPTY {
                    Self::place(&mut self.slots, tag, id);
                }
            }
        }
        Self::place(&mut self.slots, Self::tag(hash), id);
        self.len += 1;
    }

    fn place(slots: &mut [(u32, u32)], tag: u32, id: u32) {
        let mask = slots.len().wrapping_sub(1);
        let mut i = tag as usize & mask;
        while let Some(slot) = slots.get_mut(i) {
            if slot.1 == EMPTY {
                *slot = (tag, id);
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{hash_words, IdTable};

    /// Every key interned once keeps its number through many doublings of
    /// the table, and keys that were never added are not found (also keys
    /// that differ from a present one only in length or a trailing zero).
    #[test]
    fn id_table_finds_each_key_again_after_growing() {
        let keys: Vec<Vec<u32>> = (0..5_000u32)
            .map(|i| {
                (0..(i % 7))
                    .map(|j| i.wrapping_mul(31).wrapping_add(j))
                    .collect()
            })
            .collect();
        let mut table = IdTable::with_capacity(1);
        let mut ids: Vec<u32> = Vec::new();
        for key in &keys {
            let h = hash_words(key);
            let found = table.find(h, |id| keys.get(id as usize) == Some(key));
            let id = match found {
                Some(id) => id,
                None => {
                    let id = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                    table.insert(h, id);
                    id
                }
            };
            ids.push(id);
        }
        for (i, key) in keys.iter().enumerate() {
            let h = hash_words(key);
            let found = table.find(h, |id| keys.get(id as usize) == Some(key));
            assert_eq!(found, ids.get(i).copied(), "key {i}");
        }
        let mut absent = keys.get(10).cloned().unwrap_or_default();
        absent.push(0);
        let h = hash_words(&absent);
        assert_eq!(
            table.find(h, |id| keys.get(id as usize) == Some(&absent)),
            None
        );
    }
}
