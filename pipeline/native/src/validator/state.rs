//! One ingest partition's validator state and its changelog (mirrors `pipeline/core/state.py`).
//!
//! The changelog documents are the Python ones, byte for byte, so either engine restores the
//! other's changelog.

use std::collections::HashMap;
use std::io::Write;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde_json::Value;

use super::bets::{key_of, Bets, UNKNOWN_STAKE};
use super::conflicts::{self, Window};
use super::dedup::SeqSet;
use super::{json, mem};

pub type Entry = (Vec<u8>, Option<Vec<u8>>);

#[pyclass(module = "dsom_native")]
pub struct ValidatorState {
    pub topic: String,
    pub partition: i32,
    pub prefix: Vec<u8>,
    pub sources: HashMap<String, SeqSet>,
    source_numbers: HashMap<String, u32>, // bet keys name their source by number
    source_names: Vec<String>,
    pub bets: Bets,
    pub chain_index: i64,
    pub chain_hash: [u8; 32],
    pub conflict_window: usize,            // events kept per source (0: none)
    pub windows: HashMap<String, Window>, // source -> content digests of its last decided events
}

impl ValidatorState {
    pub fn source_number(&mut self, source_id: &str) -> u32 {
        if let Some(&n) = self.source_numbers.get(source_id) {
            return n;
        }
        let n = self.source_names.len() as u32;
        self.source_names.push(source_id.to_owned());
        self.source_numbers.insert(source_id.to_owned(), n);
        n
    }

    fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = self.prefix.clone();
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }

    pub fn seq_entry(&self, source_id: &str) -> Entry {
        let s = &self.sources[source_id];
        let mut v = b"{\"s\":".to_vec();
        json::int_list(&mut v, &s.starts);
        v.extend_from_slice(b",\"e\":");
        json::int_list(&mut v, &s.ends);
        v.extend_from_slice(format!(",\"x\":{}}}", s.expired_below).as_bytes());
        (self.key(&[b"seq|", source_id.as_bytes()]), Some(v))
    }

    pub fn chain_entry(&self) -> Entry {
        let hex: String = self.chain_hash.iter().map(|b| format!("{b:02x}")).collect();
        let v = format!("{{\"i\":{},\"h\":\"{hex}\"}}", self.chain_index).into_bytes();
        (self.key(&[b"chain"]), Some(v))
    }

    pub fn bets_key(&self, offset: i64) -> Vec<u8> {
        self.key(&[b"bets|", offset.to_string().as_bytes()])
    }

    /// The entry of the bets placed by the record at `offset`:
    /// `[[source, bet_ref, time, stake], ...]` from (bet_ref, time, stake).
    pub fn bets_entry(&self, offset: i64, source_id: &str, bets: &[(&str, i64, i64)]) -> Entry {
        let mut v = vec![b'['];
        for (i, (bet_ref, t, stake)) in bets.iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            v.push(b'[');
            json::string(&mut v, source_id);
            v.push(b',');
            json::string(&mut v, bet_ref);
            write!(v, ",{t},{stake}]").expect("writing to a Vec");
        }
        v.push(b']');
        (self.bets_key(offset), Some(v))
    }

    fn digests_key(&self, offset: i64, source_id: &str) -> Vec<u8> {
        self.key(&[b"dig|", offset.to_string().as_bytes(), b"|", source_id.as_bytes()])
    }

    /// After the record at `offset`: tombstones of the source's records that left its window,
    /// then what the record added, `{"r":[[index,seq,length],...],"d":"<base64 digests>"}`.
    pub fn window_entries(&mut self, source_id: &str, offset: i64, out: &mut Vec<Entry>) {
        let Some(window) = self.windows.get_mut(source_id) else { return };
        let gone = std::mem::take(&mut window.gone);
        let (runs, n) = window.record(offset);
        let empty = window.len() == 0;
        let mut value = None;
        if n > 0 {
            let mut raw = Vec::with_capacity(n * 8);
            for d in window.digests().skip(window.len() - n) {
                raw.extend_from_slice(&d.to_be_bytes());
            }
            let mut v = b"{\"r\":[".to_vec();
            for (i, r) in runs.iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                v.extend_from_slice(format!("[{},{},{}]", r.index, r.seq, r.len).as_bytes());
            }
            v.extend_from_slice(b"],\"d\":\"");
            conflicts::base64(&mut v, &raw);
            v.extend_from_slice(b"\"}");
            value = Some(v);
        }
        if empty {
            self.windows.remove(source_id);
        }
        for g in gone {
            out.push((self.digests_key(g, source_id), None));
        }
        if value.is_some() {
            out.push((self.digests_key(offset, source_id), value));
        }
    }

    fn apply_digests(&mut self, ident: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let bar = ident.iter().position(|&b| b == b'|').ok_or_else(|| format!("bad digests key {ident:?}"))?;
        let offset: i64 = std::str::from_utf8(&ident[..bar]).ok().and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad digests offset {ident:?}"))?;
        let source = std::str::from_utf8(&ident[bar + 1..]).map_err(|e| e.to_string())?;
        let limit = self.conflict_window;
        match value {
            None => {
                if let Some(w) = self.windows.get_mut(source) {
                    w.drop_record(limit, offset);
                }
            }
            Some(_) if limit == 0 => {}
            Some(v) => {
                let doc = serde_json::from_slice::<Value>(v).map_err(|e| e.to_string())?;
                let digests = conflicts::unbase64(doc["d"].as_str().ok_or("digests are not a string")?)?;
                let mut items = Vec::new();
                let mut k = 0;
                for run in doc["r"].as_array().ok_or("runs are not a list")? {
                    let field = |i: usize| run[i].as_i64().ok_or_else(|| format!("bad run {run}"));
                    let (index, seq, len) = (field(0)?, field(1)?, field(2)?);
                    for i in 0..len {
                        let d = digests.get(8 * k..8 * k + 8).ok_or("fewer digests than events")?;
                        items.push((offset, (index + i) as u32, seq + i, u64::from_be_bytes(d.try_into().expect("8 bytes"))));
                        k += 1;
                    }
                }
                self.windows.entry(source.to_owned()).or_default().load(limit, offset, items);
            }
        }
        if self.windows.get(source).is_some_and(|w| w.len() == 0 && w.gone.is_empty()) {
            self.windows.remove(source);
        }
        Ok(())
    }

    /// `refund|<offset>|<bet_ref>`: the key of what was refunded on a bet placed at `offset`.
    pub fn refund_key(&self, offset: i64, bet_ref: &[u8]) -> Vec<u8> {
        self.key(&[b"refund|", offset.to_string().as_bytes(), b"|", bet_ref])
    }

    /// The entry of what has been refunded so far on the open bet `entry` (a `Bets` handle).
    pub fn refund_entry(&self, entry: u64) -> Entry {
        let (offset, bet_ref, refunded) = self.bets.refund_parts(entry);
        (self.refund_key(offset, bet_ref), Some(refunded.to_string().into_bytes()))
    }

    fn apply_doc(&mut self, kind: &[u8], ident: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let parse = |v: &[u8]| serde_json::from_slice::<Value>(v).map_err(|e| e.to_string());
        let int = |v: &Value| v.as_i64().ok_or_else(|| format!("not an integer: {v}"));
        let ints = |v: &Value| -> Result<Vec<i64>, String> {
            v.as_array().ok_or("not a list")?.iter().map(int).collect()
        };
        match (kind, value) {
            (b"seq", None) => {
                self.sources.remove(std::str::from_utf8(ident).map_err(|e| e.to_string())?);
            }
            (b"seq", Some(v)) => {
                let doc = parse(v)?;
                let set = SeqSet { starts: ints(&doc["s"])?, ends: ints(&doc["e"])?, expired_below: int(&doc["x"])? };
                let source = std::str::from_utf8(ident).map_err(|e| e.to_string())?;
                self.sources.insert(source.to_owned(), set);
            }
            (b"dig", _) => self.apply_digests(ident, value)?,
            (b"chain", Some(v)) => {
                let doc = parse(v)?;
                let hex = doc["h"].as_str().ok_or("chain hash is not a string")?;
                if hex.len() != 64 {
                    return Err(format!("chain hash {hex:?} is not 32 bytes"));
                }
                for (i, byte) in self.chain_hash.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
                }
                self.chain_index = int(&doc["i"])?;
            }
            (b"bets", _) => {
                let offset: i64 = std::str::from_utf8(ident).ok().and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| format!("bad bets offset {ident:?}"))?;
                let Some(v) = value else {
                    self.bets.drop_batch(offset);
                    return Ok(());
                };
                let doc = parse(v)?;
                let mut newest = i64::MIN;
                let mut key = Vec::new();
                for bet in doc.as_array().ok_or("bets are not a list")? {
                    let (s, r, t) = (bet[0].as_str(), bet[1].as_str(), int(&bet[2])?);
                    let (Some(s), Some(r)) = (s, r) else { return Err(format!("bad bet {bet}")) };
                    // [source, bet_ref, time] before stakes were kept: the stake is unknown
                    let stake = bet.get(3).and_then(Value::as_i64).unwrap_or(UNKNOWN_STAKE);
                    let n = self.source_number(s);
                    key_of(n, r, &mut key);
                    self.bets.place(offset, &key, stake);
                    newest = newest.max(t);
                }
                self.bets.finish(newest);
            }
            (b"refund", _) => {
                let at = ident.iter().position(|&b| b == b'|').unwrap_or(ident.len());
                let offset: i64 = std::str::from_utf8(&ident[..at]).ok().and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| format!("bad refund offset {ident:?}"))?;
                let bet_ref = ident.get(at + 1..).unwrap_or_default();
                let refunded = match value {
                    Some(v) => Some(int(&parse(v)?)?),
                    None => None,
                };
                self.bets.apply_refund(offset, bet_ref, refunded);
            }
            _ => {}
        }
        Ok(())
    }
}

