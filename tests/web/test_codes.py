"""Every machine code a person reads has its description in Ukrainian and in English (issue 19).

One table per code family; each test compares a table with the code's own source (the enum, the
rules file, the SQL), so a new code without a description fails here, and test_i18n.py fails while
a description lacks its Ukrainian.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator

import pytest

from dashboards.reports import DATA_QUALITY
from pipeline.archive_logs import PROOF_REFUSAL_CODES
from pipeline.core import watch
from pipeline.core.alert_rules import Severity
from pipeline.core.model import Channel, EventKind, LicenceKind, Reason
from pipeline.settings import REPO_ROOT
from registry.core.errors import Code
from web import i18n, labels
from web.lookup import SHOWN


@pytest.fixture
def ukrainian() -> Iterator[None]:
    token = i18n.use("uk")
    yield
    i18n.reset(token)


def _described_in_both(table: dict[str, str]) -> None:
    """Each code's English is written, and its Ukrainian is a translation, not the English again."""
    uk = i18n.translations("uk")
    for code, text in table.items():
        assert text.strip(), code
        assert uk.gettext(text) != text, f"{code}: {text!r} has no Ukrainian"


def _alert_rules() -> set[str]:
    return set(json.loads((REPO_ROOT / "pipeline/data/alert_rules.json").read_text())["rules"])


def _alert_subject_kinds() -> set[str]:
    """The Alert schema's subject kinds: the watches' and the archive guard's alike."""
    schema = json.loads((REPO_ROOT / "schemas" / "avro" / "ua.dsom.v1.Alert.avsc").read_text())
    field = next(f for f in schema["fields"] if f["name"] == "subject_kind")
    return set(field["type"]["symbols"])


def _statement_statuses() -> set[str]:
    """The GgrStatement schema's statuses: every status a statement can be issued with."""
    schema = json.loads((REPO_ROOT / "schemas" / "avro" / "ua.dsom.v1.GgrStatement.avsc").read_text())
    field = next(f for f in schema["fields"] if f["name"] == "status")
    return set(field["type"]["symbols"])


CODE_FAMILIES = {
    "receipt kinds": (labels.EVENT_KINDS, {str(k) for k in EventKind}),
    "channels": (labels.CHANNELS, {str(c) for c in Channel}),
    "licence kinds": (labels.LICENCE_KINDS, {str(k) for k in LicenceKind}),
    "statement statuses": (labels.STATEMENT_STATUSES, _statement_statuses()),
    "look-up columns": (labels.EVENT_COLUMNS, set(SHOWN)),
    "registry refusals": (labels.REGISTRY_REFUSALS, {str(c) for c in Code}),
    "rejection reasons in a few words": (labels.REASON_TITLES, {str(r) for r in Reason}),
    "alert rules": (labels.ALERT_RULES, _alert_rules()),
    "alert severities": (labels.ALERT_SEVERITIES, set(Severity.__args__)),
    "alert states": (labels.ALERT_STATES, {"OPENED", "UPDATED", "RESOLVED"}),
    "alert subjects": (labels.ALERT_SUBJECTS, _alert_subject_kinds()),
    "proof refusals": (labels.PROOF_REFUSALS, set(PROOF_REFUSAL_CODES)),
}


@pytest.mark.parametrize("family", sorted(CODE_FAMILIES))
def test_every_code_of_a_family_has_its_description(family: str) -> None:
    table, codes = CODE_FAMILIES[family]
    assert codes, family  # the source was read
    assert set(table) == codes, f"{family}: undescribed {codes - set(table)}, stale {set(table) - codes}"
    _described_in_both(table)


def test_every_rejection_reason_is_described_in_both_languages(ukrainian: None) -> None:
    uk = labels.reasons()
    token = i18n.use("en")
    try:
        en = labels.reasons()
    finally:
        i18n.reset(token)
    assert set(uk) == set(en) == {str(r) for r in Reason}
    assert all(uk[c] and en[c] and uk[c] != en[c] for c in uk)
    assert labels.reason("unknown_licence") == "Ліцензію licence_id не зареєстровано за цим оператором."


def test_every_data_quality_issue_and_category_is_described() -> None:
    """The report's issues are the rejection reasons and the literals its SQL writes."""
    literals = re.findall(r"SELECT operator_id, '(\w+)', '(\w+)'", DATA_QUALITY.sql)
    assert {i for i, _ in literals} == set(labels.DATA_QUALITY_ISSUES)
    categories = {"rejection", *(c for _, c in literals)}
    assert categories == set(labels.REPORT_VALUES["category"])
    _described_in_both(labels.DATA_QUALITY_ISSUES)
    assert set(labels.issues()) == {str(r) for r in Reason} | set(labels.DATA_QUALITY_ISSUES)


