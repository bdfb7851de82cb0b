//! The validator's per-record work (mirrors `pipeline/core/processor.py` `RecordProcessor.process`).
//!
//! A record is decided without the GIL and without a Python object per event; Python is
//! called back only for what is rare: the reason and detail of an event the stateless rules
//! fail, and `repr` of values quoted in details. A record this decoder does not take (not an
//! EventBatch, or not strict Avro) returns None, and the Python wrapper
//! (`pipeline/core/native.py`) has the reference reject it.

mod bets;
mod conflicts;
pub(crate) mod decode;
mod dedup;
mod encode;
pub(crate) mod json;
mod mem;
mod player_ref;
mod rules;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::receipts::{id_from_prefix, record_prefix, ReceiptId};
use bets::key_of;
use decode::{Event, BET, KINDS, REFUND, WIN};
use dedup::Seen;
use rules::{Licence, Limits};
pub use player_ref::PlayerRefRules;
pub use state::ValidatorState;

/// What one record produced, before it is handed to Python.
#[derive(Default)]
struct Decided {
    receipts_key: Vec<u8>,
    receipts: Option<Vec<u8>>,
    archive: Option<Vec<u8>>,
    changelog: Vec<state::Entry>,
    events_in: usize,
    duplicates: usize,
    accepted: [usize; KINDS.len()],
    rejected: Vec<(String, usize)>,
}

impl Decided {
    fn reject(&mut self, reason: &str) {
        match self.rejected.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => self.rejected.push((reason.to_owned(), 1)),
        }
    }
}

struct Rejection {
    reason: String,
    detail: String,
}

fn rejection(reason: &str, detail: String) -> Option<Rejection> {
    Some(Rejection { reason: reason.to_owned(), detail })
}

/// Python's `repr` of a string, as the details quote values.
fn repr(s: &str) -> String {
    Python::attach(|py| {
        PyString::new(py, s).repr().map(|r| r.to_string()).unwrap_or_else(|_| format!("{s:?}"))
    })
}

/// `quoted` of `pipeline/core/validation.py`: `repr`, cut to `limit` characters.
fn quoted(s: &str, limit: usize) -> String {
    match s.char_indices().nth(limit) {
        None => repr(s),
        Some((end, _)) => repr(&s[..end]) + "…",
    }
}

/// `cap_detail` of `pipeline/core/limits.py`: at most MAX_DETAIL_BYTES, never inside a character.
const MAX_DETAIL_BYTES: usize = 256;

