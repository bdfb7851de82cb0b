"""The cabinets' pages: login, the operator's cabinet, the regulator's, the audit log. Thin adapters.

Every decision is elsewhere: who may call a route (``web.access``), who may change what
(``registry.core.access`` through the registry service), whether a login is good (``web.login.core``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from registry.core.access import Principal, PrincipalRole
from registry.core.errors import RegistryError, RegistryErrors
from registry.core.identifiers import tax_number_hash
from registry.core.model import Kind, Status
from web import i18n, labels, machine_texts
from web.access import HOME
from web.deps import CurrentAccount, account_of, cabinet
from web.i18n import _
from web.login.core import LoginRefused, Refusal, check_login, decode_b64, fingerprint, parse_certificate
from web.login.people import Representative, find_account

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
# A null (a look-up's empty column, a rejection's missing source) is an empty cell, never the word None.
templates.env.finalize = lambda value: "" if value is None else value
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
)


def switch_to(request: Request, code: str) -> str:
    """The same page in language ``code`` (its query kept): the language switch's link."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + "?" + urlencode([*query, ("lang", code)])


# Globals, so that every template (however it is rendered) has the language and the formatters.
templates.env.globals.update(
    current_locale=i18n.current_locale,
    languages=i18n.LANGUAGE_NAMES,
    switch_to=switch_to,
    labels=labels,
    said=machine_texts,
    label=labels.label,
    when=i18n.format_time,
    number=i18n.format_number,
    money=i18n.format_money,
)
router = APIRouter()
LOGIN_AUDITOR = Principal("cabinet-login", PrincipalRole.SYSTEM)  # names refused logins in the audit log
AUDIT_PAGE_ROWS = 100


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"account": account_of(request), **context}, status_code=status
    )


