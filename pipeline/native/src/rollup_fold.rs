//! The sink's roll-ups of a batch of ArchiveBatch records, folded in the stream (mirrors
//! `sinks/clickhouse/stream_rollups.py`, the reference): one JSONCompactEachRow line per group of
//! each `events` rollup, byte for byte as the reference's `encode(fold(...))` writes them.

use std::io::Write;

use hashbrown::{HashMap, HashSet};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::avro_read::Reader;
use crate::validator::decode::{CHANNELS, KINDS, LICENCE_KINDS};
use crate::validator::json;

const BET: usize = 0;
const WIN: usize = 1;
const REFUND: usize = 2;
const ASSET_TYPES: [&str; 4] = ["establishment", "equipment", "site", "app"];
const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;
const DAY_US: i64 = 86_400_000_000;
const LATE_AFTER_US: i64 = 3600 * 1_000_000; // rollups.LATE_AFTER_US
const STAKE_BANDS: [i64; 4] = [1_000, 10_000, 100_000, 1_000_000]; // rollups.STAKE_BANDS

#[derive(Default)]
struct Ggr<'a> {
    sums: [i128; 3], // stakes, refunds, winnings
    counts: [u64; 3], // bets, payouts, refund_count
    players: HashSet<&'a str>,
}

struct Ingest {
    events: u64,
    amount: i128,
    last_received: i64,
    last_occurred: i64,
    late: u64,
    max_delay: i64,
    delays: Vec<i64>,
    received: HashMap<i64, u64>,
}

impl Ingest {
    fn new() -> Self {
        Ingest { events: 0, amount: 0, last_received: i64::MIN, last_occurred: i64::MIN, late: 0,
                 max_delay: i64::MIN, delays: Vec::new(), received: HashMap::new() }
    }

    fn add(&mut self, amount: i64, received: i64, occurred: i64) {
        let delay = received - occurred;
        self.events += 1;
        self.amount += amount as i128;
        self.last_received = self.last_received.max(received);
        self.last_occurred = self.last_occurred.max(occurred);
        self.late += (delay > LATE_AFTER_US) as u64;
        self.max_delay = self.max_delay.max(delay);
        self.delays.push(delay);
        *self.received.entry(received).or_insert(0) += 1;
    }
}

struct Asset {
    counts: [u64; 2], // events, bets
    sums: [i128; 3], // stakes, refunds, winnings
    first: i64,
    last: i64,
}

struct Stakes {
    bands: [u64; 5],
    max: i64,
    amounts: Vec<i64>,
}

type HourKey<'a> = (i64, &'a str, &'static str, &'a str);
type IngestKey<'a> = (i64, &'a str, &'static str);
type AssetKey<'a> = (i64, &'a str, &'static str, &'a str, &'static str, &'a str);

#[derive(Default)]
struct Fold<'a> {
    ggr: HashMap<HourKey<'a>, Ggr<'a>>,
    minutely: HashMap<IngestKey<'a>, Ingest>,
    hourly: HashMap<IngestKey<'a>, Ingest>,
    sources: HashMap<(&'a str, &'a str), (i64, i64, u64, i64)>,
    assets: HashMap<AssetKey<'a>, Asset>,
    stakes: HashMap<HourKey<'a>, Stakes>,
}