fn cap_detail(s: &str) -> &str {
    if s.len() <= MAX_DETAIL_BYTES {
        return s;
    }
    let mut end = MAX_DETAIL_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What `Validator.process` decided for one record, as Python objects (`pipeline/core/native.py`
/// turns it into an `Outcome`): typed, named fields instead of a positional tuple.
#[pyclass(module = "dsom_native", frozen, get_all)]
pub struct Decision {
    /// The batch's source_id (empty when the record was rejected before it was read).
    receipts_key: Py<PyBytes>,
    /// The single-object ReceiptBatch, if any receipt was written.
    receipts: Option<Py<PyBytes>>,
    /// The single-object ArchiveBatch, if any event was accepted.
    archive: Option<Py<PyBytes>>,
    /// (key, value or None for a tombstone) changelog entries, in order.
    changelog: Py<PyList>,
    events_in: usize,
    duplicates: usize,
    /// {kind: events accepted}
    accepted: Py<PyDict>,
    /// {reason: events or records rejected}
    rejected: Py<PyDict>,
}

/// The rules and settings one registry version implies; built by `pipeline/core/native.py`.
#[pyclass(module = "dsom_native", frozen)]
pub struct Validator {
    /// EventBatch versions read as they are: (single-object header, EventKind symbols).
    batch_versions: Vec<(Vec<u8>, usize)>,
    receipt_header: Vec<u8>,
    archive_header: Vec<u8>,
    licences: HashMap<String, HashMap<String, Licence>>, // operator -> licence ID -> licence
    limits: Limits,
    player_refs: Arc<player_ref::Words>,
    bet_horizon_us: i64,
    max_open_gaps: usize,
    max_events: usize,
    check: Py<PyAny>, // (operator_id, event dict, now_us) -> (reason, detail) | None
}

struct Record<'a> {
    operator_id: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
    now_us: i64,
}

#[pymethods]
impl Validator {
    /// `headers`: the EventBatch versions taken as they are, each (its single-object header, its
    /// number of EventKind symbols), then the single-object headers of ReceiptBatch and ArchiveBatch;
    /// `licences`: (operator, licence ID, kind, valid from, valid to, [(stopped from, to)]);
    /// `check`: the Python rules;
    /// `player_refs`: the personal-data rules' word lists.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(headers: (Vec<(Vec<u8>, usize)>, Vec<u8>, Vec<u8>), licences: Vec<(String, String, String, i64, Option<i64>, Vec<(i64, Option<i64>)>)>,
           currency: String, max_amount_kopecks: i64, future_skew_us: i64, late_window_us: i64,
           bet_horizon_us: i64, max_open_gaps: usize, max_events: usize, check: Py<PyAny>,
           player_refs: PyRef<'_, PlayerRefRules>) -> PyResult<Self> {
        let mut by_operator: HashMap<String, HashMap<String, Licence>> = HashMap::new();
        for (op, id, kind, valid_from_us, valid_to_us, stops) in licences {
            let kind = decode::LICENCE_KINDS.iter().position(|k| *k == kind)
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("licence kind {kind}")))?;
            by_operator.entry(op).or_default().insert(id, Licence { kind: kind as u8, valid_from_us, valid_to_us, stops });
        }
        Ok(Validator {
            batch_versions: headers.0, receipt_header: headers.1, archive_header: headers.2,
            licences: by_operator,
            limits: Limits { currency, max_amount_kopecks, future_skew_us, late_window_us },
            player_refs: Arc::clone(&player_refs.words),
            bet_horizon_us, max_open_gaps, max_events, check,
        })
    }

    /// Decide one ingest record; None if it does not decode here (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn process<'py>(&self, py: Python<'py>, mut state: PyRefMut<'py, ValidatorState>, operator_id: &str,
                    offset: i64, key: Option<&[u8]>, value: &[u8], now_us: i64)
                    -> PyResult<Option<Decision>> {
        let st: &mut ValidatorState = &mut state;
        let topic = st.topic.clone();
        let rec = Record { operator_id, topic: &topic, partition: st.partition, offset, now_us };
        let decided = py.detach(|| self.decide(st, &rec, key, value))?;
        let Some(d) = decided else { return Ok(None) };
        let bytes = |b: &Option<Vec<u8>>| b.as_ref().map(|b| PyBytes::new(py, b).unbind());
        let changelog = PyList::empty(py);
        for (k, v) in &d.changelog {
            changelog.append((PyBytes::new(py, k), v.as_ref().map(|v| PyBytes::new(py, v))))?;
        }
        let accepted = PyDict::new(py);
        for (kind, &n) in KINDS.iter().zip(&d.accepted) {
            if n > 0 {
                accepted.set_item(kind, n)?;
            }
        }
        let rejected = PyDict::new(py);
        for (reason, n) in &d.rejected {
            rejected.set_item(reason, n)?;
        }
        Ok(Some(Decision {
            receipts_key: PyBytes::new(py, &d.receipts_key).unbind(), receipts: bytes(&d.receipts),
            archive: bytes(&d.archive), changelog: changelog.unbind(), events_in: d.events_in,
            duplicates: d.duplicates, accepted: accepted.unbind(), rejected: rejected.unbind(),
        }))
    }
}

