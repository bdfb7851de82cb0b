//! The tax agent's read of an ArchiveBatch (mirrors `pipeline/core/archive_tax.py`, the reference):
//! per-batch sums of what GGR statements count, the winnings tax of every WIN, and the
//! PayoutTaxBatch record written by hand, without a Python object per event.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::avro_read::{put_long, put_str, Reader};
use crate::validator::decode::{CHANNELS, KINDS, LICENCE_KINDS};

const BET: usize = 0;
const WIN: usize = 1;
const REFUND: usize = 2;
const PPM: i128 = 1_000_000;

/// Rates with effective instants, ascending (`pipeline.core.tax.RateSchedule`).
struct Schedule {
    starts: Vec<i64>,
    ppms: Vec<i64>,
}

impl Schedule {
    fn at(&self, t: i64) -> PyResult<i64> {
        let i = self.starts.partition_point(|&s| s <= t); // bisect_right
        if i == 0 {
            let first = self.starts.first().map_or(String::from("(none)"), |s| s.to_string());
            return Err(PyValueError::new_err(format!("no rate in force at {t} (first from {first})")));
        }
        Ok(self.ppms[i - 1])
    }
}

/// `pipeline.core.tax.apply_rate`: amount x ppm / 10^6, rounded half up (floor division, as Python).
fn apply_rate(amount: i64, ppm: i64) -> PyResult<i64> {
    let v = (amount as i128 * ppm as i128 + PPM / 2).div_euclid(PPM);
    i64::try_from(v).map_err(|_| PyValueError::new_err("tax amount out of the Avro long range"))
}

type Discrepancy<'a> = (&'a str, &'a str, i64, i64, i64, i64, i64, i64);
type Totals = (i128, i128, i128, i128, i128, i128, i128, i128, i128, i128, i128);

/// Reads ArchiveBatch records for the tax agent, with the tax rates it was made with.
#[pyclass(frozen)]
pub struct ArchiveTaxer {
    pit: Schedule,
    military: Schedule,
    tolerance: i64,
    payout_header: Vec<u8>,
}

#[pymethods]
impl ArchiveTaxer {
    #[new]
    fn new(pit: (Vec<i64>, Vec<i64>), military: (Vec<i64>, Vec<i64>), tolerance: i64,
           payout_header: Vec<u8>) -> PyResult<Self> {
        for s in [&pit, &military] {
            if s.0.len() != s.1.len() || s.0.windows(2).any(|w| w[0] > w[1]) {
                return Err(PyValueError::new_err("a rate schedule needs ascending starts, one rate each"));
            }
        }
        Ok(ArchiveTaxer { pit: Schedule { starts: pit.0, ppms: pit.1 },
                          military: Schedule { starts: military.0, ppms: military.1 },
                          tolerance, payout_header })
    }

    /// The single-object ArchiveBatch `value` (header checked by the caller) read as
    /// `(operator_id, chain_id, ingest_offset, events, first_us, last_us, totals, payouts,
    /// payout_count, discrepancies)`: see `pipeline.core.archive_tax.ArchiveTax`.
    fn read<'py>(&self, py: Python<'py>, value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let mut r = Reader::single_object(value)?;
        let chain_id = r.str()?;
        let operator_id = r.str()?;
        r.skip_bytes()?; // source_id
        r.skip_bytes()?; // ingest_topic
        r.long()?; // ingest_partition
        let ingest_offset = r.long()?;
        r.long()?; // received_at_us
        r.long()?; // link_rule
        let mut sums = [0i128; 11];
        let (mut first, mut last, mut events) = (i64::MAX, i64::MIN, 0usize);
        let mut items: Vec<u8> = Vec::new();
        let mut discrepancies: Vec<Discrepancy> = Vec::new();
        r.array(|r| {
            let receipt_id = r.str()?;
            r.long()?; // chain_index
            r.fixed(64)?; // prev_hash, hash
            r.long()?; // seq
            r.skip_bytes()?; // operator_ref
            let kind = r.enum_index(KINDS.len())?;
            let licence_id = r.str()?;
            let licence_kind = LICENCE_KINDS[r.enum_index(LICENCE_KINDS.len())?];
            r.enum_index(CHANNELS.len())?;
            for _ in 0..7 {
                // establishment_id .. bet_ref
                if r.present()? {
                    r.skip_bytes()?;
                }
            }
            let player_ref = r.str()?;
            let amount = r.long()?;
            r.skip_bytes()?; // currency
            let t = r.long()?;
            let pit_held = r.opt_long()?.unwrap_or(0);
            let mil_held = r.opt_long()?.unwrap_or(0);
            events += 1;
            first = first.min(t);
            last = last.max(t);
            match kind {
                BET => { sums[0] += amount as i128; sums[1] += 1; }
                REFUND => { sums[2] += amount as i128; sums[3] += 1; }
                WIN => {
                    let (pit_rate, mil_rate) = (self.pit.at(t)?, self.military.at(t)?);
                    let (pit_due, mil_due) = (apply_rate(amount, pit_rate)?, apply_rate(amount, mil_rate)?);
                    let tol = self.tolerance as i128;
                    let off = (pit_due as i128 - pit_held as i128).abs() > tol
                        || (mil_due as i128 - mil_held as i128).abs() > tol;
                    sums[4] += amount as i128;
                    sums[5] += 1;
                    sums[6] += pit_due as i128;
                    sums[7] += mil_due as i128;
                    sums[8] += pit_held as i128;
                    sums[9] += mil_held as i128;
                    sums[10] += off as i128;
                    for s in [receipt_id, licence_id, licence_kind, player_ref] {
                        put_str(&mut items, s);
                    }
                    for n in [t, amount, pit_rate, mil_rate, pit_due, mil_due, pit_held, mil_held] {
                        put_long(&mut items, n);
                    }
                    items.push(off as u8);
                    if off {
                        discrepancies.push((receipt_id, licence_id, t, amount, pit_due, pit_held,
                                            mil_due, mil_held));
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        r.finish()?;
        let payouts = sums[5] as usize; // the WINs
        let record = if payouts > 0 {
            let mut out = Vec::with_capacity(self.payout_header.len() + 64 + items.len());
            out.extend_from_slice(&self.payout_header);
            put_str(&mut out, operator_id);
            put_str(&mut out, chain_id);
            put_long(&mut out, ingest_offset);
            put_long(&mut out, payouts as i64);
            out.extend_from_slice(&items);
            out.push(0);
            Some(PyBytes::new(py, &out))
        } else {
            None
        };
        if events == 0 {
            (first, last) = (0, 0);
        }
        let s = sums;
        let totals: Totals = (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10]);
        Ok((operator_id, chain_id, ingest_offset, events, first, last, totals, record, payouts,
            discrepancies).into_pyobject(py)?.into_any())
    }
}
