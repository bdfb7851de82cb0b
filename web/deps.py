"""What the routes share: the cabinet's parts, the logged-in account, and the route-table check."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from dashboards.web.dashboard import Dashboard
from registry.core.access import Principal
from registry.service import RegistryService
from web.access import Account, Role, Verdict, decide
from web.i18n import _
from web.keys import KeyDesk
from web.login.core import ChallengeBook, SignatureVerifier, WebCryptoVerifier
from web.login.trust import TrustSource


@dataclass
class Cabinet:
    """The application's parts: the registry, the reports (None away from ClickHouse), the login's."""

    registry: RegistryService
    dashboard: Dashboard | None
    trust: TrustSource
    staff: Any  # () -> list[StaffMember], read at each login so a change applies at once
    tax_key: bytes
    login_limit: str = "10/minute"
    keys: KeyDesk | None = None  # operators' self-service access keys; None: not issued here
    verifier: SignatureVerifier = field(default_factory=WebCryptoVerifier)
    book: ChallengeBook = field(default_factory=ChallengeBook)
    limiter: MovingWindowRateLimiter = field(default_factory=lambda: MovingWindowRateLimiter(MemoryStorage()))
    lock: threading.Lock = field(default_factory=threading.Lock)
    alerts: Any = None  # web.alerts.AlertStore: the inboxes' alerts (None away from ClickHouse)

    def may_try_login(self, client: str) -> bool:
        return self.limiter.hit(parse_limit(self.login_limit), "login", client)


def cabinet(request: Request) -> Cabinet:
    c: Cabinet = request.app.state.cabinet
    return c


class LoginRequired(Exception):
    """Not logged in: pages redirect to the login page, the API answers 401."""


def account_of(request: Request) -> Account | None:
    data = request.session.get("account")
    if not isinstance(data, dict):
        return None
    try:
        return Account.from_session(data)
    except (KeyError, ValueError):
        return None


def authorise(request: Request) -> None:
    """The one check every route passes: its entry in ``web.access.POLICY`` against the session."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    account = account_of(request)
    if account is not None and account.role is not Role.OPERATOR and not _still_staff(request, account):
        request.session.clear()  # disabled, or given another role, since this session began
        account = None
    verdict = decide(request.method, path, account)
    if verdict is Verdict.LOGIN:
        raise LoginRequired
    if verdict is not Verdict.ALLOWED:
        raise HTTPException(
            403,
            _("This page is not part of your cabinet.")
            if verdict is Verdict.REFUSED
            else _("No access rule covers this page."),
        )
    request.state.account = account


def _still_staff(request: Request, account: Account) -> bool:
    return any(m.name == account.name and m.role is account.role for m in cabinet(request).staff())


def current_account(request: Request) -> Account:
    account: Account | None = getattr(request.state, "account", None)
    if account is None:
        raise LoginRequired
    return account


def session_caller(request: Request) -> Principal:
    """Replaces ``registry.api.caller``: the registry acts as the logged-in person."""
    return current_account(request).principal


CurrentAccount = Annotated[Account, Depends(current_account)]