impl Validator {
    fn decide(&self, st: &mut ValidatorState, rec: &Record<'_>, key: Option<&[u8]>, value: &[u8])
              -> PyResult<Option<Decided>> {
        let Some(batch) = decode::decode_batch(value, &self.batch_versions) else { return Ok(None) };
        let mut out = Decided { events_in: batch.events.len(), ..Decided::default() };
        let source_id = batch.source_id;
        let n = batch.events.len();
        // `_check_record`: a wrong operator rejects every event; the rest reject the record.
        let mut record_rejection = None;
        if batch.operator_id != rec.operator_id {
            let detail = format!("batch claims operator {} on {}'s topic", quoted(batch.operator_id, 64), rec.operator_id);
            record_rejection = rejection("wrong_operator", detail);
        } else if !key_matches(key, source_id) {
            return Ok(Some(self.reject_record(out, rec, source_id, "wrong_key",
                                              "the Kafka record key must be the batch's source_id")));
        } else if n == 0 {
            return Ok(Some(self.reject_record(out, rec, source_id, "empty_batch",
                                              "a batch must carry at least one event")));
        } else if n > self.max_events {
            let detail = format!("{n} events; at most {}", self.max_events);
            return Ok(Some(self.reject_record(out, rec, source_id, "batch_too_large", &detail)));
        }
        for (offset, refunded) in st.bets.expire(rec.now_us.saturating_sub(self.bet_horizon_us)) {
            out.changelog.push((st.bets_key(offset), None));
            for bet_ref in refunded {
                out.changelog.push((st.refund_key(offset, &bet_ref), None));
            }
        }
        let licences = self.licences.get(rec.operator_id);
        let ids = record_prefix(rec.topic, rec.partition, rec.offset);
        let provenance = link_provenance(rec.operator_id, source_id, rec.topic, rec.partition, rec.offset);
        let source_number = st.source_number(source_id);
        let mut bet_key = Vec::new();
        let mut new_bets: Vec<(&str, i64, i64)> = Vec::new();
        let mut refunds: Vec<u64> = Vec::new(); // bets this record refunded (handles), in order
        let mut refunded_here: HashSet<u64> = HashSet::new();
        let (mut receipts, mut n_receipts) = (Vec::with_capacity(n * 96), 0usize);
        let (mut archive, mut n_archived) = (Vec::with_capacity(value.len() + n * 120), 0usize);
        if !st.sources.contains_key(source_id) {
            st.sources.insert(source_id.to_owned(), Default::default());
        }
        let seqs = st.sources.get_mut(source_id).expect("inserted above");
        let limit = st.conflict_window;
        let mut window = if limit == 0 { None } else {
            if !st.windows.contains_key(source_id) {
                st.windows.insert(source_id.to_owned(), Default::default());
            }
            st.windows.get_mut(source_id)
        };
        for (index, ev) in batch.events.iter().enumerate() {
            let mut rej = None;
            let mut first = None; // a repeat's first receipt ID
            if ev.seq < 1 {
                rej = rejection("invalid_sequence", format!("seq {} must be >= 1", ev.seq));
            } else {
                match seqs.take(ev.seq) {
                    Seen::Duplicate => {
                        let conflicting;
                        (first, conflicting) = repeat(window.as_deref(), rec, ev);
                        rej = conflicting;
                        if rej.is_none() { // a plain repeat: counted nowhere, the first stands
                            out.duplicates += 1;
                            n_receipts += 1;
                            let rid = id_from_prefix(&ids, index as i64);
                            let detail = duplicate_detail(ev.seq, first.as_ref().map(|r| r.as_slice()), limit);
                            encode::receipt(&mut receipts, &encode::Receipt {
                                duplicate: Some(&detail), first_receipt_id: first.as_ref().map(|r| r.as_slice()),
                                ..encode::Receipt::new(Some(ev), &rid, None) });
                            continue;
                        }
                    }
                    Seen::GapExpired => {
                        let detail = format!(
                            "seq {} is below {}, where this source's old gaps were closed; it was either \
                             decided long ago or is too late to fill a gap", ev.seq, seqs.expired_below);
                        rej = rejection("sequence_gap_expired", detail);
                    }
                    Seen::New => {
                        if let Some(w) = window.as_deref_mut() { // decided now: its content is kept
                            w.add(limit, rec.offset, index as u32, ev.seq, conflicts::digest(ev.body));
                        }
                    }
                }
            }
            let rid = id_from_prefix(&ids, index as i64);
            if rej.is_none() {
                rej = match &record_rejection {
                    Some(r) => rejection(&r.reason, r.detail.clone()),
                    None if rules::passes(licences, &self.limits, &self.player_refs, ev, rec.now_us) => None,
                    None => self.python_check(rec, ev)?,
                };
            }
            let mut refund_of = None; // a REFUND's bet, when its stake is known
            if rej.is_none() {
                match check_bet(&st.bets, source_number, ev, &mut bet_key) {
                    Ok(bet) => refund_of = bet,
                    Err(r) => rej = Some(r),
                }
            }
            n_receipts += 1;
            if let Some(r) = rej {
                out.reject(&r.reason);
                let receipt = encode::Receipt { first_receipt_id: first.as_ref().map(|r| r.as_slice()),
                    ..encode::Receipt::new(Some(ev), &rid, Some((&r.reason, cap_detail(&r.detail)))) };
                encode::receipt(&mut receipts, &receipt);
                continue;
            }
            out.accepted[ev.kind as usize] += 1;
            encode::receipt(&mut receipts, &encode::Receipt::new(Some(ev), &rid, None));
            if ev.kind == BET {
                let bet_ref = ev.bet_ref.unwrap_or_default();
                new_bets.push((bet_ref, ev.occurred_at_us, ev.amount));
                // bet_key still holds this BET's key: check_bet built it to find it new.
                st.bets.place(rec.offset, &bet_key, ev.amount); // visible to later events now
            } else if let Some(bet) = refund_of {
                st.bets.refund(bet, ev.amount);
                if refunded_here.insert(bet) {
                    refunds.push(bet);
                }
            }
            n_archived += 1;
            encode::string(&mut archive, &rid);
            let body = ev.body; // strict Avro: the event's canonical encoding, as sent
            let (index_in_chain, prev, hash) = chain_append(&mut st.chain_index, &mut st.chain_hash, &provenance, ev.seq, &rid, body);
            encode::long(&mut archive, index_in_chain);
            archive.extend_from_slice(&prev);
            archive.extend_from_slice(&hash);
            archive.extend_from_slice(body);
        }
        // `_state_changes`: the source's seqs always, the record's bets, its refunds, the chain head.
        seqs.close_oldest_gaps(self.max_open_gaps);
        out.changelog.push(st.seq_entry(source_id));
        if !new_bets.is_empty() {
            st.bets.finish(new_bets.iter().map(|&(_, t, _)| t).max().unwrap_or(i64::MIN));
            out.changelog.push(st.bets_entry(rec.offset, source_id, &new_bets));
        }
        for &bet in &refunds {
            out.changelog.push(st.refund_entry(bet));
        }
        if n_archived > 0 {
            out.changelog.push(st.chain_entry());
        }
        st.window_entries(source_id, rec.offset, &mut out.changelog);
        if n_receipts > 0 {
            out.receipts_key = source_id.as_bytes().to_vec();
            out.receipts = Some(self.receipt_batch(rec, Some(source_id), n_receipts, &receipts));
        }
        if n_archived > 0 {
            let mut a = self.archive_header.clone();
            a.reserve(archive.len() + 200);
            encode::string(&mut a, format!("{}/{}", rec.topic, rec.partition).as_bytes());
            for s in [rec.operator_id, source_id, rec.topic] {
                encode::string(&mut a, s.as_bytes());
            }
            for n in [i64::from(rec.partition), rec.offset, rec.now_us, LINK_RULE] {
                encode::long(&mut a, n);
            }
            encode::array(&mut a, n_archived, &archive);
            out.archive = Some(a);
        }
        Ok(Some(out))
    }

    fn receipt_batch(&self, rec: &Record<'_>, source_id: Option<&str>, count: usize, items: &[u8]) -> Vec<u8> {
        let mut b = self.receipt_header.clone();
        b.reserve(items.len() + 200);
        encode::string(&mut b, rec.operator_id.as_bytes());
        encode::opt_string(&mut b, source_id.map(str::as_bytes));
        encode::string(&mut b, rec.topic.as_bytes());
        for n in [i64::from(rec.partition), rec.offset, rec.now_us] {
            encode::long(&mut b, n);
        }
        encode::array(&mut b, count, items);
        b
    }

    /// `_reject_record`: one receipt for the whole record, named by index -1; no state touched.
    fn reject_record(&self, mut out: Decided, rec: &Record<'_>, source_id: &str, reason: &str, detail: &str) -> Decided {
        out.reject(reason);
        let rid = id_from_prefix(&record_prefix(rec.topic, rec.partition, rec.offset), -1);
        let detail = cap_detail(detail);
        let mut item = Vec::new();
        encode::receipt(&mut item, &encode::Receipt::new(None, &rid, Some((reason, detail))));
        out.receipts_key = source_id.as_bytes().to_vec();
        out.receipts = Some(self.receipt_batch(rec, Some(source_id), 1, &item));
        out
    }

    /// The Python `EventValidator.check` of one event: the exact reason and detail, or None.
    fn python_check(&self, rec: &Record<'_>, ev: &Event<'_>) -> PyResult<Option<Rejection>> {
        Python::attach(|py| {
            let d = event_dict(py, ev)?;
            let found = self.check.bind(py).call1((rec.operator_id, d, rec.now_us))?;
            if found.is_none() {
                return Ok(None);
            }
            let (reason, detail): (String, String) = found.extract()?;
            Ok(Some(Rejection { reason, detail }))
        })
    }
}

/// The link rule archive batches are written with (`pipeline/core/chain.py`, `LINK_RULE`).
const LINK_RULE: i64 = 2;

/// Rule 2's record-level part, hashed once per record (`Provenance` in `pipeline/core/chain.py`):
/// 0x02, operator, source and ingest topic (each a 4-byte BE length and UTF-8), partition (4), offset (8).
fn link_provenance(operator_id: &str, source_id: &str, topic: &str, partition: i32, offset: i64) -> sha2::Sha256 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([2u8]);
    for s in [operator_id, source_id, topic] {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.update(partition.to_be_bytes());
    h.update(offset.to_be_bytes());
    h
}

/// The next rule-2 link: the record's provenance, then prev_hash, index, seq, receipt ID, body.
fn chain_append(index: &mut i64, head: &mut [u8; 32], provenance: &sha2::Sha256, seq: i64, receipt_id: &[u8],
                body: &[u8]) -> (i64, [u8; 32], [u8; 32]) {
    use sha2::Digest;
    let prev = *head;
    *index += 1;
    let mut h = provenance.clone();
    h.update(prev);
    h.update(index.to_be_bytes());
    h.update(seq.to_be_bytes());
    h.update((receipt_id.len() as u32).to_be_bytes());
    h.update(receipt_id);
    h.update(body);
    *head = h.finalize().into();
    (*index, prev, *head)
}

/// `key is not None and key.decode(errors="replace") == source_id`.
fn key_matches(key: Option<&[u8]>, source_id: &str) -> bool {
    match key {
        None => false,
        Some(k) => match std::str::from_utf8(k) {
            Ok(k) => k == source_id,
            // Python's replacement decoding (one U+FFFD per bad byte run, its own way): ask it.
            Err(_) => Python::attach(|py| {
                PyBytes::new(py, k).call_method1("decode", ("utf-8", "replace"))
                    .and_then(|s| s.extract::<String>())
                    .is_ok_and(|s| s == source_id)
            }),
        },
    }
}

/// `_repeat`: a repeat of `ev.seq`: the first's receipt ID if still in the window, and the
/// rejection when its content differs from the first's (None: a plain repeat).
fn repeat(window: Option<&conflicts::Window>, rec: &Record<'_>, ev: &Event<'_>) -> (Option<ReceiptId>, Option<Rejection>) {
    let Some((first, offset, index)) = window.and_then(|w| w.find(ev.seq)) else { return (None, None) };
    let rid = id_from_prefix(&record_prefix(rec.topic, rec.partition, offset), i64::from(index));
    if first == conflicts::digest(ev.body) {
        return (Some(rid), None);
    }
    let rej = rejection("conflicting_duplicate", format!(
        "seq {} was already decided with other content (receipt {}); that first event stands: a changed \
         event needs a new seq", ev.seq, String::from_utf8_lossy(&rid)));
    (Some(rid), rej)
}

/// `duplicate_detail` of `pipeline/core/conflicts.py`.
fn duplicate_detail(seq: i64, first: Option<&[u8]>, window: usize) -> String {
    match first {
        Some(rid) => format!("seq {seq} was already decided (receipt {}); this repeat counts nowhere",
                             String::from_utf8_lossy(rid)),
        None => format!("seq {seq} was decided before the last {window} events dsom keeps per source, so its \
                         receipt is not named here (find it by source_id and seq); this repeat counts nowhere"),
    }
}

/// `_check_bet`: a BET's bet_ref must be new, a WIN's or REFUND's must be open, and a REFUND
/// at most what is still refundable (stake - refunds so far). Ok: the REFUND's bet, when its
/// stake is known (the refund to count once accepted), else None.
fn check_bet(bets: &bets::Bets, source: u32, ev: &Event<'_>, key: &mut Vec<u8>) -> Result<Option<u64>, Rejection> {
    if !matches!(ev.kind, BET | WIN | REFUND) {
        return Ok(None);
    }
    let bet_ref = ev.bet_ref.unwrap_or_default(); // the rules required it for these kinds
    key_of(source, bet_ref, key);
    let open = bets.find(key);
    if ev.kind == BET && open.is_some() {
        return Err(Rejection { reason: "duplicate_bet_ref".to_owned(),
                               detail: format!("bet_ref {} was already used by an accepted BET", repr(bet_ref)) });
    }
    let Some(bet) = open else {
        if ev.kind == BET {
            return Ok(None);
        }
        let detail = format!("{} references bet_ref {}, which this source has not placed (or placed \
                              beyond the bet horizon)", KINDS[ev.kind as usize], repr(bet_ref));
        return Err(Rejection { reason: "unknown_bet".to_owned(), detail });
    };
    if ev.kind != REFUND {
        return Ok(None);
    }
    // Payouts (WIN) do not change what is refundable.
    let Some((stake, refunded)) = bets.refundable(bet) else { return Ok(None) };
    if ev.amount > stake - refunded {
        let detail = format!("refund of {} kopecks exceeds the {} kopecks still refundable on bet_ref {} \
                              (stake {stake} kopecks, refunded {refunded} kopecks)",
                             ev.amount, stake - refunded, repr(bet_ref));
        return Err(Rejection { reason: "refund_exceeds_stake".to_owned(), detail });
    }
    Ok(Some(bet))
}

/// The event as fastavro decodes it, for the Python rules.
fn event_dict<'py>(py: Python<'py>, ev: &Event<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("seq", ev.seq)?;
    d.set_item("operator_ref", ev.operator_ref)?;
    d.set_item("kind", KINDS[ev.kind as usize])?;
    d.set_item("licence_id", ev.licence_id)?;
    d.set_item("licence_kind", decode::LICENCE_KINDS[ev.licence_kind as usize])?;
    d.set_item("channel", decode::CHANNELS[ev.channel as usize])?;
    d.set_item("establishment_id", ev.establishment_id)?;
    d.set_item("equipment_id", ev.equipment_id)?;
    d.set_item("site_id", ev.site_id)?;
    d.set_item("app_id", ev.app_id)?;
    d.set_item("game_type", ev.game_type)?;
    d.set_item("round_ref", ev.round_ref)?;
    d.set_item("bet_ref", ev.bet_ref)?;
    d.set_item("player_ref", ev.player_ref)?;
    d.set_item("amount", ev.amount)?;
    d.set_item("currency", ev.currency)?;
    d.set_item("occurred_at_us", ev.occurred_at_us)?;
    d.set_item("tax_withheld_pit", ev.tax_withheld_pit)?;
    d.set_item("tax_withheld_military", ev.tax_withheld_military)?;
    Ok(d)
}
