"""Translation seam: every string a person reads goes through :func:`gettext` (``_``).

In a template it is ``{{ _("...") }}`` (Jinja's i18n extension, installed on
``web.pages.templates``). Until the catalogs exist (issue 19) the translations are the identity;
wrapping strings now means new pages are born extractable (``pybabel extract`` finds
``_``/``gettext``/``ngettext``).
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar

_IDENTITY = _gettext.NullTranslations()
_translations: ContextVar[_gettext.NullTranslations | None] = ContextVar("dsom_translations", default=None)


def _current() -> _gettext.NullTranslations:
    return _translations.get() or _IDENTITY


def gettext(message: str) -> str:
    return _current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _current().ngettext(singular, plural, n)


_ = gettext
