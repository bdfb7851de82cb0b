//! EventBatch decoding straight from the record's bytes (mirrors `schemas/codec.py` + `schemas/raw.py`).
//!
//! Strings borrow from the input. Only strict Avro is taken (`schemas/diagnose.py`): every
//! number in its shortest form and within 64 bits, every index in range, UTF-8 strings, block
//! byte sizes exact, nothing after the record. Anything else (a wrong header too) is `None`,
//! and the Python wrapper lets the reference reject it, with the detail written there. In
//! strict Avro an event's bytes are its canonical encoding, so they are hashed and archived as sent.

/// Symbols of the Event schema's enums, in schema order (the Avro index is the position).
pub const KINDS: [&str; 6] = ["BET", "WIN", "REFUND", "DEPOSIT", "WITHDRAWAL", "WITHDRAWAL_CANCELLED"];
pub const LICENCE_KINDS: [&str; 5] =
    ["CASINO_ESTABLISHMENT", "ONLINE_CASINO", "BOOKMAKING", "SLOT_HALL", "ONLINE_POKER"];
pub const CHANNELS: [&str; 3] = ["ESTABLISHMENT", "SITE", "APP"];

pub const BET: u8 = 0;
pub const WIN: u8 = 1;
pub const REFUND: u8 = 2;

/// One decoded Event; `body` is its bytes as sent (strict, so canonical).
pub struct Event<'a> {
    pub seq: i64,
    pub operator_ref: &'a str,
    pub kind: u8,
    pub licence_id: &'a str,
    pub licence_kind: u8,
    pub channel: u8,
    pub establishment_id: Option<&'a str>,
    pub equipment_id: Option<&'a str>,
    pub site_id: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub game_type: Option<&'a str>,
    pub round_ref: Option<&'a str>,
    pub bet_ref: Option<&'a str>,
    pub player_ref: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub occurred_at_us: i64,
    pub tax_withheld_pit: Option<i64>,
    pub tax_withheld_military: Option<i64>,
    pub body: &'a [u8],
}

pub struct Batch<'a> {
    pub operator_id: &'a str,
    pub source_id: &'a str,
    pub events: Vec<Event<'a>>,
}

struct Reader<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    /// An unsigned varint in its shortest form, of at most 64 bits; None past the end or otherwise.
    fn varint(&mut self) -> Option<u64> {
        let start = self.p;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.d.get(self.p)?;
            self.p += 1;
            if shift == 63 && b > 1 {
                return None; // a 10th byte above 1: more than 10 bytes, or bits beyond 64
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && self.p - start > 1 {
                    return None; // overlong: a multi-byte number ends in a zero byte
                }
                return Some(value);
            }
            shift += 7;
        }
    }

    fn long(&mut self) -> Option<i64> {
        let code = self.varint()?;
        Some((code >> 1) as i64 ^ -((code & 1) as i64))
    }

    fn string(&mut self) -> Option<&'a str> {
        let n = self.long()?;
        if n < 0 {
            return None;
        }
        let end = self.p.checked_add(usize::try_from(n).ok()?)?;
        let bytes = self.d.get(self.p..end)?;
        self.p = end;
        std::str::from_utf8(bytes).ok()
    }

    /// An index into `n` symbols or branches; None if negative or out of range.
    fn index(&mut self, n: usize) -> Option<u8> {
        let i = self.long()?;
        if i < 0 || i as usize >= n {
            return None;
        }
        Some(i as u8)
    }

    fn opt_string(&mut self) -> Option<Option<&'a str>> {
        Some(if self.index(2)? == 1 { Some(self.string()?) } else { None })
    }

    fn opt_long(&mut self) -> Option<Option<i64>> {
        Some(if self.index(2)? == 1 { Some(self.long()?) } else { None })
    }

    /// One Event; `kinds`: how many EventKind symbols the record's schema version has.
    fn event(&mut self, kinds: usize) -> Option<Event<'a>> {
        let start = self.p;
        let ev = Event {
            seq: self.long()?,
            operator_ref: self.string()?,
            kind: self.index(kinds)?,
            licence_id: self.string()?,
            licence_kind: self.index(LICENCE_KINDS.len())?,
            channel: self.index(CHANNELS.len())?,
            establishment_id: self.opt_string()?,
            equipment_id: self.opt_string()?,
            site_id: self.opt_string()?,
            app_id: self.opt_string()?,
            game_type: self.opt_string()?,
            round_ref: self.opt_string()?,
            bet_ref: self.opt_string()?,
            player_ref: self.string()?,
            amount: self.long()?,
            currency: self.string()?,
            occurred_at_us: self.long()?,
            tax_withheld_pit: self.opt_long()?,
            tax_withheld_military: self.opt_long()?,
            body: &[],
        };
        Some(Event { body: &self.d[start..self.p], ..ev })
    }
}

/// Decode a single-object EventBatch written with one of `versions`: (header, EventKind symbols).
///
/// The versions are the current one and the older ones whose binary encoding is the current
/// one's with fewer EventKind symbols (`schemas.codec.enum_prefix_versions`): their records are
/// read as they are, with the kind in the older range. None: not strict (see the module docs).
pub fn decode_batch<'a>(data: &'a [u8], versions: &[(Vec<u8>, usize)]) -> Option<Batch<'a>> {
    let (header, kinds) = versions.iter().find(|(h, _)| data.starts_with(h))?;
    let kinds = (*kinds).min(KINDS.len());
    let mut r = Reader { d: data, p: header.len() };
    let operator_id = r.string()?;
    let source_id = r.string()?;
    r.long()?; // sent_at_us: informational, not used by the validator
    let mut events = Vec::new();
    loop {
        let mut count = r.long()?;
        if count == 0 {
            break;
        }
        let mut end = None;
        if count < 0 {
            // The count negated, then the block's size in bytes, which must be exact.
            count = count.checked_neg()?;
            let size = usize::try_from(r.long()?).ok()?;
            end = Some(r.p.checked_add(size)?);
        }
        if events.len().checked_add(usize::try_from(count).ok()?)? > data.len() {
            return None; // more items than bytes: truncated
        }
        events.reserve(count as usize);
        for _ in 0..count {
            events.push(r.event(kinds)?);
        }
        if end.is_some_and(|end| end != r.p) {
            return None;
        }
    }
    if r.p != data.len() {
        return None;
    }
    Some(Batch { operator_id, source_id, events })
}
