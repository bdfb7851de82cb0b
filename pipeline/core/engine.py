"""The one choice of engine: the compiled crate (``pipeline/native``) or the Python reference.

``ValidationSettings.engine`` (``DSOM_VALIDATION__ENGINE=native|python``) decides it for every
agent alike: the validator's processor (:func:`pipeline.core.processor.make_processor`), the
tax agent's archive reader (:class:`pipeline.core.taxation.TaxProcessor`) and the ClickHouse
sink's receipt and payout readers (:func:`sinks.clickhouse.records.readers`). Each takes an
:data:`Engine` and nothing else decides. With ``python`` the crate is never imported, so dsom
runs (more slowly) where it cannot be built; the tests hold the two to identical results.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Literal

Engine = Literal["native", "python"]


def crate() -> ModuleType:
    """The compiled crate, or a clear error saying how to build it or do without it."""
    try:
        return importlib.import_module("dsom_native")
    except ImportError as exc:
        raise ImportError("the compiled engine (dsom_native) is not built: run `make native`, or set "
                          "DSOM_VALIDATION__ENGINE=python to use the Python reference") from exc
