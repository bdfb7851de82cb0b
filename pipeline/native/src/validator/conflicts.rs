//! Content digests of a source's last decided events (mirrors `pipeline/core/conflicts.py`).
//!
//! A ring of u64 (8 bytes per event kept, allocated as the source decides events, never above
//! the limit), and runs saying where each was decided: in-order traffic costs one run per record.

use std::collections::VecDeque;

use super::mem;

/// Events `index .. index + len` of the record at `offset` decided seqs `seq .. seq + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub offset: i64,
    pub seq: i64,
    pub index: u32,
    pub len: u32,
}

#[derive(Default, Debug)]
pub struct Window {
    ring: Vec<u64>, // once full (len == limit), a ring whose oldest digest is at `head`
    head: usize,
    pub runs: VecDeque<Run>, // oldest first
    /// Records all of whose events left the window since the caller last took them.
    pub gone: Vec<i64>,
}

/// The first 8 bytes of the SHA-256 of an event's Avro body.
pub fn digest(body: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(body);
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

impl Window {
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Every digest, oldest first.
    pub fn digests(&self) -> impl Iterator<Item = u64> + '_ {
        self.ring[self.head..].iter().chain(&self.ring[..self.head]).copied()
    }

    /// (digest, record offset, index in the record) of decided `seq`, if still in the window.
    pub fn find(&self, seq: i64) -> Option<(u64, i64, u32)> {
        let mut end = self.ring.len();
        for run in self.runs.iter().rev() {
            end -= run.len as usize;
            if run.seq <= seq && seq - run.seq < i64::from(run.len) {
                let k = (seq - run.seq) as usize;
                let at = (self.head + end + k) % self.ring.len();
                return Some((self.ring[at], run.offset, run.index + k as u32));
            }
        }
        None
    }

    /// Remember event `index` of the record at `offset`, which decided `seq`; records come in
    /// offset order. When the window holds `limit` events the oldest leaves it.
    pub fn add(&mut self, limit: usize, offset: i64, index: u32, seq: i64, digest: u64) {
        if self.ring.len() < limit {
            if self.ring.len() == self.ring.capacity() {
                let more = self.ring.capacity().max(8).min(limit - self.ring.len());
                self.ring.reserve_exact(more);
            }
            self.ring.push(digest);
        } else {
            let run = self.runs.front_mut().expect("a full window has runs");
            run.index += 1;
            run.seq += 1;
            run.len -= 1;
            if run.len == 0 {
                let left = run.offset;
                self.runs.pop_front();
                if left != offset && self.runs.front().is_none_or(|r| r.offset != left) {
                    self.gone.push(left);
                }
            }
            self.ring[self.head] = digest;
            self.head = (self.head + 1) % limit;
        }
        if let Some(last) = self.runs.back_mut() {
            if last.offset == offset && last.index + last.len == index && last.seq + i64::from(last.len) == seq {
                last.len += 1;
                return;
            }
        }
        self.runs.push_back(Run { offset, seq, index, len: 1 });
    }

    /// The runs of the record at `offset` still in the window, and how many digests they hold
    /// (the newest ones).
    pub fn record(&self, offset: i64) -> (Vec<Run>, usize) {
        let mut runs: Vec<Run> = self.runs.iter().rev().take_while(|r| r.offset == offset).copied().collect();
        runs.reverse();
        let n = runs.iter().map(|r| r.len as usize).sum();
        (runs, n)
    }

    // -- restore --

    /// Put back what `record` returned for `offset`, then keep the newest `limit`; records this
    /// pushes out whole go to `gone` (and leave it when their tombstone is applied).
    pub fn load(&mut self, limit: usize, offset: i64, items: Vec<(i64, u32, i64, u64)>) {
        if self.runs.back().is_some_and(|r| r.offset >= offset) {
            let mut all: Vec<_> = self.items().into_iter().filter(|it| it.0 != offset).collect();
            all.extend(items);
            self.rebuild(limit, all);
            return;
        }
        for (offset, index, seq, digest) in items {
            self.add(limit, offset, index, seq, digest);
        }
    }

    /// Forget the events of the record at `offset` (its tombstone was applied).
    pub fn drop_record(&mut self, limit: usize, offset: i64) {
        if let Some(i) = self.gone.iter().position(|&g| g == offset) {
            self.gone.remove(i);
        }
        if self.runs.iter().any(|r| r.offset == offset) {
            let all = self.items().into_iter().filter(|it| it.0 != offset).collect();
            self.rebuild(limit, all);
        }
    }

    /// Every event kept as (offset, index, seq, digest), oldest first.
    pub fn items(&self) -> Vec<(i64, u32, i64, u64)> {
        let mut digests = self.digests();
        let mut out = Vec::with_capacity(self.ring.len());
        for run in &self.runs {
            for i in 0..run.len {
                out.push((run.offset, run.index + i, run.seq + i64::from(i), digests.next().expect("a digest per event")));
            }
        }
        out
    }

    fn rebuild(&mut self, limit: usize, mut items: Vec<(i64, u32, i64, u64)>) {
        items.sort_by_key(|it| (it.0, it.1));
        let gone = std::mem::take(&mut self.gone);
        *self = Window { gone, ..Window::default() };
        for (offset, index, seq, digest) in items {
            self.add(limit, offset, index, seq, digest);
        }
    }

    pub fn heap_bytes(&self) -> usize {
        mem::vec_bytes(&self.ring) + mem::alloc(self.runs.capacity() * std::mem::size_of::<Run>())
            + mem::vec_bytes(&self.gone)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Python's `base64.b64encode`.
pub fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { B64[(n >> shift) as usize & 63] } else { b'=' });
        }
    }
}

/// The bytes of standard base64 with padding (Python's `base64.b64decode` of what `base64` wrote).
pub fn unbase64(text: &str) -> Result<Vec<u8>, String> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(4) {
        return Err(format!("base64 of {} characters", t.len()));
    }
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for chunk in t.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in chunk {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    pad += 1;
                    0
                }
                _ => return Err(format!("not base64: {:?}", c as char)),
            };
            n = (n << 6) | u32::from(v);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad.min(2)]);
    }
    Ok(out)
}
