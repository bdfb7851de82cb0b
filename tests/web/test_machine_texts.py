"""Every sentence a machine writes for a person is said in Ukrainian on the pages (issue 19).

Each test reads the templates from the code that writes them (the calls, each value replaced by a
sample of what it can be) and checks ``web.machine_texts`` says every one in Ukrainian: a new
sentence in the decoder, the personal-data hints, the alerts agent or the registry fails here
until it has its template and translation.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from types import ModuleType

import pytest

from dashboards.params import ParamError, parse
from pipeline.core import alerts, personal_data, processor, validation, watch
from pipeline.security import archive_guard
from pipeline.settings import TopicSettings
from registry import api, cli, service
from registry.core import access, identifiers, model, rules
from registry.core.errors import RegistryError
from registry.core.model import parse_record
from schemas import EVENT_BATCH, codec, diagnose
from schemas.diagnose import diagnose as diagnose_record
from web import i18n, machine_texts
from web.machine_texts import Sentences


@pytest.fixture
def ukrainian() -> Iterator[None]:
    token = i18n.use("uk")
    yield
    i18n.reset(token)


# What a value in a template can be, by its expression as the code writes it (default: 7).
SAMPLES = {
    # schemas/diagnose.py
    "noun": "block count", "t": "string", "avro": "long", "_ordinal(most)": "10th", "suffice": "suffices",
    "items": "2 items", "exc.reason": "invalid start byte", "'s' if extra > 1 else ''": "s",
    # pipeline/core/watch.py
    "rule.replace('_', ' ')": "unregistered asset", "ev['kind'].lower()": "withdrawal", "asset_kind": "site",
    "', '.join(sorted((m for m, v in markers.items() if v))) or 'no marker'": "night_play, daily_loss",
    "r['reason']": "unlicensed_channel", "p['day']": "2026-11-30", "skey": "op-1|s-1", "pkey": "op-1|p-1",
    "mkey": "op-1|EQ-1|slots", "op": "op-1",
    # registry/
    "who": "operator:ivan@op-1", "kind": "licence", "rec.kind": "establishment", "self.kind": "site",
    "status": "active", "was": "revoked", "self.status": "suspended", "since": "1790000000000000",
    "self.valid_to_us": "1790000000000000", "self.valid_from_us": "1780000000000000",
    "rec.valid_from_us": "1780000000000000", "rec.valid_to_us": "1790000000000000",
}
# Where one name means different things in two modules.
MODULE_SAMPLES = {diagnose: {"expected": "AlertState has 3 symbols: 0 to 2"}}
BY_FORMAT = {",.2f": "1,234.56", ",.0f": "4,000", ".2%": "96.50%", ".1f": "7.3", ".0f": "15", ".2f": "1.96",
             "02x": "7f"}


def sample(node: ast.expr, own: dict[str, str] | None = None) -> list[str]:
    """The texts ``node`` can write, each value as :data:`SAMPLES` says ([] if not a literal text)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return sample(node.body, own) + sample(node.orelse, own)
    if isinstance(node, ast.BoolOp):  # ``f.summary or f"resolved: ..."``
        return [t for v in node.values for t in sample(v, own)]
    if not isinstance(node, ast.JoinedStr):
        return []
    out = ""
    for v in node.values:
        if isinstance(v, ast.Constant):
            out += str(v.value)
            continue
        assert isinstance(v, ast.FormattedValue)
        source = ast.unparse(v.value)
        spec = ast.unparse(v.format_spec)[2:-1] if v.format_spec else ""
        value = (own or {}).get(source) or SAMPLES.get(source) or BY_FORMAT.get(spec) or "7"
        out += repr(value) if v.conversion == ord("r") else value
    return [out]


def calls(module: ModuleType, name: str, arg: int) -> list[str]:
    """Every text the ``arg``-th argument of ``name(...)`` calls in ``module`` can be."""
    out = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
            if len(node.args) > arg:
                out += sample(node.args[arg], MODULE_SAMPLES.get(module))
    return out


def returns(module: ModuleType, functions: set[str]) -> list[str]:
    out = []
    for fn in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(fn, ast.FunctionDef) and fn.name in functions:
            for node in ast.walk(fn):
                if isinstance(node, ast.Return) and node.value is not None:
                    out += sample(node.value)
    return out


def said_in_ukrainian(sentences: Sentences, texts: list[str]) -> list[str]:
    """``texts`` said by ``sentences``; fails on the first one no template covers."""
    out = []
    for text in texts:
        said = sentences.say(text)
        assert said is not None and said != text, f"no Ukrainian for {text!r}"
        out.append(said)
    return out