def see_other(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def _refusal(e: RegistryError) -> Markup:
    """One refusal: its code's headline, the row and the field's name in the reader's language.

    Then the registry's own explanation, said in the reader's language (``web.machine_texts``); one
    no template covers stays as the registry wrote it, English, marked so for screen readers.
    """
    where = [_("row %(line)s") % {"line": e.line}] if e.line is not None else []
    if e.field:
        where.append(_("field: %(field)s") % {"field": labels.label(labels.RECORD_FIELDS, e.field)})
    said = machine_texts.registry_message(e.message)
    message = (Markup('<span class="explanation">{}</span>').format(said) if said is not None else
               Markup('<span class="explanation" lang="en">{}</span>').format(e.message))
    return Markup("{headline} (<code>{code}</code>){where}: {message}").format(
        headline=labels.label(labels.REGISTRY_REFUSALS, str(e.code)),
        code=str(e.code),
        where="".join(", " + w for w in where),
        message=message,
    )


def _errors(exc: Exception) -> Markup:
    """The registry's refusals, each as :func:`_refusal` says (anything else as its text)."""
    errors = exc.errors if isinstance(exc, RegistryErrors) else [exc]
    return Markup("; ").join(_refusal(e) if isinstance(e, RegistryError) else str(e) for e in errors)


# ---- login ------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", challenge=cabinet(request).book.issue(time.monotonic()))


@router.post("/login")
def login(
    request: Request,
    challenge: Annotated[str, Form(max_length=100)] = "",
    certificate: Annotated[str, Form(max_length=40_000)] = "",
    signature: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    c = cabinet(request)
    client = request.client.host if request.client else "?"
    try:
        if not c.may_try_login(client):
            raise LoginRefused(Refusal.TOO_MANY, client)
        subject = check_login(
            c.book,
            challenge,
            decode_b64(certificate),
            decode_b64(signature),
            c.trust.current(),
            c.verifier,
            datetime.now(UTC),
            time.monotonic(),
        )
        reps = [
            Representative(
                v.operator_id,
                v.entity_id,
                v.data["name"],
                v.data["tax_number_hmac"],
                v.data["cert_fingerprint"],
            )
            for v in c.registry.current(Kind.REPRESENTATIVE.value)
            if v.data.get("status", Status.ACTIVE.value) == Status.ACTIVE.value
        ]
        edrpou = {v.entity_id: v.data["edrpou"] for v in c.registry.current(Kind.OPERATOR.value)}
        account = find_account(
            subject, tax_number_hash(c.tax_key, subject.tax_number), reps, edrpou, c.staff()
        )
    except LoginRefused as exc:
        detail: dict[str, Any] = {"refused": exc.code.value, "why": exc.detail[:200], "client": client}
        try:
            detail["cert_fingerprint"] = fingerprint(parse_certificate(decode_b64(certificate)))
        except LoginRefused:
            pass
        c.registry.record_event(LOGIN_AUDITOR, "login_refused", "session", "-", detail)
        log.info("login refused: %s", exc.code)
        return render(
            request,
            "login.html",
            429 if exc.code is Refusal.TOO_MANY else 403,
            challenge=c.book.issue(time.monotonic()),
            error=exc.message,
            code=exc.code.value,
        )
    request.session.clear()  # a new session at every login (no fixation)
    request.session["account"] = account.as_session()
    c.registry.record_event(
        account.principal,
        "login",
        "session",
        account.name,
        {"cert_fingerprint": subject.fingerprint, "client": client},
    )
    return see_other(HOME[account.role])


@router.post("/logout")
def logout(request: Request) -> Response:
    account = account_of(request)
    if account is not None:
        cabinet(request).registry.record_event(account.principal, "logout", "session", account.name, {})
    request.session.clear()
    return see_other("/login")


@router.get("/")
def home(who: CurrentAccount) -> Response:
    return see_other(HOME[who.role])


# ---- the operator's cabinet -------------------------------------------------------------------------


# What a finished action says (``?done=<code>&subject=<id>``): a code, so the message is in the
# reader's language and nothing a link carries is shown as it is.
DONE = {
    "proposal_sent": i18n.N_("Proposal %(subject)s sent to the registry for approval."),
    "proposal_approved": i18n.N_("Proposal %(subject)s approved."),
    "proposal_rejected": i18n.N_("Proposal %(subject)s rejected."),
    "licence_suspended": i18n.N_("Licence %(subject)s suspended."),
    "licence_revoked": i18n.N_("Licence %(subject)s revoked."),
    "licence_active": i18n.N_("Licence %(subject)s reinstated."),
}


def done_message(code: str, subject: str) -> str:
    text = DONE.get(code)
    return _(text) % {"subject": subject} if text else code  # an older page's own text, as it was


def _summary(data: dict[str, Any]) -> str:
    """A registry record's fields in the reader's language (names, fixed values, Kyiv times)."""
    skip = {"kind", "operator_id", "tax_number_hmac"}

    def value(k: str, v: Any) -> str:
        if k.endswith("_us") and isinstance(v, int):
            return i18n.format_time(v)
        return labels.label(labels.FIELD_VALUES[k], str(v)) if k in labels.FIELD_VALUES else str(v)

    return "; ".join(
        f"{labels.label(labels.RECORD_FIELDS, k)}: {value(k, v)}"
        for k, v in data.items()
        if k not in skip and v is not None
    )


@router.get("/operator")
def operator_page(
    request: Request, who: CurrentAccount, error: str = "", done: str = "", subject: str = ""
) -> HTMLResponse:
    svc = cabinet(request).registry
    records = svc.current(operator_id=who.operator_id, who=who.principal)
    licences = [v.entity_id for v in records if v.kind == Kind.LICENCE.value]
    proposals = svc.proposals(who.operator_id)
    return render(
        request,
        "operator.html",
        records=[(v.kind, v.entity_id, _summary(v.data)) for v in records],
        licences=licences,
        proposals=proposals[::-1],
        error=error,
        done=done_message(done, subject),
        summary=_summary,
    )


@router.post("/operator/proposals")
def operator_propose(
    request: Request,
    who: CurrentAccount,
    what: Annotated[str, Form(max_length=20)] = "site",
    domain: Annotated[str, Form(max_length=300)] = "",
    licence_id: Annotated[str, Form(max_length=100)] = "",
    record: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    try:
        if what == "site":
            row: dict[str, Any] = {
                "kind": "site",
                "domain": domain,
                "licence_id": licence_id,
                "operator_id": who.operator_id,
            }
        else:
            row = orjson.loads(record)
            if not isinstance(row, dict):
                raise ValueError(_("expected a JSON object"))
        p = cabinet(request).registry.propose(who.principal, row)
    except (RegistryError, RegistryErrors) as exc:
        return operator_page(request, who, error=_errors(exc))
    except ValueError as exc:
        return operator_page(request, who, error=_("The record is not valid JSON: %(why)s") % {"why": exc})
    return see_other(f"/operator?done=proposal_sent&subject={p.proposal_id}")


# ---- the regulator's cabinet ------------------------------------------------------------------------


@router.get("/regulator")
def regulator_page(
    request: Request, who: CurrentAccount, error: str = "", done: str = "", subject: str = ""
) -> HTMLResponse:
    svc = cabinet(request).registry
    return render(
        request,
        "regulator.html",
        pending=svc.proposals(pending_only=True),
        licences=svc.current(Kind.LICENCE.value, who=who.principal),
        error=error,
        done=done_message(done, subject),
        summary=_summary,
    )


@router.post("/regulator/proposals/{proposal_id}")
def regulator_decide(
    request: Request,
    who: CurrentAccount,
    proposal_id: int,
    verdict: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    if verdict not in ("approve", "reject") or not reason.strip():
        return regulator_page(request, who, error=_("Choose approve or reject and give the reason."))
    try:
        p = cabinet(request).registry.decide(who.principal, proposal_id, verdict == "approve", reason.strip())
    except (RegistryError, RegistryErrors) as exc:
        return regulator_page(request, who, error=_errors(exc))
    return see_other(f"/regulator?done=proposal_{p.state}&subject={p.proposal_id}")


@router.post("/regulator/licences/{licence_id}")
def regulator_sanction(
    request: Request,
    who: CurrentAccount,
    licence_id: str,
    action: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    status = {"suspend": Status.SUSPENDED, "revoke": Status.REVOKED, "reinstate": Status.ACTIVE}.get(action)
    if status is None or not reason.strip():
        return regulator_page(
            request, who, error=_("Choose suspend, revoke or reinstate and give the decision.")
        )
    try:
        cabinet(request).registry.sanction(who.principal, licence_id, status, reason.strip(), None)
    except (RegistryError, RegistryErrors) as exc:
        return regulator_page(request, who, error=_errors(exc))
    return see_other("/regulator?" + urlencode({"done": f"licence_{status.value}", "subject": licence_id}))


@router.get("/audit")
def audit_page(request: Request, who: CurrentAccount) -> HTMLResponse:
    rows = cabinet(request).registry.audit_entries(last=AUDIT_PAGE_ROWS)[::-1]
    return render(
        request,
        "audit.html",
        rows=rows,
        action_name=lambda action: labels.label(labels.AUDIT_ACTIONS, action),
    )
