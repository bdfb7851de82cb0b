//! EventBatch decoding straight from the record's bytes (mirrors `schemas/codec.py` + `schemas/raw.py`).
//!
//! Strings borrow from the input. Anything this decoder does not take — a wrong header, bad
//! UTF-8, an index fastavro reads differently (a negative union or enum index), a number
//! beyond 64 bits, trailing bytes — is `None`: the Python wrapper then decodes the record with
//! fastavro, which either rejects it with its own error text or yields values to re-encode.

/// Symbols of the Event schema's enums, in schema order (the Avro index is the position).
pub const KINDS: [&str; 5] = ["BET", "WIN", "REFUND", "DEPOSIT", "WITHDRAWAL"];
pub const LICENCE_KINDS: [&str; 5] =
    ["CASINO_ESTABLISHMENT", "ONLINE_CASINO", "BOOKMAKING", "SLOT_HALL", "ONLINE_POKER"];
pub const CHANNELS: [&str; 3] = ["ESTABLISHMENT", "SITE", "APP"];

pub const BET: u8 = 0;
pub const WIN: u8 = 1;
pub const REFUND: u8 = 2;

/// One decoded Event; `body` is its bytes as sent, `canonical` whether they are the shortest form.
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
    pub canonical: bool,
}

pub struct Batch<'a> {
    pub operator_id: &'a str,
    pub source_id: &'a str,
    pub events: Vec<Event<'a>>,
}

struct Reader<'a> {
    d: &'a [u8],
    p: usize,
    canonical: bool, // every number so far in its shortest form
}

impl<'a> Reader<'a> {
    /// An unsigned varint of at most 64 bits; None past the end or beyond 64 bits.
    fn varint(&mut self) -> Option<u64> {
        let start = self.p;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.d.get(self.p)?;
            self.p += 1;
            if shift == 63 && b > 1 {
                return None; // bits beyond 64: fastavro wraps them; leave that to it
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && self.p - start > 1 {
                    self.canonical = false; // overlong: ends in a zero byte
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

    fn event(&mut self) -> Option<Event<'a>> {
        let start = self.p;
        self.canonical = true;
        let ev = Event {
            seq: self.long()?,
            operator_ref: self.string()?,
            kind: self.index(KINDS.len())?,
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
            canonical: false,
        };
        Some(Event { body: &self.d[start..self.p], canonical: self.canonical, ..ev })
    }
}

/// Decode a single-object EventBatch whose header is `header`; None: leave it to fastavro.
pub fn decode_batch<'a>(data: &'a [u8], header: &[u8]) -> Option<Batch<'a>> {
    if !data.starts_with(header) {
        return None;
    }
    let mut r = Reader { d: data, p: header.len(), canonical: true };
    let operator_id = r.string()?;
    let source_id = r.string()?;
    r.long()?; // sent_at_us: informational, not used by the validator
    let mut events = Vec::new();
    loop {
        let mut count = r.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg()?;
            r.long()?; // the block's size in bytes, which readers may ignore (fastavro does)
        }
        if events.len().checked_add(usize::try_from(count).ok()?)? > data.len() {
            return None; // more items than bytes: truncated, fastavro words the error
        }
        events.reserve(count as usize);
        for _ in 0..count {
            events.push(r.event()?);
        }
    }
    if r.p != data.len() {
        return None;
    }
    Some(Batch { operator_id, source_id, events })
}
