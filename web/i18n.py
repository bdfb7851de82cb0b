"""Translation seam: every string a person reads goes through :func:`gettext` (``_``) here,
or ``{{ _("...") }}`` in a template (Jinja's i18n extension, installed on ``web.pages.templates``).

Until the catalogs exist (issue 19) the translations are the identity; wrapping strings now
means new pages are born extractable (``pybabel extract`` finds ``_``/``gettext``/``ngettext``).
"""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar

_translations: ContextVar[_gettext.NullTranslations] = ContextVar(
    "dsom_translations", default=_gettext.NullTranslations()
)


def gettext(message: str) -> str:
    return _translations.get().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.get().ngettext(singular, plural, n)


def lazy(message: str) -> str:
    """Marks a module-level constant for extraction; translate it with :func:`gettext` when shown."""
    return message


_ = gettext
