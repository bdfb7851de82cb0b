"""The one web application: login, the cabinets, the reports and the registry's API, behind one route table.

Layers, outermost first: CSRF (``asgi-csrf``: a signed double-submit token on every POST, from a
form field or the ``x-csrftoken`` header; file uploads in the header, :func:`multipart_token_in_header`),
the session (Starlette's ``SessionMiddleware``: an
itsdangerous-signed, HttpOnly, SameSite=Strict cookie), then FastAPI routes, every one of which
first passes :func:`web.deps.authorise` against ``web.access.POLICY``.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import uvicorn
from asgi_csrf import asgi_csrf
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.middleware.sessions import SessionMiddleware

from dashboards.web.dashboard import STATIC as REPORTS_STATIC
from dashboards.web.dashboard import Dashboard
from pipeline.settings import Settings
from registry import api as registry_api
from registry.core.access import Principal, PrincipalRole
from registry.core.errors import RegistryError, RegistryErrors
from registry.service import RegistryService, tax_number_key
from registry.staff import StaffStore
from web import admin, alerts, i18n, inspection, labels, machine_texts, operator, pages, proofs, reports, tax
from web.access import Role
from web.deps import Cabinet, LoginRequired, authorise, session_caller
from web.i18n import _
from web.keys import KeyDesk, desk_from_settings
from web.login.people import StaffMember
from web.login.trust import TrustSource

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "dsom_session"


def qes_dir(settings: Settings) -> Path:
    """Where ``dsom security init`` keeps the demo provider and users."""
    return Path(settings.pki_dir) / "qes"


def session_key(settings: Settings) -> str:
    if settings.web.session_key is not None:
        return settings.web.session_key.get_secret_value()
    path = Path(settings.pki_dir) / "web-session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


STAFF_IMPORTER = Principal("staff-import", PrincipalRole.SYSTEM)


def staff_reader(registry: RegistryService, path: Path) -> Any:
    """The active staff accounts, from the registry's database (``registry.staff``).

    The staff file is imported once per person: whenever it changed, names it has that the
    database does not know are added (audited as ``system:staff-import``); after that the
    administrator's cabinet is where accounts change.
    """
    store = StaffStore(registry)
    seen: list[float | None] = [None]

    def read() -> list[StaffMember]:
        mtime = path.stat().st_mtime if path.exists() else None
        if mtime is not None and mtime != seen[0]:
            added = store.import_missing(STAFF_IMPORTER, json.loads(path.read_text()))
            if added:
                log.info("staff imported from %s: %s", path, ", ".join(added))
            seen[0] = mtime
        return [
            StaffMember(s.name, Role(s.role), s.tax_number_hmac, s.cert_fingerprint)
            for s in store.current()
            if s.active
        ]

    return read


def cabinet_from_settings(
    settings: Settings,
    dashboard: Dashboard | None,
    registry: RegistryService | None = None,
    keys: KeyDesk | None = None,
) -> Cabinet:
    web, qes = settings.web, qes_dir(settings)
    trust = TrustSource(
        list(web.trusted_ca_paths if web.trusted_ca_paths is not None else [qes / "ca.crt"]),
        list(web.crl_sources if web.crl_sources is not None else [str(qes / "ca.crl")]),
        require_crl=web.require_crl,
        refresh_s=web.crl_refresh_s,
    )
    registry = registry or RegistryService.from_settings(settings)
    staff = staff_reader(registry, web.staff_path or qes / "staff.json")
    staff()  # the one-time import, at start-up
    return Cabinet(
        registry,
        dashboard,
        trust,
        staff,
        tax_number_key(settings),
        login_limit=f"{web.login_attempts_per_minute}/minute",
        alerts=alerts.ClickHouseAlerts(dashboard) if dashboard is not None else None,
        keys=keys or desk_from_settings(settings, registry),
    )


def _login_required(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith(("/api/", "/registry/")):
        return JSONResponse({"error": _("Log in first.")}, 401)
    return RedirectResponse("/login", 303)


def _registry_refused(request: Request, exc: Exception) -> Response:
    """The registry API's refusal (its machine fields as they are), each error also said to the reader.

    ``description``: the code's headline, ``explanation``: the registry's message, both in the
    request's language (the message as written where no template covers it, and in English).
    """
    response = registry_api._refused(request, exc)
    body = json.loads(bytes(response.body))
    for e in body["errors"]:
        e["description"] = labels.label(labels.REGISTRY_REFUSALS, e["code"])
        e["explanation"] = machine_texts.registry_message(e["message"]) or e["message"]
    return JSONResponse(body, status_code=response.status_code)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(("/api/", "/registry/")) or request.method != "GET":
        return JSONResponse({"error": exc.detail}, exc.status_code)
    return pages.render(request, "error.html", exc.status_code, message=exc.detail)


async def _csrf_failed(scope: Any, send: Any, message_id: Any) -> None:
    lang, title = i18n.current_locale(), html.escape(_("Refused"))
    text = html.escape(
        _(
            "This form has expired or did not come from this site (no valid CSRF token). "
            "Go back, reload the page and try again."
        )
    )
    body = f'<!doctype html><html lang="{lang}"><title>{title}</title><p>{text}</p></html>'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"
CSRF_NAMESPACE = "csrftoken"  # what the token is signed under (asgi-csrf's default)


def multipart_token_in_header(app: Any, signing_secret: str) -> Any:
    """Multipart POSTs (file uploads) carry their CSRF token in the ``x-csrftoken`` header.

    asgi-csrf 0.11, the latest, reads a token from a multipart body with python-multipart's
    ``FormParser(FileClass=...)``, an argument python-multipart 0.0.26 removed (the release that
    fixed CVE-2026-40347; simonw/asgi-csrf#38, open): such a request crashed the middleware with a
    TypeError, an HTTP 500 for any form with a file whose token was in a field. The header is
    checked first (signed double-submit: it must equal the signed ``csrftoken`` cookie), before any
    body is read. So uploads send it there (``web/static/staff.js``), and a multipart POST that
    would reach the broken parser, with a session's cookies but without a header matching a validly
    signed token cookie, is refused here as asgi-csrf refuses a wrong token. The check itself
    stays asgi-csrf's, which sees every request let through.
    """
    signer = URLSafeSerializer(signing_secret)

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            headers = dict(scope.get("headers") or [])
            kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if kind == b"multipart/form-data" and headers.get(b"cookie"):
                cookie = SimpleCookie(headers[b"cookie"].decode("latin-1")).get(CSRF_COOKIE)
                token = headers.get(CSRF_HEADER.encode(), b"").decode("latin-1")
                valid = cookie is not None and secrets.compare_digest(token, cookie.value)
                if valid:
                    try:
                        signer.loads(token, CSRF_NAMESPACE)
                    except BadSignature:
                        valid = False
                if not valid:
                    await _csrf_failed(scope, send, None)
                    return
        await app(scope, receive, send)

    return guarded


def create_app(
    cab: Cabinet,
    key: str,
    *,
    https_only: bool = False,
    max_age_s: int = 8 * 3600,
    default_language: str = i18n.DEFAULT_LOCALE,
) -> Any:
    """The ASGI application (FastAPI wrapped in CSRF protection, inside the language's middleware)."""
    app = FastAPI(
        title="dsom cabinets",
        version="1",
        dependencies=[Depends(authorise)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.cabinet = cab
    app.state.registry = cab.registry  # what registry.api's routes use
    app.include_router(pages.router)
    app.include_router(operator.router)
    app.include_router(reports.router)
    app.include_router(alerts.router)
    app.include_router(proofs.router)
    app.include_router(inspection.router)
    app.include_router(admin.router)
    app.include_router(tax.router)
    app.include_router(registry_api.router)
    app.dependency_overrides[registry_api.caller] = session_caller
    app.add_exception_handler(RegistryError, _registry_refused)
    app.add_exception_handler(RegistryErrors, _registry_refused)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(HTTPException, _http_error)
    app.mount("/static", StaticFiles(directory=REPORTS_STATIC), name="static")
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=max_age_s,
        same_site="strict",
        https_only=https_only,
    )
    protected = asgi_csrf(
        app,
        cookie_name=CSRF_COOKIE,
        http_header=CSRF_HEADER,
        signing_namespace=CSRF_NAMESPACE,
        signing_secret=key + ":csrf",
        always_protect={"/login", "/logout"},
        cookie_secure=https_only,
        cookie_samesite="Strict",
        send_csrf_failed=_csrf_failed,
    )
    protected = multipart_token_in_header(protected, key + ":csrf")
    return i18n.LocaleMiddleware(protected, default_language, secure=https_only, wrapped=app)


def app_from_settings(
    settings: Settings,
    dashboard: Dashboard | None,
    registry: RegistryService | None = None,
    keys: KeyDesk | None = None,
) -> Any:
    return create_app(
        cabinet_from_settings(settings, dashboard, registry, keys),
        session_key(settings),
        https_only=settings.web.https_only,
        max_age_s=settings.web.session_max_age_s,
        default_language=settings.web.default_language,
    )


class WebServer:
    """uvicorn serving the application in a background thread until :meth:`stop`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8050) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        # uvicorn installs signal handlers only in the main thread: the worker keeps its own.
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def url(self) -> str:
        servers = self._server.servers
        host, port = (
            servers[0].sockets[0].getsockname()[:2]
            if servers
            else (self._server.config.host, self._server.config.port)
        )
        return f"http://{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> WebServer:
        self._thread.start()
        for _attempt in range(int(timeout_s * 20)):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not self._server.started:
            raise OSError(
                f"web application did not start on {self._server.config.host}:{self._server.config.port}"
            )
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def route_table(app: Any) -> list[tuple[str, str]]:
    """Every (method, path template) the application answers: what ``web.access.POLICY`` must cover."""
    fastapi_app = getattr(app, "__wrapped__", app)  # under the language's and the CSRF wrappers

    def walk(routes: list[Any], prefix: str) -> list[tuple[str, str]]:
        out = []
        for r in routes:
            if isinstance(r, APIRoute):
                out += [(m, prefix + r.path) for m in sorted(r.methods or ())]
            elif hasattr(r, "original_router"):  # FastAPI >= 0.16x keeps included routers whole
                out += walk(r.original_router.routes, prefix + getattr(r.include_context, "prefix", ""))
        return out

    return walk(fastapi_app.routes, "")
