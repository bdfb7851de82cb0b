"""One engine setting for every agent; with the Python reference the crate is never imported."""

from __future__ import annotations

import subprocess
import sys

from pipeline.settings import REPO_ROOT

# Run in a fresh interpreter where importing dsom_native fails, as on a machine without Rust.
WITHOUT_CRATE = """
import sys
sys.modules["dsom_native"] = None  # any import of it raises ImportError
from pipeline.core.engine import crate
from pipeline.core.processor import make_processor
from pipeline.core.taxation import TaxProcessor, TaxState
from pipeline.core.tax import TaxRates
from pipeline.operator.fleet import demo_registry
from pipeline.settings import Settings, ValidationSettings
from schemas import RECEIPT_BATCH, default_codec
from sinks.clickhouse.records import readers
from tests.sinks.clickhouse.samples import (archive_batch, event, payout, payout_tax_batch, receipt,
                                           receipt_batch)

s = Settings(validation=ValidationSettings(engine="python"))
codec = default_codec()
make_processor(demo_registry(1), s.validation, s.topics, codec)
tax = TaxProcessor(TaxRates.load(s.tax.rates_path), s.tax, codec, s.validation.engine)
out = tax.process_record(TaxState("dsom.archive", 0, s.tax), archive_batch([event(seq=1)]))
rejected, payouts = readers(s.validation.engine)
view = rejected(receipt_batch([receipt(1), receipt(2, status="ACCEPTED")]))
cols = payouts(payout_tax_batch([payout("r-1", 5000, 900)]))
try:
    crate()
except ImportError as exc:
    message = str(exc)
print(out.events, len(view[6]), len(cols[3][0]), "make native" in message)
"""


def test_the_python_engine_runs_every_agent_s_logic_without_the_crate() -> None:
    got = subprocess.run([sys.executable, "-c", WITHOUT_CRATE], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["1", "1", "1", "True"]
