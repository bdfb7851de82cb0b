//! Receipt IDs (mirrors `pipeline/core/receipts.py`): a UUIDv8 from BLAKE2b-128 of where the event entered Kafka.

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use pyo3::prelude::*;
use std::io::Write;

type Blake2b128 = Blake2b<U16>;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Hasher state after `<topic>|<partition>|<offset>|`, copied once per event of the record.
pub fn record_prefix(topic: &str, partition: i32, offset: i64) -> Blake2b128 {
    let mut h = Blake2b128::new();
    h.update(format!("{topic}|{partition}|{offset}|").as_bytes());
    h
}

/// A receipt ID as its 36 ASCII bytes (the UUID's text form).
pub type ReceiptId = [u8; 36];

/// The receipt ID of event `index` (-1: the record itself), given the record's prefix state.
/// No allocation: this runs once per event.
pub fn id_from_prefix(prefix: &Blake2b128, index: i64) -> ReceiptId {
    let mut h = prefix.clone();
    let mut digits = [0u8; 20]; // the longest i64 in decimal, with its sign
    let mut cursor = std::io::Cursor::new(&mut digits[..]);
    write!(cursor, "{index}").expect("an i64 fits in 20 bytes");
    let len = cursor.position() as usize;
    h.update(&digits[..len]);
    uuid8(&h.finalize())
}

/// RFC 9562 version 8, variant 10, as `pipeline.core.receipts._uuid8` formats it.
fn uuid8(digest: &[u8]) -> ReceiptId {
    let mut out = [b'-'; 36];
    let mut o = 0;
    for (i, b) in digest.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1; // the dash before hex digits 8, 12, 16 and 20
        }
        out[o] = HEX[(b >> 4) as usize];
        out[o + 1] = HEX[(b & 15) as usize];
        o += 2;
    }
    out[14] = b'8'; // the version nibble replaces hex digit 12
    out[19] = b"89ab"[((digest[8] >> 4) & 3) as usize]; // the variant replaces hex digit 16
    out
}

/// `pipeline.core.receipts.receipt_id`, compiled.
#[pyfunction]
pub fn receipt_id(topic: &str, partition: i32, offset: i64, index: i64) -> String {
    let id = id_from_prefix(&record_prefix(topic, partition, offset), index);
    String::from_utf8_lossy(&id).into_owned() // ASCII by construction
}
