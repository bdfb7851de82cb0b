//! Open bet references, compact (mirrors `bets`, `bet_batches` and `bet_expiry` of
//! `pipeline/core/state.py`).
//!
//! Each batch's keys (source number + bet_ref bytes) are stored once, end to end in one
//! buffer; the lookup table holds only (batch slot, key number) pairs, 8 bytes, hashed and
//! compared through the buffer. The Python state keeps a tuple of two strings per bet, plus a
//! list entry and a dict entry: about 260 bytes per open bet against about 50 here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::mem;

struct BetBatch {
    offset: i64,
    keys: Vec<u8>,  // each key: source number (u32 LE) then the bet_ref's UTF-8
    ends: Vec<u32>, // end of each key in `keys`
}

impl BetBatch {
    fn key(&self, i: u32) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i as usize - 1] as usize };
        &self.keys[start..self.ends[i as usize] as usize]
    }
}

#[derive(Default)]
pub struct Bets {
    slots: Vec<Option<BetBatch>>,
    free: Vec<u32>,
    by_offset: HashMap<i64, u32>, // `bet_batches`: offset -> slot (orphaned slots are not here)
    table: HashTable<u64>,        // `bets`: slot << 32 | key number, keyed by the key's bytes
    hasher: DefaultHashBuilder,
    expiry: BinaryHeap<Reverse<(i64, i64)>>, // `bet_expiry`: (newest bet time, offset)
    open: Option<u32>,                       // the batch being built by the current record
}

pub fn key_of(source: u32, bet_ref: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(bet_ref.as_bytes());
}

impl Bets {
    fn key_at(&self, entry: u64) -> &[u8] {
        let batch = self.slots[(entry >> 32) as usize].as_ref().expect("live slot");
        batch.key(entry as u32)
    }

    fn find(&self, key: &[u8]) -> Option<u64> {
        let h = self.hasher.hash_one(key);
        self.table.find(h, |&e| self.key_at(e) == key).copied()
    }

    /// The offset of the batch that placed `key` (`bets.get(key)`).
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.find(key).map(|e| self.slots[(e >> 32) as usize].as_ref().expect("live slot").offset)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    fn new_slot(&mut self, offset: i64) -> u32 {
        let batch = BetBatch { offset, keys: Vec::new(), ends: Vec::new() };
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(batch);
                slot
            }
            None => {
                self.slots.push(Some(batch));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// `bets[key] = offset` for the batch at `offset` being built (`begin` .. `finish`).
    pub fn place(&mut self, offset: i64, key: &[u8]) {
        let slot = match self.open {
            Some(slot) => slot,
            None => {
                let slot = self.new_slot(offset);
                self.open = Some(slot);
                slot
            }
        };
        let batch = self.slots[slot as usize].as_mut().expect("open slot");
        batch.keys.extend_from_slice(key);
        batch.ends.push(batch.keys.len() as u32);
        let entry = (u64::from(slot) << 32) | u64::from(batch.ends.len() as u32 - 1);
        let h = self.hasher.hash_one(key);
        let Self { table, slots, hasher, .. } = self;
        let key_at = |e: &u64| slots[(e >> 32) as usize].as_ref().expect("live slot").key(*e as u32);
        match table.find_mut(h, |e| key_at(e) == key) {
            Some(e) => *e = entry,
            None => {
                table.insert_unique(h, entry, |e| hasher.hash_one(key_at(e)));
            }
        }
    }

    /// Register the batch built since the last `finish` (`bet_batches[offset] = keys`, heap push).
    pub fn finish(&mut self, newest_us: i64) {
        let Some(slot) = self.open.take() else { return };
        let batch = self.slots[slot as usize].as_mut().expect("open slot");
        batch.keys.shrink_to_fit();
        batch.ends.shrink_to_fit();
        let offset = batch.offset;
        // A second batch at the same offset replaces the first in `bet_batches`; the first's keys
        // keep pointing at that offset, as in Python (its slot stays, orphaned).
        self.by_offset.insert(offset, slot);
        self.expiry.push(Reverse((newest_us, offset)));
    }

    /// Forget the batch at `offset`: its keys that still point at that offset.
    pub fn drop_batch(&mut self, offset: i64) {
        let Some(slot) = self.by_offset.remove(&offset) else { return };
        let batch = self.slots[slot as usize].take().expect("live slot");
        for i in 0..batch.ends.len() as u32 {
            let key = batch.key(i);
            let h = self.hasher.hash_one(key);
            let slots = &self.slots;
            // the batch's own entries point at `slot`, now empty: compare them by its buffer
            let found = self.table.find_entry(h, |&e| {
                if (e >> 32) as u32 == slot { batch.key(e as u32) == key } else {
                    slots[(e >> 32) as usize].as_ref().expect("live slot").key(e as u32) == key
                }
            });
            if let Ok(entry) = found {
                let e = *entry.get();
                let owner_offset = if (e >> 32) as u32 == slot { offset } else {
                    slots[(e >> 32) as usize].as_ref().expect("live slot").offset
                };
                if owner_offset == offset {
                    entry.remove();
                }
            }
        }
        self.free.push(slot);
    }

    /// Pop expired batches (newest bet before `older_than_us`); returns their offsets in order.
    pub fn expire(&mut self, older_than_us: i64) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(&Reverse((t, offset))) = self.expiry.peek() {
            if t >= older_than_us {
                break;
            }
            self.expiry.pop();
            self.drop_batch(offset);
            out.push(offset);
        }
        out
    }

    /// Every open bet as (source number, bet_ref, offset), for tests.
    pub fn entries(&self) -> Vec<(u32, String, i64)> {
        self.table.iter().map(|&e| {
            let key = self.key_at(e);
            let src = u32::from_le_bytes(key[..4].try_into().expect("4 bytes"));
            let offset = self.slots[(e >> 32) as usize].as_ref().expect("live slot").offset;
            (src, String::from_utf8_lossy(&key[4..]).into_owned(), offset)
        }).collect()
    }

    /// Bytes allocated (allocator's granularity included), not counting the struct itself.
    pub fn heap_bytes(&self) -> usize {
        let batches: usize = self.slots.iter().flatten()
            .map(|b| mem::vec_bytes(&b.keys) + mem::vec_bytes(&b.ends)).sum();
        batches + mem::vec_bytes(&self.slots) + mem::vec_bytes(&self.free)
            + mem::map_bytes::<(i64, u32)>(self.by_offset.capacity())
            + mem::map_bytes::<u64>(self.table.capacity())
            + mem::alloc(self.expiry.capacity() * 16)
    }
}
