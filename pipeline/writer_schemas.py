"""Where operators' registered writer schemas are kept: a small interface and a folder behind it.

For now the folder ``Settings.writer_schemas_dir`` holds ``<operator_id>/<fingerprint>.avsc``,
each the schema text as the operator registered it (``dsom schema register``). The SQL
registry (issue 13) is to take this over behind the same two methods. A schema is checked
(``schemas.evolution.check_writer``) before it is stored and again when it is loaded, so a
file edited by hand cannot smuggle in a schema dsom cannot resolve.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Protocol

from schemas.evolution import WriterSchema, WriterSchemas, check_writer

log = logging.getLogger(__name__)
OPERATOR_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class WriterSchemaStore(Protocol):
    """Keeps operators' writer schemas; ``load`` gives what the validator resolves with."""

    def register(self, operator_id: str, text: str) -> WriterSchema: ...

    def load(self) -> WriterSchemas: ...


class FolderWriterSchemaStore:
    """``<folder>/<operator_id>/<fingerprint>.avsc``, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def register(self, operator_id: str, text: str) -> WriterSchema:
        """Check ``text`` against dsom's reader schema and keep it (raises if it does not resolve)."""
        if not OPERATOR_ID.fullmatch(operator_id):
            raise ValueError(f"not an operator ID: {operator_id!r}")
        schema = check_writer(operator_id, text)
        path = self.folder / operator_id / f"{schema.fingerprints[0].hex()}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return schema

    def load(self) -> WriterSchemas:
        schemas = []
        for path in sorted(self.folder.glob("*/*.avsc")):
            try:
                schemas.append(check_writer(path.parent.name, path.read_text()))
            except ValueError:  # it was checked when registered: an edit by hand broke it
                log.exception("writer schema %s no longer resolves; records written with it stay "
                              "unknown_schema", path)
        return WriterSchemas(schemas)

    def changed_at(self) -> float:
        """The latest change (registration) in the folder, to know when to load again."""
        dirs = [self.folder, *self.folder.glob("*/")] if self.folder.exists() else []
        return max((d.stat().st_mtime for d in dirs), default=0.0)
