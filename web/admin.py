"""The regulator's administrator: staff accounts and their roles. Thin adapter over :mod:`registry.staff`.

An account is added from the person's certificate (its chain to a trusted provider is checked as
at login; the tax number is kept only as its keyed hash, with the certificate's fingerprint).
Role changes, disabling and enabling write a new version; every change is in the audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from registry.core.identifiers import tax_number_hash
from registry.staff import STAFF_ROLES, StaffStore, StaffVersion
from web.access import Account
from web.deps import CurrentAccount, cabinet
from web.i18n import _
from web.login.core import LoginRefused, parse_certificate, subject_of, verify_chain
from web.pages import render, see_other

router = APIRouter()
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_CERTIFICATE = 40_000  # bytes: a certificate is one or two; a chain file a few more
ROLE_ORDER = ("officer", "regulator", "analyst", "inspector", "admin", "tax", "law")


def _page(request: Request, who: Account, status: int = 200, **context: Any) -> HTMLResponse:
    staff = StaffStore(cabinet(request).registry).current()
    return render(
        request,
        "staff.html",
        status,
        staff=staff,
        roles=ROLE_ORDER,
        form=context.pop("form", {}),
        **context,
    )


@router.get("/admin/staff")
def staff_page(request: Request, who: CurrentAccount, added: str = "", changed: str = "") -> HTMLResponse:
    done = (
        _("Account {name} added.").format(name=added[:64])
        if added
        else _("Account {name} changed.").format(name=changed[:64])
        if changed
        else ""
    )
    return _page(request, who, done=done)


@router.post("/admin/staff")
def staff_add(
    request: Request,
    who: CurrentAccount,
    certificate: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    c = cabinet(request)
    form = {"name": name, "role": role, "reason": reason}
    name = name.strip()
    error = ""
    if not NAME.match(name):
        error = _("The account name must be 1 to 64 lower-case letters, digits, dots, dashes or underscores.")
    elif role not in STAFF_ROLES:
        error = _("Choose the account's role.")
    elif len(reason.strip()) < 5:
        error = _("Give the reason (the order or request that makes this account).")
    elif any(s.name == name for s in StaffStore(c.registry).current()):
        error = _("There is already an account named {name}.").format(name=name)
    if error:
        return _page(request, who, 400, error=error, form=form)
    data = b"" if certificate is None else certificate.file.read(MAX_CERTIFICATE + 1)
    if not data:
        return _page(request, who, 400, error=_("Choose the person's certificate file."), form=form)
    if len(data) > MAX_CERTIFICATE:
        error = _("The certificate file is larger than {n} KB: choose the certificate itself.").format(
            n=MAX_CERTIFICATE // 1000
        )
        return _page(request, who, 400, error=error, form=form)
    try:
        cert = parse_certificate(data)
        verify_chain(cert, c.trust.current(), datetime.now(UTC))
        subject = subject_of(cert)
    except LoginRefused as exc:
        return _page(
            request,
            who,
            400,
            error=_("This certificate cannot be used: {why}").format(why=_(exc.message)),
            form=form,
        )
    taken = [s.name for s in StaffStore(c.registry).current() if s.cert_fingerprint == subject.fingerprint]
    if taken:
        return _page(
            request,
            who,
            400,
            error=_("This certificate is already the account {name}'s.").format(name=taken[0]),
            form=form,
        )
    StaffStore(c.registry).put(
        who.principal,
        StaffVersion(
            name,
            subject.common_name or name,
            role,
            tax_number_hash(c.tax_key, subject.tax_number),
            subject.fingerprint,
            True,
            0,
            "",
        ),
        "staff_add",
        reason.strip(),
        must_be_new=True,
    )
    return see_other(f"/admin/staff?added={quote(name)}")


@router.post("/admin/staff/{name}")
def staff_change(
    request: Request,
    who: CurrentAccount,
    name: str,
    action: Annotated[str, Form(max_length=20)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    store = StaffStore(cabinet(request).registry)
    current = next((s for s in store.current() if s.name == name), None)
    if current is None:
        return _page(request, who, 404, error=_("No account named {name}.").format(name=name[:64]))
    if len(reason.strip()) < 5:
        return _page(request, who, 400, error=_("Give the reason for the change."))
    if action == "role" and role in STAFF_ROLES and role != current.role:
        new = StaffVersion(**{**current.__dict__, "role": role})
    elif action == "disable" and current.active:
        if name == who.name:
            return _page(request, who, 400, error=_("You cannot disable your own account."))
        new = StaffVersion(**{**current.__dict__, "active": False})
    elif action == "enable" and not current.active:
        new = StaffVersion(**{**current.__dict__, "active": True})
    else:
        return _page(request, who, 400, error=_("Nothing to change: choose a new role, disable or enable."))
    store.put(who.principal, new, f"staff_{action}", reason.strip())
    return see_other(f"/admin/staff?changed={quote(name)}")
