"""Languages: every string a person reads goes through :func:`gettext` (``_``), Ukrainian first.

In a template it is ``{{ _("...") }}`` (Jinja's i18n extension, installed on
``web.pages.templates``); in the report pages' script it is ``_("...")`` too, answered from
:func:`js_messages`; strings defined away from a request (report titles, column labels) are
marked with :func:`N_` and translated where they are shown. ``make i18n`` extracts them all
(``babel.cfg``) into ``web/locale/messages.pot`` and updates each language's ``.po``; the
``.po`` files are the only translations kept, compiled in memory at first use, so no stale
``.mo`` can be served. ``tests/web/test_i18n.py`` fails while any string lacks its Ukrainian.

The language is chosen per request (:class:`LocaleMiddleware`: ``?lang=`` sets the cookie,
the cookie is remembered, else the deployment's default, Ukrainian) and held in a ContextVar
that the request's code, sync or async, inherits. Numbers, money and times are formatted with
Babel (CLDR): a no-break space between thousands and a decimal comma in Ukrainian, money in
гривні ("грн"), times in Kyiv time (Europe/Kyiv, daylight saving included) with the UTC offset.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = ("uk", "en")
DEFAULT_LOCALE = "uk"
LANGUAGE_NAMES = {"uk": "Українська", "en": "English"}  # each in its own language, as switches show them
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
COOKIE = "dsom_lang"
KYIV = ZoneInfo("Europe/Kyiv")
# Formatting locales (CLDR): British English writes day/month/year like the rest of Europe.
_FORMAT_LOCALE = {"uk": Locale.parse("uk_UA"), "en": Locale.parse("en_GB")}
# Browser locales for the same rules in the report pages' script (Intl, which uses CLDR too).
BROWSER_LOCALE = {"uk": "uk-UA", "en": "en-GB"}

_locale: ContextVar[str] = ContextVar("dsom_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention extractors look for
    """Mark ``message`` for extraction only: it is translated where it is shown."""
    return message


@functools.cache
def catalog(locale: str) -> Catalog:
    """The ``.po`` catalog of ``locale`` as Babel reads it."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """``locale``'s translations, compiled in memory (fuzzy entries are not used)."""
    if locale not in LOCALES:
        return _gettext.NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, catalog(locale), use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def normalise(value: str | None) -> str | None:
    """A supported language from a cookie or ``?lang=`` value (``uk``, ``uk-UA``, ``EN``), else None."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LOCALES else None


def current_locale() -> str:
    return _locale.get()


def use(locale: str) -> Any:
    """Make ``locale`` the current language; returns the token :func:`reset` takes."""
    return _locale.set(normalise(locale) or DEFAULT_LOCALE)


def reset(token: Any) -> None:
    _locale.reset(token)


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` as meant in ``context``: one English word may need two Ukrainian ones."""
    return translations(current_locale()).pgettext(context, message)


_ = gettext


@functools.cache
def js_messages(locale: str) -> dict[str, str]:
    """The translations of the strings extracted from the report pages' script (``*.js``)."""
    if locale not in LOCALES:
        return {}
    return {
        str(m.id): str(m.string)
        for m in catalog(locale)
        if m.id and m.string and not m.fuzzy and any(path.endswith(".js") for path, _ in m.locations)
    }


# ---- formatting (Babel, CLDR) ------------------------------------------------------------------------


def format_number(value: float | int | Decimal, decimals: int | None = None) -> str:
    """``1 234 567,5`` in Ukrainian, ``1,234,567.5`` in English."""
    fmt = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
    return format_decimal(value, format=fmt, locale=_FORMAT_LOCALE[current_locale()])


def format_money(kopecks: int) -> str:
    """Integer kopecks as hryvnias: ``1 234,50 грн`` (``UAH 1,234.50`` in English); never a float."""
    number = format_number(Decimal(kopecks).scaleb(-2), 2)
    return f"{number} грн" if current_locale() == "uk" else f"UAH {number}"


def format_time(us: int, *, offset: bool = True) -> str:
    """UTC microseconds as a Kyiv date and time: ``30.11.2026, 11:15:03 (UTC+02:00)``."""
    moment = datetime.fromtimestamp(us / 1e6, UTC)
    locale = _FORMAT_LOCALE[current_locale()]
    text = format_datetime(moment, "dd.MM.yyyy, HH:mm:ss" if current_locale() == "uk" else
                           "dd/MM/yyyy, HH:mm:ss", tzinfo=KYIV, locale=locale)
    if not offset:
        return text
    return f"{text} (UTC{format_datetime(moment, 'xxx', tzinfo=KYIV, locale=locale)})"


# ---- choosing the language per request ---------------------------------------------------------------


def chosen(
    query_lang: str | None, cookie_lang: str | None, default: str = DEFAULT_LOCALE
) -> tuple[str, bool]:
    """The request's language, and whether the cookie must (re)remember it."""
    asked = normalise(query_lang)
    if asked is not None:
        return asked, asked != normalise(cookie_lang)
    return normalise(cookie_lang) or normalise(default) or DEFAULT_LOCALE, False


class LocaleMiddleware:
    """Sets the request's language (``?lang=`` > cookie > default) and remembers a switch in a cookie.

    Pure ASGI, outside the routes, so everything the request runs (dependencies, handlers in the
    thread pool, templates) sees the same language.
    """

    def __init__(
        self, app: Any, default: str = DEFAULT_LOCALE, secure: bool = False, wrapped: Any = None
    ) -> None:
        self.app = app
        self.__wrapped__ = wrapped if wrapped is not None else app
        self.default = default
        self.secure = secure

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
        cookies = SimpleCookie()
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                try:
                    cookies.load(value.decode("latin-1"))
                except Exception:  # noqa: BLE001, S110 - a malformed cookie header is ignored
                    pass
        locale, remember = chosen(query, cookies[COOKIE].value if COOKIE in cookies else None, self.default)
        scope.setdefault("state", {})["locale"] = locale

        async def send_with_cookie(message: Any) -> None:
            if remember and message["type"] == "http.response.start":
                flags = "; Path=/; Max-Age=31536000; SameSite=Lax" + ("; Secure" if self.secure else "")
                headers = [*message.get("headers", []), (b"set-cookie", f"{COOKIE}={locale}{flags}".encode())]
                message = {**message, "headers": headers}
            await send(message)

        token = _locale.set(locale)
        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _locale.reset(token)