impl<'a> Fold<'a> {
    fn add_record(&mut self, value: &'a [u8]) -> PyResult<()> {
        let mut r = Reader::single_object(value)?;
        r.skip_bytes()?; // chain_id
        let op = r.str()?;
        let source = r.str()?;
        r.skip_bytes()?; // ingest_topic
        r.long()?; // ingest_partition
        r.long()?; // ingest_offset
        let received = r.long()?;
        r.long()?; // link_rule
        r.array(|r| {
            r.skip_bytes()?; // receipt_id
            r.long()?; // chain_index
            r.fixed(64)?; // prev_hash, hash
            let seq = r.long()?;
            r.skip_bytes()?; // operator_ref
            let kind = r.enum_index(KINDS.len())?;
            r.skip_bytes()?; // licence_id
            let licence_kind = LICENCE_KINDS[r.enum_index(LICENCE_KINDS.len())?];
            r.enum_index(CHANNELS.len())?;
            let mut assets: [&str; 4] = [""; 4];
            for a in assets.iter_mut() {
                *a = r.opt_str()?.unwrap_or("");
            }
            let game = r.opt_str()?.unwrap_or("");
            r.opt_str()?; // round_ref
            r.opt_str()?; // bet_ref
            let player = r.str()?;
            let amount = r.long()?;
            r.skip_bytes()?; // currency
            let occurred = r.long()?;
            r.opt_long()?; // tax_withheld_pit
            r.opt_long()?; // tax_withheld_military
            self.add_event(op, source, received, seq, kind, licence_kind, assets, game, player, amount,
                           occurred);
            Ok(())
        })?;
        r.finish()
    }

    #[allow(clippy::too_many_arguments)]
    fn add_event(&mut self, op: &'a str, source: &'a str, received: i64, seq: i64, kind: usize,
                 licence_kind: &'static str, assets: [&'a str; 4], game: &'a str, player: &'a str,
                 amount: i64, occurred: i64) {
        let hour = occurred.div_euclid(HOUR_US) * 3600;
        if kind == BET || kind == WIN || kind == REFUND {
            let g = self.ggr.entry((hour, op, licence_kind, game)).or_default();
            let i = match kind { BET => 0, WIN => 2, _ => 1 }; // the sums' order
            g.sums[i] += amount as i128;
            g.counts[match kind { BET => 0, WIN => 1, _ => 2 }] += 1;
            if kind == BET {
                g.players.insert(player);
            }
        }
        for (table, unit) in [(&mut self.minutely, MINUTE_US), (&mut self.hourly, HOUR_US)] {
            let key = (received.div_euclid(unit) * (unit / 1_000_000), op, KINDS[kind]);
            table.entry(key).or_insert_with(Ingest::new).add(amount, received, occurred);
        }
        self.sources.entry((op, source))
            .and_modify(|s| { s.0 = s.0.min(seq); s.1 = s.1.max(seq); s.2 += 1; s.3 = s.3.max(received); })
            .or_insert((seq, seq, 1, received));
        let day = occurred.div_euclid(DAY_US);
        for (asset_type, asset_id) in ASSET_TYPES.iter().zip(assets) {
            if asset_id.is_empty() {
                continue;
            }
            let a = self.assets.entry((day, op, *asset_type, asset_id, licence_kind, game))
                .or_insert(Asset { counts: [0; 2], sums: [0; 3], first: occurred, last: occurred });
            a.counts[0] += 1;
            match kind {
                BET => { a.counts[1] += 1; a.sums[0] += amount as i128; }
                REFUND => a.sums[1] += amount as i128,
                WIN => a.sums[2] += amount as i128,
                _ => {}
            }
            a.first = a.first.min(occurred);
            a.last = a.last.max(occurred);
        }
        if kind == BET {
            let band = STAKE_BANDS.iter().position(|&limit| amount < limit).unwrap_or(STAKE_BANDS.len());
            let s = self.stakes.entry((hour, op, licence_kind, game))
                .or_insert(Stakes { bands: [0; 5], max: amount, amounts: Vec::new() });
            s.bands[band] += 1;
            s.max = s.max.max(amount);
            s.amounts.push(amount);
        }
    }
}

/// A JSONCompactEachRow line, one JSON value per field.
struct Line<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Line<'o> {
    fn start(out: &'o mut Vec<u8>) -> Self {
        out.push(b'[');
        Line { out, first: true }
    }
    fn sep(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }
    fn s(mut self, v: &str) -> Self {
        self.sep();
        json::string(self.out, v);
        self
    }
    fn n(mut self, v: impl std::fmt::Display) -> Self {
        self.sep();
        write!(self.out, "{v}").expect("writing to a Vec");
        self
    }
    fn strs(mut self, vs: &[&str]) -> Self {
        self.sep();
        self.out.push(b'[');
        for (i, v) in vs.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            json::string(self.out, v);
        }
        self.out.push(b']');
        self
    }
    fn nums(mut self, vs: impl IntoIterator<Item = impl std::fmt::Display>) -> Self {
        self.sep();
        self.out.push(b'[');
        for (i, v) in vs.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write!(self.out, "{v}").expect("writing to a Vec");
        }
        self.out.push(b']');
        self
    }
    fn end(self) {
        self.out.extend_from_slice(b"]\n");
    }
}