def _figure_names(argument: str) -> set[str]:
    """The constant keys of every ``argument={...}`` the watch's findings are given."""
    return {
        key.value
        for call in ast.walk(ast.parse(inspect.getsource(watch)))
        if isinstance(call, ast.Call)
        for kw in call.keywords
        if kw.arg == argument and isinstance(kw.value, ast.Dict)
        for key in kw.value.keys
        if isinstance(key, ast.Constant)
    }


def test_every_figure_an_alert_carries_is_described() -> None:
    amounts, measures = _figure_names("amounts"), _figure_names("measures")
    markers = set(re.findall(r'"(\w+)": (?:1|3)\s', inspect.getsource(watch.rg_markers)))
    assert amounts and measures and len(markers) == 7
    assert amounts == set(labels.ALERT_AMOUNTS)
    assert measures | {f"marker_{m}" for m in markers} == set(labels.ALERT_MEASURES)
    _described_in_both(labels.ALERT_AMOUNTS)
    _described_in_both(labels.ALERT_MEASURES)


def test_figures_and_details_are_written_the_readers_way(ukrainian: None) -> None:
    figures = labels.alert_figures({"amount": 12_345_678}, {"rejected_percent": 7.5, "operations": 1200})
    assert figures["amount"] == ("сума", "123\u00a0456,78 грн")
    assert figures["rejected_percent"][1] == "7,5" and figures["operations"][1] == "1\u00a0200"
    assert labels.detail("3 source(s) with gaps") == "джерел із пропусками: 3"
    assert labels.detail("last 2026-11-22 10:15:00.123") == "востаннє: 22.11.2026, 12:15:00 (UTC+02:00)"
    assert labels.detail("something else") == "something else"
    assert labels.moment("2026-07-01T09:00:00.5Z") == "01.07.2026, 12:00:00 (UTC+03:00)"  # summer time
    assert labels.moment("2026-12-01 09:00:00") == "01.12.2026, 11:00:00 (UTC+02:00)"
    assert labels.moment("") == ""


# Details said by web.machine_texts instead (tests/web/test_machine_texts.py): the decoder's, and the hints.
DETAILS_SAID_ELSEWHERE = {"malformed", "unknown_schema", "personal_data"}


def _sample(node: ast.expr) -> str | None:
    """A detail the expression can write, each value in it replaced by 7; None if not a literal text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values)
    return None


def _validator_details() -> dict[str, list[str]]:
    """Every detail text the Python engine writes, by reason (the Rust engine writes the same bytes)."""
    from pipeline.agents import validator
    from pipeline.core import admission, conflicts, processor, validation

    out: dict[str, list[str]] = {}
    for module in (validation, processor, admission, validator):
        for call in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(call, ast.Call):
                continue
            args = call.args
            for i, arg in enumerate(args[:-1]):
                if (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                        and arg.value.id == "Reason"):
                    text = _sample(args[i + 1])
                    if text is not None:
                        out.setdefault(Reason[arg.attr].value, []).append(text)
    fn = next(n for n in ast.walk(ast.parse(inspect.getsource(conflicts)))
              if isinstance(n, ast.FunctionDef) and n.name == "conflict_detail")
    ret = next(n for n in ast.walk(fn) if isinstance(n, ast.Return))
    assert ret.value is not None
    out.setdefault("conflicting_duplicate", []).append(str(_sample(ret.value)))
    return out


def test_every_validator_detail_is_said_in_ukrainian(ukrainian: None) -> None:
    details = _validator_details()
    assert len(details) >= 25 and "unprocessable" in details and "wrong_partition" in details
    for reason, texts in details.items():
        if reason in DETAILS_SAID_ELSEWHERE:
            continue
        for text in texts:
            said = labels.receipt_detail(text)
            assert said and said != text, f"{reason}: no Ukrainian for {text!r}"
    _described_in_both(dict(labels.RECEIPT_DETAILS))


def test_a_detail_is_said_with_its_values_and_labels(ukrainian: None) -> None:
    said = labels.receipt_detail("licence LIC-9 is for SLOT_HALL, not ONLINE_CASINO")
    assert said == "ліцензію LIC-9 видано на вид «зал гральних автоматів», а не «казино в мережі Інтернет»"
    said = labels.receipt_detail("WIN references bet_ref 'b-1', which this source has not placed "
                                 "(or placed beyond the bet horizon)")
    assert said is not None
    assert said.startswith("подія виду «виплата виграшу» посилається на ставку bet_ref 'b-1'")
    assert labels.receipt_detail("unexpected text") is None
    token = i18n.use("en")
    try:
        assert labels.receipt_detail("seq 0 must be >= 1") is None  # English pages show the receipt's text
    finally:
        i18n.reset(token)


def test_the_look_ups_coded_and_time_columns_are_columns_it_shows() -> None:
    """A renamed column would otherwise silently lose its descriptions or its Kyiv time."""
    assert set(labels.EVENT_CODES) | labels.EVENT_TIMES <= set(SHOWN)
    assert labels.EVENT_CODES["kind"] is labels.EVENT_KINDS
    assert labels.EVENT_CODES["channel"] is labels.CHANNELS