def test_every_decoder_detail_is_said_in_ukrainian(ukrainian: None) -> None:
    whats = calls(diagnose, "_Malformed", 2)
    assert len(whats) >= 15
    said_in_ukrainian(machine_texts.DIAGNOSES, whats)
    details = said_in_ukrainian(machine_texts.DECODER_DETAILS,
                                [f"events[3].amount at byte 41: {w}" for w in whats])
    assert all("байт" in d for d in details)
    unknown = calls(codec, "UnknownSchemaError", 0)
    assert len(unknown) >= 4
    rewritten = [t for t in unknown if not t.startswith("unknown schema fingerprint")]
    fingerprint = [t for node in ast.walk(ast.parse(inspect.getsource(processor)))
                   if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "detail"
                   for t in sample(node.value)]
    assert fingerprint and fingerprint[0].startswith("unknown schema fingerprint")
    said_in_ukrainian(machine_texts.DECODER_DETAILS, [*rewritten, *fingerprint, processor.UNDECODABLE])


def test_a_real_malformed_record_is_said_with_its_place(ukrainian: None) -> None:
    batch = {"operator_id": "op-1", "source_id": "s-1", "sent_at_us": 1, "events": []}
    record = codec.Codec().encode(EVENT_BATCH, batch)
    detail = diagnose_record(record[:-1] + b"\x05", EVENT_BATCH)  # the events' block count, cut short
    assert detail is not None
    said = machine_texts.receipt_detail(detail)
    assert said is not None and said.startswith("events, байт ") and "запис" in said, said
    # the decoder's bugs' detail, and an unknown writer
    assert machine_texts.receipt_detail(processor.UNDECODABLE) != processor.UNDECODABLE


def test_every_personal_data_hint_is_said_in_ukrainian(ukrainian: None) -> None:
    shapes = returns(personal_data, {"ua_phone"})
    hints = returns(personal_data, {"number_hint", "chain_hint", "mail_hint", "personal_data_hint"})
    assert len(shapes) == 2 and len(hints) >= 10
    said_in_ukrainian(machine_texts.PHONE_SHAPES, shapes)
    said_in_ukrainian(machine_texts.HINTS, [h.replace("(7)", f"({s})") for h in hints for s in shapes])
    (template,) = [t for t in calls(validation, "Rejection", 1) if t.startswith("player_ref 7")]
    details = said_in_ukrainian(machine_texts.PERSONAL_DATA_DETAILS, [template.replace(" 7;", f" {h};")
                                                                      for h in hints])
    assert not any("looks like" in d for d in details)  # the hint inside is said too
    hint = personal_data.player_ref_hint("ivan.petrenko1990")
    assert hint is not None
    said = machine_texts.receipt_detail(f"player_ref {hint}; send an opaque pseudonym")
    assert said is not None and "looks like" not in said and "псевдонім" in said, said


def test_every_alert_summary_is_said_in_ukrainian(ukrainian: None) -> None:
    summaries = calls(watch, "Finding", 3)
    assert len(summaries) >= 17
    resolved = [t for node in ast.walk(ast.parse(inspect.getsource(alerts)))
                if isinstance(node, ast.keyword) and node.arg == "summary" for t in sample(node.value)]
    assert any(t.startswith("resolved: ") for t in resolved)
    said = said_in_ukrainian(machine_texts.ALERT_SUMMARIES,
                             [*summaries, *(t for t in resolved if t.startswith("resolved: "))])
    assert not any("UAH" in s for s in said)
    topics = TopicSettings()
    breaches = archive_guard.guard_breaches(
        topics, [archive_guard.Binding("User:intruder", "TOPIC", topics.archive, "LITERAL", "WRITE")],
        {"retention.ms": "604800000", "retention.bytes": "1", "cleanup.policy": "compact"})
    gone = archive_guard.state_breaches(topics, archive_guard.GuardState.of(topics, [], {}))
    texts = [b.text for b in breaches + gone]
    assert len(texts) == 6
    guard = said_in_ukrainian(machine_texts.ALERT_SUMMARIES, [*texts, *(f"no longer so: {t}" for t in texts)])
    assert not any(why in g for g in guard for _, why in archive_guard.REQUIRED.values())


def test_a_summary_is_said_with_its_figures_the_readers_way(ukrainian: None) -> None:
    said = machine_texts.alert_summary("deposit of 98,000.00 UAH by op-1|p-1 (threshold 40,000 UAH)")
    assert said == ("поповнення рахунку на суму 98\u00a0000,00 грн, гравець op-1|p-1 "
                    "(поріг 40\u00a0000,00 грн)")
    said = machine_texts.alert_summary("op-1|s-1: 7.3 % of 1200 operations rejected over 15 min")
    assert said == "op-1|s-1: відхилено 7,3\u00a0% із 1\u00a0200 операцій за 15 хв"
    assert machine_texts.alert_summary("something new") is None
    token = i18n.use("en")
    try:
        assert machine_texts.alert_summary("op-1|s-1 is sending again") is None  # English: as written
    finally:
        i18n.reset(token)