fn sorted<K: Ord + Copy, V>(m: &HashMap<K, V>) -> Vec<(K, &V)> {
    let mut v: Vec<(K, &V)> = m.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

fn ingest_lines(m: &HashMap<IngestKey, Ingest>) -> Vec<u8> {
    let mut out = Vec::new();
    for ((t, op, kind), a) in sorted(m) {
        let mut delays = a.delays.clone();
        delays.sort_unstable();
        let mut received: Vec<(i64, u64)> = a.received.iter().map(|(r, n)| (*r, *n)).collect();
        received.sort_unstable();
        Line::start(&mut out).n(t).s(op).s(kind).n(a.events).n(a.amount).n(a.last_received)
            .n(a.last_occurred).n(a.late).n(a.max_delay).nums(&delays)
            .nums(received.iter().map(|x| x.0)).nums(received.iter().map(|x| x.1)).end();
    }
    out
}

/// The roll-up rows of the single-object ArchiveBatch records `values` (current version, headers
/// checked by the caller), as `{rollup name: JSONCompactEachRow bytes}`: see
/// `sinks.clickhouse.stream_rollups.rollup_files`.
#[pyfunction]
pub fn rollup_rows<'py>(py: Python<'py>, values: Vec<Bound<'py, PyBytes>>) -> PyResult<Bound<'py, PyDict>> {
    let mut fold = Fold::default();
    for value in &values {
        fold.add_record(value.as_bytes())?;
    }
    let f = &fold;
    let mut ggr = Vec::new();
    for ((hour, op, lk, game), g) in sorted(&f.ggr) {
        let mut players: Vec<&str> = g.players.iter().copied().collect();
        players.sort_unstable();
        Line::start(&mut ggr).n(hour).s(op).s(lk).s(game).n(g.sums[0]).n(g.sums[1]).n(g.sums[2])
            .n(g.counts[0]).n(g.counts[1]).n(g.counts[2]).strs(&players).end();
    }
    let mut sources = Vec::new();
    for ((op, source), s) in sorted(&f.sources) {
        Line::start(&mut sources).s(op).s(source).n(s.0).n(s.1).n(s.2).n(s.3).end();
    }
    let mut assets = Vec::new();
    for ((day, op, asset_type, asset_id, lk, game), a) in sorted(&f.assets) {
        Line::start(&mut assets).n(day).s(op).s(asset_type).s(asset_id).s(lk).s(game).n(a.counts[0])
            .n(a.counts[1]).n(a.sums[0]).n(a.sums[1]).n(a.sums[2]).n(a.first).n(a.last).end();
    }
    let mut stakes = Vec::new();
    for ((hour, op, lk, game), s) in sorted(&f.stakes) {
        let mut amounts = s.amounts.clone();
        amounts.sort_unstable();
        let b = s.bands;
        Line::start(&mut stakes).n(hour).s(op).s(lk).s(game).n(b[0]).n(b[1]).n(b[2]).n(b[3]).n(b[4])
            .n(s.max).nums(&amounts).end();
    }
    let out = PyDict::new(py);
    out.set_item("ggr_hourly", PyBytes::new(py, &ggr))?;
    out.set_item("ingest_minutely", PyBytes::new(py, &ingest_lines(&f.minutely)))?;
    out.set_item("ingest_hourly", PyBytes::new(py, &ingest_lines(&f.hourly)))?;
    out.set_item("source_seq", PyBytes::new(py, &sources))?;
    out.set_item("assets_daily", PyBytes::new(py, &assets))?;
    out.set_item("stakes_hourly", PyBytes::new(py, &stakes))?;
    Ok(out)
}
