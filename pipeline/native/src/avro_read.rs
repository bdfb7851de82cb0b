//! A cursor over an Avro binary body: any valid encoding (overlong varints, blocks with byte
//! sizes), strictly bounded, so a bad record is an error and never a panic; a number beyond
//! 64 bits is an error, not wrapped. (It reads dsom's own outputs; ingest records are read,
//! strictly, by `validator/decode.rs`.)

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pub struct Reader<'a> {
    data: &'a [u8],
    pub pos: usize,
}

/// The single-object header: marker C3 01 and the schema's 8-byte fingerprint.
const HEADER_LEN: usize = 10;

pub fn malformed(what: &str) -> PyErr {
    PyValueError::new_err(format!("malformed Avro: {what}"))
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn long(&mut self) -> Result<i64, PyErr> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.data.get(self.pos).ok_or_else(|| malformed("ends inside a number"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                // A 10th byte above 1 is more than 10 bytes, or bits beyond 64: never a long.
                return Err(malformed(if b & 0x80 != 0 { "number longer than 10 bytes" } else { "number beyond 64 bits" }));
            }
            value |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
            shift += 7;
        }
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], PyErr> {
        let n = self.long()?;
        if n < 0 {
            return Err(malformed("negative length"));
        }
        self.fixed(n as usize)
    }

    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], PyErr> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len())
            .ok_or_else(|| malformed("bytes beyond the record"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn str(&mut self) -> Result<&'a str, PyErr> {
        std::str::from_utf8(self.bytes()?).map_err(|_| malformed("string is not UTF-8"))
    }

    pub fn skip_bytes(&mut self) -> Result<(), PyErr> {
        self.bytes().map(|_| ())
    }

    /// The branch of a `["null", T]` union: true when T follows.
    pub fn present(&mut self) -> Result<bool, PyErr> {
        match self.long()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(malformed("union branch out of range")),
        }
    }

    pub fn opt_long(&mut self) -> Result<Option<i64>, PyErr> {
        Ok(if self.present()? { Some(self.long()?) } else { None })
    }

    pub fn opt_str(&mut self) -> Result<Option<&'a str>, PyErr> {
        Ok(if self.present()? { Some(self.str()?) } else { None })
    }

    pub fn enum_index(&mut self, symbols: usize) -> Result<usize, PyErr> {
        let i = self.long()?;
        if i < 0 || i as usize >= symbols {
            return Err(malformed("enum index out of range"));
        }
        Ok(i as usize)
    }

    /// The item count of the next array block (0: the array ended); a block's byte size is skipped.
    pub fn block(&mut self) -> Result<usize, PyErr> {
        let n = self.long()?;
        if n < 0 {
            self.long()?; // byte size of the block, which a reader may ignore
            return n.checked_neg().map(|c| c as usize).ok_or_else(|| malformed("block count"));
        }
        Ok(n as usize)
    }

    /// A reader of the body of single-object record `value` (its 10-byte header checked by the caller).
    pub fn single_object(value: &'a [u8]) -> Result<Self, PyErr> {
        if value.len() < HEADER_LEN {
            return Err(malformed("shorter than the single-object header"));
        }
        Ok(Self::new(value, HEADER_LEN))
    }

    /// Every item of an Avro array, in its blocks up to the zero count, each read by `item`.
    pub fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), PyErr>) -> Result<(), PyErr> {
        loop {
            let n = self.block()?;
            if n == 0 {
                return Ok(());
            }
            for _ in 0..n {
                item(self)?;
            }
        }
    }

    pub fn finish(&self) -> Result<(), PyErr> {
        if self.at_end() { Ok(()) } else { Err(malformed("trailing bytes after the record")) }
    }
}

/// Avro `long` writer: zig-zag then base-128 varint, as `schemas.raw.zigzag` (every writer here uses it).
pub fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z > 0x7f {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Avro `bytes` (and a `string`'s UTF-8): the length, then the bytes.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}