#[pymethods]
impl ValidatorState {
    #[new]
    #[pyo3(signature = (topic, partition, conflict_window=4096))]
    fn new(topic: String, partition: i32, conflict_window: usize) -> Self {
        let prefix = format!("{topic}|{partition}|").into_bytes();
        ValidatorState {
            topic, partition, prefix, sources: HashMap::new(), source_numbers: HashMap::new(),
            source_names: Vec::new(), bets: Bets::default(), chain_index: 0, chain_hash: [0; 32],
            conflict_window, windows: HashMap::new(),
        }
    }

    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }

    #[getter]
    fn partition(&self) -> i32 {
        self.partition
    }

    /// Replay one changelog entry of this partition (the key includes the prefix).
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> PyResult<()> {
        let rest = key.strip_prefix(self.prefix.as_slice())
            .ok_or_else(|| PyValueError::new_err("changelog key of another partition"))?;
        let (kind, ident) = match rest.iter().position(|&b| b == b'|') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        self.apply_doc(kind, ident, value).map_err(PyValueError::new_err)
    }

    /// Heap bytes held, by part ("seq", "bets", "chain"), and counts ("sources", "intervals",
    /// "open_bets"): allocations as glibc's malloc sizes them, tables at their capacity.
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let seq: usize = mem::map_bytes::<(String, SeqSet)>(self.sources.capacity())
            + self.sources.iter().map(|(k, s)| mem::alloc(k.capacity()) + s.heap_bytes()).sum::<usize>();
        let names: usize = self.source_names.iter().map(|s| 2 * mem::alloc(s.capacity())).sum::<usize>()
            + mem::vec_bytes(&self.source_names)
            + mem::map_bytes::<(String, u32)>(self.source_numbers.capacity());
        let d = PyDict::new(py);
        d.set_item("seq", seq)?;
        d.set_item("bets", self.bets.heap_bytes() + names)?;
        d.set_item("chain", 0)?;
        d.set_item("windows", mem::map_bytes::<(String, Window)>(self.windows.capacity())
            + self.windows.iter().map(|(k, w)| mem::alloc(k.capacity()) + w.heap_bytes()).sum::<usize>())?;
        d.set_item("window_events", self.windows.values().map(Window::len).sum::<usize>())?;
        d.set_item("struct", std::mem::size_of::<Self>())?;
        d.set_item("sources", self.sources.len())?;
        d.set_item("intervals", self.sources.values().map(|s| s.starts.len()).sum::<usize>())?;
        d.set_item("open_bets", self.bets.len())?;
        d.set_item("refunded_bets", self.bets.refunded_len())?;
        Ok(d)
    }

    /// The content windows as plain values, for tests: {source: (digests oldest first, 8 bytes
    /// each, [(offset, index, seq, length), ...], offsets of records gone without a tombstone)}.
    fn windows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (source, w) in &self.windows {
            let digests: Vec<u8> = w.digests().flat_map(u64::to_be_bytes).collect();
            let runs: Vec<(i64, u32, i64, u32)> = w.runs.iter().map(|r| (r.offset, r.index, r.seq, r.len)).collect();
            d.set_item(source, (PyBytes::new(py, &digests), runs, w.gone.clone()))?;
        }
        Ok(d)
    }

    /// The state as plain values, for tests: ({source: (starts, ends, expired_below)},
    /// {(source, bet_ref): (offset, stake | None, refunded)}, (chain index, chain hash)).
    #[allow(clippy::type_complexity)]
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, (i64, Bound<'py, PyBytes>))> {
        let sources = PyDict::new(py);
        for (k, s) in &self.sources {
            sources.set_item(k, (s.starts.clone(), s.ends.clone(), s.expired_below))?;
        }
        let bets = PyDict::new(py);
        for (src, bet_ref, offset, stake, refunded) in self.bets.entries() {
            bets.set_item((self.source_names[src as usize].as_str(), bet_ref), (offset, stake, refunded))?;
        }
        Ok((sources, bets, (self.chain_index, PyBytes::new(py, &self.chain_hash))))
    }
}
