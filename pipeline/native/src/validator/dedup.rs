//! Decided seqs of one source as sorted disjoint intervals (mirrors `pipeline/core/dedup.py`).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    New,
    Duplicate,
    GapExpired,
}

#[derive(Default, Clone, Debug)]
pub struct SeqSet {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub expired_below: i64,
}

impl SeqSet {
    /// Index of the last interval starting at or below `seq` (Python's `bisect_right - 1`).
    fn left_of(&self, seq: i64) -> Option<usize> {
        self.starts.partition_point(|&s| s <= seq).checked_sub(1)
    }

    pub fn check(&self, seq: i64) -> Seen {
        if let Some(i) = self.left_of(seq) {
            if seq <= self.ends[i] {
                return Seen::Duplicate;
            }
        }
        if seq < self.expired_below {
            return Seen::GapExpired;
        }
        Seen::New
    }

    pub fn take(&mut self, seq: i64) -> Seen {
        if let Some(last) = self.ends.last_mut() {
            if Some(seq) == last.checked_add(1) {
                *last = seq;
                return Seen::New;
            }
        }
        let seen = self.check(seq);
        if seen == Seen::New {
            self.add(seq);
        }
        seen
    }

    fn add(&mut self, seq: i64) {
        let i = self.left_of(seq);
        let joins_left = i.is_some_and(|i| Some(self.ends[i]) == seq.checked_sub(1));
        let right = i.map_or(0, |i| i + 1);
        let joins_right = right < self.starts.len() && Some(self.starts[right]) == seq.checked_add(1);
        match (joins_left, joins_right) {
            (true, true) => {
                let i = right - 1;
                self.ends[i] = self.ends[right];
                self.starts.remove(right);
                self.ends.remove(right);
            }
            (true, false) => self.ends[right - 1] = seq,
            (false, true) => self.starts[right] = seq,
            (false, false) => {
                self.starts.insert(right, seq);
                self.ends.insert(right, seq);
            }
        }
    }

    fn open_gaps(&self) -> usize {
        match self.starts.first() {
            None => 0,
            Some(&first) => self.starts.len() - 1 + usize::from(first > self.expired_below.max(1)),
        }
    }

    pub fn close_oldest_gaps(&mut self, max_open: usize) {
        while self.open_gaps() > max_open {
            let lo = self.expired_below.max(1);
            if self.starts[0] <= lo {
                self.starts.remove(0);
                self.ends.remove(0);
            }
            self.expired_below = self.starts[0];
        }
    }

    pub fn heap_bytes(&self) -> usize {
        super::mem::vec_bytes(&self.starts) + super::mem::vec_bytes(&self.ends)
    }
}
