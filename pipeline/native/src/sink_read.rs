//! The ClickHouse sink's reads (mirror `sinks/clickhouse/records.py`, the reference): only the
//! rejected receipts of a ReceiptBatch, and a PayoutTaxBatch as columns, without a dict per item.

use pyo3::prelude::*;

use crate::avro_read::{malformed, Reader};

const REJECTED: usize = 1; // ReceiptStatus: ACCEPTED, REJECTED, DUPLICATE

type Rejected<'a> = (Option<i64>, Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>,
                     Option<&'a str>, Option<i64>, Option<i64>);

/// A single-object ReceiptBatch of the current version (header checked by the caller) as `(operator_id, source_id,
/// ingest_topic, ingest_partition, ingest_offset, processed_at_us, rejected)`, where
/// `rejected` holds `(seq, operator_ref, receipt_id, reason, detail, kind, amount,
/// occurred_at_us)` of each REJECTED receipt, in order.
#[pyfunction]
pub fn rejected_receipts<'py>(py: Python<'py>, value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut r = Reader::single_object(value)?;
    let operator_id = r.str()?;
    let source_id = r.opt_str()?;
    let ingest_topic = r.str()?;
    let ingest_partition = r.long()?;
    let ingest_offset = r.long()?;
    let processed_at = r.long()?;
    let mut rejected: Vec<Rejected> = Vec::new();
    r.array(|r| {
        let seq = r.opt_long()?;
        let operator_ref = r.opt_str()?;
        let status = r.enum_index(3)?;
        let receipt_id = r.str()?;
        let reason = r.opt_str()?;
        let detail = r.opt_str()?;
        let kind = r.opt_str()?;
        let amount = r.opt_long()?;
        let occurred = r.opt_long()?;
        r.opt_str()?; // first_receipt_id
        if status == REJECTED {
            rejected.push((seq, operator_ref, receipt_id, reason, detail, kind, amount, occurred));
        }
        Ok(())
    })?;
    r.finish()?;
    if i32::try_from(ingest_partition).is_err() {
        return Err(malformed("int out of range"));
    }
    Ok((operator_id, source_id, ingest_topic, ingest_partition, ingest_offset, processed_at, rejected)
        .into_pyobject(py)?.into_any())
}

/// A single-object PayoutTaxBatch (header checked by the caller) as `(operator_id, chain_id,
/// ingest_offset, columns)`: one list per PayoutTax field, in schema order (`discrepancy` as 0/1).
#[pyfunction]
pub fn payout_columns<'py>(py: Python<'py>, value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut r = Reader::single_object(value)?;
    let operator_id = r.str()?;
    let chain_id = r.str()?;
    let ingest_offset = r.long()?;
    let mut text: [Vec<&str>; 4] = Default::default(); // receipt_id, licence_id, licence_kind, player_ref
    let mut nums: [Vec<i64>; 9] = Default::default(); // occurred_at_us .. military_withheld, discrepancy
    r.array(|r| {
        for col in text.iter_mut() {
            col.push(r.str()?);
        }
        for col in nums.iter_mut().take(8) {
            col.push(r.long()?);
        }
        let flag = r.fixed(1)?[0];
        if flag > 1 {
            return Err(malformed("boolean is neither 0 nor 1"));
        }
        nums[8].push(flag as i64);
        Ok(())
    })?;
    r.finish()?;
    let mut columns: Vec<Bound<'py, PyAny>> = Vec::with_capacity(13);
    for col in text {
        columns.push(col.into_pyobject(py)?.into_any());
    }
    for col in nums {
        columns.push(col.into_pyobject(py)?.into_any());
    }
    Ok((operator_id, chain_id, ingest_offset, columns).into_pyobject(py)?.into_any())
}
