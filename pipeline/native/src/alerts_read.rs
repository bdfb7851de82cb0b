//! The alerts agent's read of an ArchiveBatch (mirrors `pipeline/core/watch.py`'s
//! `watched_events`, the reference): the batch's operator, source and time, and each event as
//! a dict of only the fields the watches read, without the hashes, the receipt IDs or a
//! wrapper dict per event.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::avro_read::Reader;
use crate::validator::decode::{CHANNELS, KINDS, LICENCE_KINDS};

/// A single-object ArchiveBatch of the current version (header checked by the caller) as
/// `(operator_id, source_id, received_at_us, events)`: `pipeline.core.watch.watched_events`.
#[pyfunction]
pub fn watched_events<'py>(py: Python<'py>, value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut r = Reader::single_object(value)?;
    r.skip_bytes()?; // chain_id
    let operator_id = r.str()?;
    let source_id = r.str()?;
    r.skip_bytes()?; // ingest_topic
    r.long()?; // ingest_partition
    r.long()?; // ingest_offset
    let received_at_us = r.long()?;
    r.long()?; // link_rule
    // The enums' symbols as Python strings once per record, shared by its events.
    let kinds: Vec<Bound<'py, PyString>> = KINDS.iter().map(|k| PyString::new(py, k)).collect();
    let licence_kinds: Vec<Bound<'py, PyString>> = LICENCE_KINDS.iter().map(|k| PyString::new(py, k)).collect();
    let keys = [intern!(py, "establishment_id"), intern!(py, "equipment_id"), intern!(py, "site_id"),
                intern!(py, "app_id"), intern!(py, "game_type")];
    let events = PyList::empty(py);
    r.array(|r| {
        r.skip_bytes()?; // receipt_id
        r.long()?; // chain_index
        r.fixed(64)?; // prev_hash, hash
        r.long()?; // seq
        r.skip_bytes()?; // operator_ref
        let ev = PyDict::new(py);
        ev.set_item(intern!(py, "kind"), &kinds[r.enum_index(KINDS.len())?])?;
        ev.set_item(intern!(py, "licence_id"), r.str()?)?;
        ev.set_item(intern!(py, "licence_kind"), &licence_kinds[r.enum_index(LICENCE_KINDS.len())?])?;
        r.enum_index(CHANNELS.len())?;
        for key in keys {
            ev.set_item(key, r.opt_str()?)?;
        }
        r.opt_str()?; // round_ref
        r.opt_str()?; // bet_ref
        ev.set_item(intern!(py, "player_ref"), r.str()?)?;
        ev.set_item(intern!(py, "amount"), r.long()?)?;
        r.skip_bytes()?; // currency
        ev.set_item(intern!(py, "occurred_at_us"), r.long()?)?;
        ev.set_item(intern!(py, "tax_withheld_pit"), r.opt_long()?)?;
        ev.set_item(intern!(py, "tax_withheld_military"), r.opt_long()?)?;
        events.append(ev)?;
        Ok(())
    })?;
    r.finish()?;
    Ok((operator_id, source_id, received_at_us, events).into_pyobject(py)?.into_any())
}
