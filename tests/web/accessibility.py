"""What the browser tests check on every page they open (issue 19): its language, axe-core, a screenshot.

axe-core comes from the PyPI package axe-playwright-python (a dev dependency; its bundled
axe.min.js is axe-core 4.12, MPL-2.0, Deque Systems), injected into the page under test.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

SHOTS = Path(__file__).resolve().parents[2] / ".run" / "screenshots" / "i18n"
LANGUAGES = ("uk", "en")
AXE = (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text()
# WCAG 2.0 and 2.1, levels A and AA; only the violations (not the passes) are computed.
AXE_RUN = """() => axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag',
                                                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"""
# The machine values a cabinet page keeps beside its labels: the same in every language.
CABINET_VALUES = """trs => trs.map(tr => [...tr.querySelectorAll(
    '[data-state],[data-status],[data-kind],[data-action],[data-us],[data-raw]')]
    .map(td => Object.values(td.dataset).join('|')))"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(content=AXE)
    return list(page.evaluate(AXE_RUN))


def check_page(page: Any, name: str, lang: str) -> None:
    """The page is in ``lang`` (``<html lang>``), passes axe, and is kept as a screenshot."""
    assert page.evaluate("document.documentElement.lang") == lang, name
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{lang}-{name}.png"), full_page=True)
    bad = axe_violations(page)
    assert not bad, f"{name} ({lang}): {bad}"
    nulls = page.eval_on_selector_all(
        "td, th, dd",
        "cells => cells.filter(c => c.innerText.trim() === 'None').map(c => c.outerHTML.slice(0, 80))",
    )
    assert not nulls, f"{name} ({lang}): cells reading None: {nulls}"


def check_in_both_languages(page: Any, url: str, name: str, back_to: str = "en") -> None:
    """``url`` in Ukrainian and in English: each axe-clean, with the same machine values in its tables."""
    values = {}
    sep = "&" if "?" in url else "?"
    for lang in LANGUAGES:
        page.goto(f"{url}{sep}lang={lang}")
        check_page(page, name, lang)
        values[lang] = page.eval_on_selector_all("tbody tr", CABINET_VALUES)
    assert values["uk"] == values["en"] and values["uk"], name
    page.goto(f"{url}{sep}lang={back_to}")
