//! A bounded memory of answers a long run looks up again (which trees reach a raw
//! mode, what a commit's seal states, which digests a parent's seals hold): the one
//! mechanism by which a run over any history keeps such answers without keeping one
//! per commit.
//!
//! Invariants: a memory, never a record: an answer forgotten is computed again, so
//! only speed depends on what is kept. It keeps two generations: lookups see both;
//! a turn that finds the newer past its bound makes it the older and drops the older.
//! What was answered since the last turn is never forgotten mid-use, and the memory
//! holds at most twice the bound plus what one use adds.

use std::collections::HashMap;
use std::hash::Hash;

pub struct Generations<K, V> {
    bound: usize,
    newer: HashMap<K, V>,
    older: HashMap<K, V>,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    pub fn new(bound: usize) -> Self {
        Generations {
            bound,
            newer: HashMap::new(),
            older: HashMap::new(),
        }
    }

    /// Drops the older generation if the newer is past the bound. Called where one
    /// use starts (a walk, a lookup), never in the middle of one.
    pub fn turn(&mut self) {
        if self.newer.len() > self.bound {
            self.older = std::mem::take(&mut self.newer);
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.newer.get(key).or_else(|| self.older.get(key))
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.newer.insert(key, value);
    }

    /// The answer for `key`, to change in place: brought into the newer generation,
    /// or started from `V::default()`.
    pub fn entry(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let kept = self.older.remove(&key);
        self.newer
            .entry(key)
            .or_insert_with(|| kept.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::Generations;

    /// One use past the bound, then the uses after it: nothing the last use answered
    /// is forgotten (what made a hostile tree of 2^16+ subtrees cost two whole walks
    /// per commit), and the memory still turns over.
    #[test]
    fn a_use_past_the_bound_is_remembered_by_the_next() {
        let mut memo: Generations<u32, bool> = Generations::new(10);
        memo.turn();
        for k in 0..25 {
            memo.insert(k, k % 2 == 0);
        }
        memo.turn();
        assert!((0..25).all(|k| memo.get(&k) == Some(&(k % 2 == 0))));
        memo.insert(100, true);
        memo.turn();
        assert_eq!(memo.get(&3), Some(&false), "still under the bound: kept");
        for k in 200..220 {
            memo.insert(k, true);
        }
        memo.turn();
        memo.turn();
        assert_eq!(memo.get(&3), None, "two generations later: gone");
        assert_eq!(memo.get(&210), Some(&true));
    }

    #[test]
    fn an_entry_changed_in_place_survives_the_turn_that_drops_its_generation() {
        let mut memo: Generations<u32, Vec<u32>> = Generations::new(2);
        memo.entry(1).push(10);
        for k in 2..6 {
            memo.insert(k, Vec::new());
        }
        memo.turn();
        memo.entry(1).push(11);
        for k in 6..10 {
            memo.insert(k, Vec::new());
        }
        memo.turn();
        assert_eq!(memo.get(&1), Some(&vec![10, 11]));
        assert_eq!(memo.get(&2), None);
    }
}
