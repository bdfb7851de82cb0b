//! dsom's per-event hot paths, compiled: the Python modules they mirror stay the reference.
//!
//! Every function here has a Python twin in `pipeline/` or `schemas/` and the tests compare the
//! two byte for byte; what is slow in Python but rare (rejections, odd encodings) is left to
//! Python rather than duplicated.

use pyo3::prelude::*;

mod alerts_read;
mod archive;
mod avro_read;
mod receipts;
mod validator;
mod sink_read;

#[pymodule]
fn dsom_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(receipts::receipt_id, m)?)?;
    m.add_class::<validator::Validator>()?;
    m.add_class::<validator::Decision>()?;
    m.add_class::<validator::ValidatorState>()?;
    m.add_class::<validator::PlayerRefRules>()?;
    m.add_class::<archive::ArchiveTaxer>()?;
    m.add_function(wrap_pyfunction!(sink_read::rejected_receipts, m)?)?;
    m.add_function(wrap_pyfunction!(sink_read::payout_columns, m)?)?;
    m.add_function(wrap_pyfunction!(alerts_read::watched_events, m)?)?;
    Ok(())
}
