import re

import pytest

from pipeline.core.model import Reason
from pipeline.settings import REPO_ROOT


@pytest.mark.parametrize("doc", ["docs/integration.md", "schemas/README.md"])
def test_the_guides_list_every_reason_code(doc: str) -> None:
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", (REPO_ROOT / doc).read_text(), re.MULTILINE))
    assert {r.value for r in Reason} <= listed
