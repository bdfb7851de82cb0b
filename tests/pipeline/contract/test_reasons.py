import re

import pytest

from pipeline.contract.reasons import reason_texts
from pipeline.core.model import Reason
from pipeline.settings import REPO_ROOT, ValidationSettings


@pytest.mark.parametrize("doc", ["docs/integration.md", "schemas/README.md"])
def test_the_guides_list_every_reason_code(doc: str) -> None:
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", (REPO_ROOT / doc).read_text(), re.MULTILINE))
    assert {r.value for r in Reason} <= listed


def test_the_schemas_guide_publishes_every_reasons_ukrainian_description() -> None:
    """The operators' contract in both languages (issue 19): the AsyncAPI document carries each
    description as ``description`` and ``x-description-uk``; schemas/README.md lists the Ukrainian."""
    guide = (REPO_ROOT / "schemas/README.md").read_text()
    for code, text in reason_texts(ValidationSettings()).items():
        scope = {"record": "запис", "event": "подія"}[text.scope]
        assert f"| `{code.value}` | {scope} | {text.uk.replace('|', chr(92) + '|')} |" in guide, code
