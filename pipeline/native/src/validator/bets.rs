//! Open bet references, compact (mirrors `bets`, `stakes`, `refunded`, `bet_batches` and
//! `bet_expiry` of `pipeline/core/state.py`).
//!
//! Each batch's keys (source number + bet_ref bytes) are stored once, end to end in one
//! buffer, with each bet's stake (8 bytes) beside it; the lookup table holds only (batch slot,
//! key number) pairs, 8 bytes, hashed and compared through the buffer. What has been refunded
//! is kept only for refunded bets, in a side map from the same 8-byte handle. The Python state
//! keeps a tuple of two strings per bet, plus list and dict entries and a stake: about 325
//! bytes per open bet against about 58 here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::mem;

/// The stake of a bet restored from an entry written before stakes were kept: refunds on it
/// are not bounded (Python: no `stakes` entry).
pub const UNKNOWN_STAKE: i64 = i64::MIN;

struct BetBatch {
    offset: i64,
    keys: Vec<u8>,    // each key: source number (u32 LE) then the bet_ref's UTF-8
    ends: Vec<u32>,   // end of each key in `keys`
    stakes: Vec<i64>, // each key's stake, kopecks (or UNKNOWN_STAKE)
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
    refunded: hashbrown::HashMap<u64, i64>,  // `refunded`: table entry -> kopecks refunded so far
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

    fn batch_of(&self, entry: u64) -> &BetBatch {
        self.slots[(entry >> 32) as usize].as_ref().expect("live slot")
    }

    /// The open bet `key`'s handle (its table entry), stable while it is open.
    pub fn find(&self, key: &[u8]) -> Option<u64> {
        let h = self.hasher.hash_one(key);
        self.table.find(h, |&e| self.key_at(e) == key).copied()
    }

    /// (stake, refunded so far) of an open bet, or None if its stake is unknown (`refundable`).
    pub fn refundable(&self, entry: u64) -> Option<(i64, i64)> {
        let stake = self.batch_of(entry).stakes[entry as u32 as usize];
        (stake != UNKNOWN_STAKE).then(|| (stake, self.refunded.get(&entry).copied().unwrap_or(0)))
    }

    /// An accepted REFUND of an open bet whose stake is known (`refund`).
    pub fn refund(&mut self, entry: u64, amount: i64) {
        *self.refunded.entry(entry).or_insert(0) += amount;
    }

    /// What a refund entry names: the placing batch's offset, the bet_ref, refunded so far.
    pub fn refund_parts(&self, entry: u64) -> (i64, &[u8], i64) {
        let batch = self.batch_of(entry);
        (batch.offset, &batch.key(entry as u32)[4..], self.refunded.get(&entry).copied().unwrap_or(0))
    }

    /// Replay a refund entry: the bet `bet_ref` of the batch at `offset` (whose keys share one
    /// source) has `refunded` kopecks refunded, or (None) nothing; ignored unless that bet is open.
    pub fn apply_refund(&mut self, offset: i64, bet_ref: &[u8], refunded: Option<i64>) {
        let Some(&slot) = self.by_offset.get(&offset) else { return };
        let batch = self.slots[slot as usize].as_ref().expect("live slot");
        if batch.ends.is_empty() {
            return;
        }
        let mut key = batch.key(0)[..4].to_vec();
        key.extend_from_slice(bet_ref);
        let Some(entry) = self.find(&key) else { return };
        if self.batch_of(entry).offset != offset {
            return;
        }
        match refunded {
            Some(r) => {
                self.refunded.insert(entry, r);
            }
            None => {
                self.refunded.remove(&entry);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    fn new_slot(&mut self, offset: i64) -> u32 {
        let batch = BetBatch { offset, keys: Vec::new(), ends: Vec::new(), stakes: Vec::new() };
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

    /// `bets[key] = offset`, `stakes[key] = stake` for the batch at `offset` being built (until
    /// `finish`). A key placed again elsewhere starts with nothing refunded.
    pub fn place(&mut self, offset: i64, key: &[u8], stake: i64) {
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
        batch.stakes.push(stake);
        let entry = (u64::from(slot) << 32) | u64::from(batch.ends.len() as u32 - 1);
        let h = self.hasher.hash_one(key);
        let Self { table, slots, hasher, refunded, .. } = self;
        let key_at = |e: &u64| slots[(e >> 32) as usize].as_ref().expect("live slot").key(*e as u32);
        match table.find_mut(h, |e| key_at(e) == key) {
            Some(e) => {
                // the same bet placed again (a replayed entry): keep what was refunded on it only
                // if it is placed at the same offset
                if let Some(r) = refunded.remove(e) {
                    if slots[(*e >> 32) as usize].as_ref().expect("live slot").offset == offset {
                        refunded.insert(entry, r);
                    }
                }
                *e = entry;
            }
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
        batch.stakes.shrink_to_fit();
        let offset = batch.offset;
        // A second batch at the same offset replaces the first in `bet_batches`; the first's keys
        // keep pointing at that offset, as in Python (its slot stays, orphaned).
        self.by_offset.insert(offset, slot);
        self.expiry.push(Reverse((newest_us, offset)));
    }

    /// Forget the batch at `offset`: its keys that still point at that offset. Returns the
    /// bet_refs of those that had refunds, in the batch's order.
    pub fn drop_batch(&mut self, offset: i64) -> Vec<Vec<u8>> {
        let mut refunded = Vec::new();
        let Some(slot) = self.by_offset.remove(&offset) else { return refunded };
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
                    if !self.refunded.is_empty() && self.refunded.remove(&e).is_some() {
                        refunded.push(key[4..].to_vec());
                    }
                }
            }
        }
        self.free.push(slot);
        refunded
    }

    /// Pop expired batches (newest bet before `older_than_us`); returns their offsets in order,
    /// each with the bet_refs of its refunded bets.
    pub fn expire(&mut self, older_than_us: i64) -> Vec<(i64, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        while let Some(&Reverse((t, offset))) = self.expiry.peek() {
            if t >= older_than_us {
                break;
            }
            self.expiry.pop();
            let refunded = self.drop_batch(offset);
            out.push((offset, refunded));
        }
        out
    }

    /// Open bets with a refund.
    pub fn refunded_len(&self) -> usize {
        self.refunded.len()
    }

    /// Every open bet as (source number, bet_ref, offset, stake, refunded), for tests.
    pub fn entries(&self) -> Vec<(u32, String, i64, Option<i64>, i64)> {
        self.table.iter().map(|&e| {
            let key = self.key_at(e);
            let src = u32::from_le_bytes(key[..4].try_into().expect("4 bytes"));
            let batch = self.batch_of(e);
            let stake = batch.stakes[e as u32 as usize];
            (src, String::from_utf8_lossy(&key[4..]).into_owned(), batch.offset,
             (stake != UNKNOWN_STAKE).then_some(stake), self.refunded.get(&e).copied().unwrap_or(0))
        }).collect()
    }

    /// Bytes allocated (allocator's granularity included), not counting the struct itself.
    pub fn heap_bytes(&self) -> usize {
        let batches: usize = self.slots.iter().flatten()
            .map(|b| mem::vec_bytes(&b.keys) + mem::vec_bytes(&b.ends) + mem::vec_bytes(&b.stakes)).sum();
        batches + mem::vec_bytes(&self.slots) + mem::vec_bytes(&self.free)
            + mem::map_bytes::<(i64, u32)>(self.by_offset.capacity())
            + mem::map_bytes::<(u64, i64)>(self.refunded.capacity())
            + mem::map_bytes::<u64>(self.table.capacity())
            + mem::alloc(self.expiry.capacity() * 16)
    }
}