def test_every_registry_explanation_is_said_in_ukrainian(ukrainian: None) -> None:
    modules = (api, cli, service, access, model, rules)
    messages = [t for m in modules for t in calls(m, "RegistryError", 1)]
    messages += [t for m in (model, identifiers) for t in calls(m, "ValueError", 0)]
    assert len(messages) >= 40
    denials = calls(access, "_refuse", 1)
    assert len(denials) == 5
    said_in_ukrainian(machine_texts.DENIALS, denials)
    said_in_ukrainian(machine_texts.REGISTRY_MESSAGES,
                      [*messages, *(f"operator:ivan@op-1 may not {d}" for d in denials)])


# Records each field constraint of the registry's models refuses (pydantic writes these messages).
BAD_RECORDS = [
    {"kind": "operator"},
    {"kind": "operator", "operator_id": "x" * 200, "legal_name": "A", "edrpou": "00032129"},
    {"kind": "operator", "operator_id": "!x", "legal_name": "A", "edrpou": "00032129"},
    {"kind": "operator", "operator_id": "op-1", "legal_name": "", "edrpou": "00032129"},
    {"kind": "operator", "operator_id": "op-1", "legal_name": 5, "edrpou": "00032129"},
    {"kind": "operator", "operator_id": "op-1", "legal_name": "A", "edrpou": "00032128"},
    {"kind": "operator", "operator_id": "op-1", "legal_name": "A", "edrpou": "00032129", "extra": 1},
    {"kind": "licence", "operator_id": "op-1", "licence_id": "L", "licence_kind": "X", "decision_ref": "d",
     "valid_from_us": 0},
    {"kind": "licence", "operator_id": "op-1", "licence_id": "L", "licence_kind": "SLOT_HALL",
     "decision_ref": "d", "valid_from_us": -1},
    {"kind": "licence", "operator_id": "op-1", "licence_id": "L", "licence_kind": "SLOT_HALL",
     "decision_ref": "d", "valid_from_us": "soon"},
    {"kind": "equipment", "operator_id": "op-1", "equipment_id": "E", "establishment_id": "S",
     "equipment_type": "slot_machine", "manufacturer": "M", "model": "m", "serial": "1", "certificate": "c",
     "certified_rtp_bp": 0},
    {"kind": "equipment", "operator_id": "op-1", "equipment_id": "E", "establishment_id": "S",
     "equipment_type": "slot_machine", "manufacturer": "M", "model": "m", "serial": "1", "certificate": "c",
     "certified_rtp_bp": 10_001},
    {"kind": "site", "operator_id": "op-1", "site_id": "W", "licence_id": "L", "domain": "not a domain"},
    {"kind": "dog"},
]


def test_the_registry_models_refusals_are_said_in_ukrainian(ukrainian: None) -> None:
    messages = set()
    for data in BAD_RECORDS:
        with pytest.raises(RegistryError) as refused:
            parse_record(data)
        messages.add(refused.value.message)
    assert len(messages) >= 10, messages
    said = said_in_ukrainian(machine_texts.REGISTRY_MESSAGES, sorted(messages))
    assert not any("should" in s or "Input" in s for s in said)


def test_a_refusal_keeps_its_values_and_labels_them(ukrainian: None) -> None:
    said = machine_texts.registry_message("licence LIC-1 is revoked; it cannot become active")
    assert said == "ліцензія LIC-1 має статус «анульовано»; змінити його на «чинна» не можна"
    said = machine_texts.registry_message("no establishment 'EST-9' is registered")
    assert said == "запис виду «гральний заклад» 'EST-9' не зареєстровано"


def test_a_report_parameter_refused_is_said_with_pydantics_words_translated(ukrainian: None) -> None:
    for query, said in (({"operator": "x" * 300}, "параметр operator: не більше ніж 128 символів"),
                        ({"granularity": "weeks"}, "параметр granularity: має бути одним із: minute, hour"),
                        ({"silent_after_s": "0"}, "параметр silent_after_s: має бути не меншим за 1")):
        with pytest.raises(ParamError) as refused:
            parse(query, now_us=1_800_000_000_000_000)
        assert machine_texts.param_error(refused.value.template, refused.value.fields).startswith(said)
