//! Avro writers: the parts of ReceiptBatch and ArchiveBatch (mirrors `schemas/raw.py`).

use super::decode::{Event, KINDS};
pub use crate::avro_read::{put_bytes as string, put_long as long};

pub fn opt_string(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(2);
            string(out, s);
        }
    }
}

pub fn opt_long(out: &mut Vec<u8>, n: Option<i64>) {
    match n {
        None => out.push(0),
        Some(n) => {
            out.push(2);
            long(out, n);
        }
    }
}

/// One Receipt: the event's echo fields (None for a record-level rejection) and the verdict:
/// REJECTED with `rejection`, else DUPLICATE with `duplicate` (its detail), else ACCEPTED.
pub struct Receipt<'a> {
    pub event: Option<&'a Event<'a>>,
    pub receipt_id: &'a [u8],
    pub rejection: Option<(&'a str, &'a str)>, // (reason, detail)
    pub duplicate: Option<&'a str>,
    pub first_receipt_id: Option<&'a [u8]>,
}

impl<'a> Receipt<'a> {
    pub fn new(event: Option<&'a Event<'a>>, receipt_id: &'a [u8], rejection: Option<(&'a str, &'a str)>) -> Self {
        Receipt { event, receipt_id, rejection, duplicate: None, first_receipt_id: None }
    }
}

pub fn receipt(out: &mut Vec<u8>, r: &Receipt<'_>) {
    let ev = r.event;
    opt_long(out, ev.map(|e| e.seq));
    opt_string(out, ev.map(|e| e.operator_ref.as_bytes()));
    // ReceiptStatus ACCEPTED=0, REJECTED=1, DUPLICATE=2 (zig-zag coded)
    out.push(if r.rejection.is_some() { 2 } else if r.duplicate.is_some() { 4 } else { 0 });
    string(out, r.receipt_id);
    opt_string(out, r.rejection.map(|(reason, _)| reason.as_bytes()));
    opt_string(out, r.rejection.map(|(_, detail)| detail).or(r.duplicate).map(str::as_bytes));
    opt_string(out, ev.map(|e| KINDS[e.kind as usize].as_bytes()));
    opt_long(out, ev.map(|e| e.amount));
    opt_long(out, ev.map(|e| e.occurred_at_us));
    opt_string(out, r.first_receipt_id);
}

/// An array of `count` items already written to `items`, closed by the empty block.
pub fn array(out: &mut Vec<u8>, count: usize, items: &[u8]) {
    if count > 0 {
        long(out, count as i64);
        out.extend_from_slice(items);
    }
    out.push(0);
}
