import re

import pytest

from pipeline.contract.reasons import GUIDE_BEGIN, GUIDE_END, reason_texts, with_guide_table
from pipeline.core.model import Reason
from pipeline.settings import REPO_ROOT, ValidationSettings


@pytest.mark.parametrize("doc", ["docs/integration.md", "schemas/README.md"])
def test_the_guides_list_every_reason_code(doc: str) -> None:
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", (REPO_ROOT / doc).read_text(), re.MULTILINE))
    assert {r.value for r in Reason} <= listed


def test_the_schemas_guide_publishes_every_reason_in_both_languages_from_the_one_table() -> None:
    """The operators' contract in both languages (issue 19): the AsyncAPI document carries each
    description as ``description`` and ``x-description-uk``; schemas/README.md carries the table
    :func:`guide_table` writes from the same descriptions (``make i18n`` rewrites it)."""
    guide = (REPO_ROOT / "schemas/README.md").read_text()
    assert guide == with_guide_table(guide, ValidationSettings()), "run python -m pipeline.contract.reasons"
    for code, text in reason_texts(ValidationSettings()).items():
        scope = {"record": "запис / record", "event": "подія / event"}[text.scope]
        row = f"| `{code.value}` | {scope} | {text.uk.replace('|', chr(92) + '|')} | {text.en} |"
        assert row in guide, code
        assert text.uk and text.en and text.uk != text.en, code


def test_the_guide_table_is_replaced_between_its_markers_only() -> None:
    guide = f"before\n{GUIDE_BEGIN}\nstale\n{GUIDE_END}\nafter\n"
    new = with_guide_table(guide, ValidationSettings())
    assert new.startswith(f"before\n{GUIDE_BEGIN}\n| код / code |")
    assert new.endswith(f"|\n{GUIDE_END}\nafter\n")
    assert "stale" not in new and with_guide_table(new, ValidationSettings()) == new
    with pytest.raises(ValueError, match="block"):
        with_guide_table("no markers", ValidationSettings())
