"""Languages (issue 19): every string a person reads has its Ukrainian, extracted from the code;
Ukrainian is the default, a switch is remembered; numbers, money and times follow Ukrainian rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.settings import Settings
from tests.web.conftest import login_as, make_world
from web import i18n
from web.app import app_from_settings
from web.i18n_check import extract, merged, po_path, untranslated
from web.login.core import MESSAGES, LoginRefused, Refusal

# %(name)s (gettext's convention) and {name} (str.format's, which some pages use)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]|\{(\w*)[^{}]*\}")


@pytest.fixture(scope="module")
def template():  # type: ignore[no-untyped-def]
    return extract()


def test_every_string_a_person_reads_has_its_ukrainian(template) -> None:  # type: ignore[no-untyped-def]
    """Extracted from the code now, not read from the catalogs: a new _() string fails this test."""
    assert len(template) > 250
    missing = untranslated(template, merged(template, "uk"))
    assert not missing, (
        f"{len(missing)} strings lack their Ukrainian: run `make i18n` and translate them in "
        f"{po_path('uk')}:\n"
        + "\n".join(f"  {m.id!r} ({sorted(p for p, _ in m.locations)})" for m in missing)
    )


def test_the_catalogs_are_the_codes_strings_and_keep_their_placeholders(template) -> None:  # type: ignore[no-untyped-def]
    for locale in i18n.LOCALES:
        kept = {m.id for m in i18n.catalog(locale) if m.id}
        code = {m.id for m in template if m.id}
        gone, new = sorted(kept - code)[:5], sorted(code - kept)[:5]
        assert kept == code, f"{locale}: run `make i18n` (gone: {gone}, new: {new})"
    for m in i18n.catalog("uk"):
        if m.id and m.string:
            assert set(PLACEHOLDER.findall(str(m.id))) == set(PLACEHOLDER.findall(str(m.string))), m.id


def test_ukrainian_is_the_default_and_a_switch_is_remembered(tmp_path: Path) -> None:
    assert Settings().web.default_language == "uk"
    world = make_world(tmp_path, default_language="uk")
    client = TestClient(app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1")
    page = client.get("/login").text
    assert '<html lang="uk">' in page and "Вхід за допомогою кваліфікованого електронного підпису" in page
    assert 'href="/login?lang=en"' in page and "English" in page  # the switch, on every page
    res = client.get("/login?lang=en")
    assert '<html lang="en">' in res.text and "Log in with your qualified electronic signature" in res.text
    assert "dsom_lang=en" in res.headers["set-cookie"]
    assert '<html lang="en">' in client.get("/login").text  # remembered
    assert "Українська" in client.get("/login").text
    client.get("/login?lang=uk")
    login_as(client, world, "rep-1")
    page = client.get("/operator").text
    assert "Кабінет оператора: op-1" in page and "представник оператора" in page
    assert "Ви увійшли як" in page and ">Вийти<" in page
    # a registry record's fields and fixed values in Ukrainian, its times in Kyiv time
    assert "вид ліцензії: казино в мережі Інтернет" in page
    assert "чинна з: 15.11.2023, 00:13:20 (UTC+02:00)" in page


def test_refusals_and_errors_are_said_in_the_readers_language(tmp_path: Path) -> None:
    world = make_world(tmp_path, default_language="uk")
    client = TestClient(app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1")
    assert client.get("/api/catalog").json() == {"error": "Спочатку увійдіть до системи."}
    login_as(client, world, "rep-1")
    res = client.get("/regulator")
    assert res.status_code == 403 and "Ця сторінка не належить до вашого кабінету." in res.text
    token = i18n.use("uk")
    try:
        assert LoginRefused(Refusal.REVOKED).message.startswith("Ваш сертифікат відкликано.")
        assert all(LoginRefused(code).message != text for code, text in MESSAGES.items())
    finally:
        i18n.reset(token)
    token = i18n.use("en")
    try:
        assert LoginRefused(Refusal.REVOKED).message == MESSAGES[Refusal.REVOKED]  # the English source
    finally:
        i18n.reset(token)


def test_ukrainian_numbers_money_and_kyiv_time() -> None:
    token = i18n.use("uk")
    try:
        # CLDR's Ukrainian: a no-break space between thousands, a decimal comma, hryvnias as грн
        assert i18n.format_money(123_456_789) == "1\u00a0234\u00a0567,89 грн"
        assert i18n.format_money(-5) == "-0,05 грн"
        assert i18n.format_number(1_234_567.5, 1) == "1\u00a0234\u00a0567,5"
        # Kyiv time with its offset: summer (UTC+3) and winter (UTC+2)
        assert i18n.format_time(1_782_853_200_000_000) == "01.07.2026, 00:00:00 (UTC+03:00)"
        assert i18n.format_time(1_794_258_000_000_000) == "09.11.2026, 23:00:00 (UTC+02:00)"
        # the hour the clocks went back (25 October 2026, 04:00 summer time -> 03:00) happens twice
        first, second = 1_792_886_400_000_000, 1_792_890_000_000_000  # 00:00 and 01:00 UTC
        assert i18n.format_time(first) == "25.10.2026, 03:00:00 (UTC+03:00)"
        assert i18n.format_time(second) == "25.10.2026, 03:00:00 (UTC+02:00)"
    finally:
        i18n.reset(token)
    token = i18n.use("en")
    try:
        assert i18n.format_money(123_456_789) == "UAH 1,234,567.89"
        assert i18n.format_time(1_794_258_000_000_000) == "09/11/2026, 23:00:00 (UTC+02:00)"
    finally:
        i18n.reset(token)


def test_the_report_pages_script_gets_its_strings_from_the_same_catalogs() -> None:
    uk = i18n.js_messages("uk")
    assert uk["No rows for these filters."] == "За цими фільтрами даних немає."
    assert "Operational" not in uk  # only the script's own strings
    assert i18n.js_messages("en") == {}  # English is the source


def test_languages_are_normalised() -> None:
    assert i18n.normalise("uk-UA") == "uk" and i18n.normalise("EN") == "en" and i18n.normalise("ru") is None
    assert i18n.chosen("en", "uk") == ("en", True)
    assert i18n.chosen(None, "en") == ("en", False)
    assert i18n.chosen("fr", None) == ("uk", False)


def test_a_registry_refusal_has_its_headline_in_the_readers_language(tmp_path: Path) -> None:
    world = make_world(tmp_path, default_language="uk")
    client = TestClient(app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1")
    login_as(client, world, "taras")
    record = {"kind": "site", "operator_id": "op-1", "domain": "d.example.ua", "licence_id": "LIC-1"}
    token = str(client.cookies.get("csrftoken"))
    pid = client.post("/registry/proposals", headers={"x-csrftoken": token}, json={"record": record}).json()
    res = client.post(f"/regulator/proposals/{pid['proposal_id']}",
                      data={"csrftoken": token, "verdict": "approve", "reason": "ok"})
    # the code's headline in Ukrainian, the code itself, then the registry's explanation in Ukrainian
    assert "Одна й та сама особа не може подати заявку і ухвалити рішення щодо неї" in res.text
    assert "(<code>four_eyes</code>)" in res.text
    assert "не може ухвалювати за нею рішення</span>" in res.text and "may not decide" not in res.text
    # the API keeps the machine fields as the registry wrote them and says them too
    api = client.post(f"/registry/proposals/{pid['proposal_id']}/approve", headers={"x-csrftoken": token},
                      json={"reason": "ok"})
    (error,) = api.json()["errors"]
    assert error["code"] == "four_eyes"
    assert error["message"].endswith("proposed this change and may not decide it")
    assert error["description"].startswith("Одна й та сама особа")
    assert error["explanation"].endswith("подав(ла) цю заявку і не може ухвалювати за нею рішення")
    english = client.post(f"/registry/proposals/{pid['proposal_id']}/approve?lang=en",
                          headers={"x-csrftoken": token}, json={"reason": "ok"}).json()["errors"][0]
    assert english["explanation"] == english["message"]
    assert english["description"].startswith("The same person")


def test_template_translations_survive_jinjas_formatting() -> None:
    """Jinja's new-style gettext always applies ``%`` to a translation: a bare ``%`` in the Ukrainian of a
    template's string (``Частка відхилених, %``) made the page fail in Ukrainian only."""
    for m in i18n.catalog("uk"):
        if m.id and m.string and any(path.endswith(".html") for path, _ in m.locations):
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            names = {n: 1 for i in ids for n in re.findall(r"%\((\w+)\)[sd]", i)}
            for text in m.string if isinstance(m.string, tuple) else (m.string,):
                text % names  # raises ValueError or KeyError on a stray % or a lost placeholder
