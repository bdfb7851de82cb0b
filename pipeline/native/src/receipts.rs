//! Receipt IDs (mirrors `pipeline/core/receipts.py`): a UUIDv8 from BLAKE2b-128 of where the event entered Kafka.

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use pyo3::prelude::*;

type Blake2b128 = Blake2b<U16>;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hasher state after `<topic>|<partition>|<offset>|`, copied once per event of the record.
pub fn record_prefix(topic: &str, partition: i32, offset: i64) -> Blake2b128 {
    let mut h = Blake2b128::new();
    h.update(format!("{topic}|{partition}|{offset}|").as_bytes());
    h
}

/// The receipt ID of event `index` (-1: the record itself), given the record's prefix state.
pub fn id_from_prefix(prefix: &Blake2b128, index: i64) -> String {
    let mut h = prefix.clone();
    h.update(index.to_string().as_bytes());
    uuid8(&h.finalize())
}

/// RFC 9562 version 8, variant 10, as `pipeline.core.receipts._uuid8` formats it.
fn uuid8(digest: &[u8]) -> String {
    let mut hex = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        hex[2 * i] = HEX[(b >> 4) as usize];
        hex[2 * i + 1] = HEX[(b & 15) as usize];
    }
    let nibble = |c: u8| -> usize { (c as char).to_digit(16).unwrap_or(0) as usize };
    let variant = b"89ab"[nibble(hex[16]) & 3];
    let mut out = String::with_capacity(36);
    let s = |r: std::ops::Range<usize>| std::str::from_utf8(&hex[r]).unwrap_or_default().to_owned();
    out.push_str(&s(0..8));
    out.push('-');
    out.push_str(&s(8..12));
    out.push('-');
    out.push('8');
    out.push_str(&s(13..16));
    out.push('-');
    out.push(variant as char);
    out.push_str(&s(17..20));
    out.push('-');
    out.push_str(&s(20..32));
    out
}

/// `pipeline.core.receipts.receipt_id`, compiled.
#[pyfunction]
pub fn receipt_id(topic: &str, partition: i32, offset: i64, index: i64) -> String {
    id_from_prefix(&record_prefix(topic, partition, offset), index)
}
