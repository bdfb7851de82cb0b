"""The registry's REST API (FastAPI): the same service functions as the CLI, OpenAPI at /openapi.json.

Who is calling comes from :func:`caller`, a dependency: today the ``X-DSOM-Principal`` header
(``role:name``, or ``operator:name@operator_id``), which only a trusted front end may set. The
cabinets' login by qualified electronic signature (issue 14) replaces this one function.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from pipeline.settings import Settings
from pipeline.writer_schemas import FolderWriterSchemaStore, WriterSchemaStore
from registry.core.access import Principal
from registry.core.errors import Code, RegistryError, RegistryErrors
from registry.core.history import Version
from registry.core.model import Kind, Status
from registry.service import Proposal, RegistryService, parse_principal
from schemas.evolution import IncompatibleSchemaError, java_order

STATUS_OF = {
    Code.NOT_AUTHORISED: 403,
    Code.FOUR_EYES: 403,
    Code.FOREIGN_ASSET: 403,
    Code.UNKNOWN_ENTITY: 404,
    Code.ALREADY_DECIDED: 409,
    Code.ALREADY_REGISTERED: 409,
    Code.DUPLICATE_SERIAL: 409,
    Code.OVERLAPPING_LICENCE: 409,
}


def caller(
    x_dsom_principal: Annotated[str, Header(description="role:name (until the cabinets' login)")],
) -> Principal:
    return parse_principal(x_dsom_principal)


def service(request: Request) -> RegistryService:
    svc: RegistryService = request.app.state.registry
    return svc


def writer_schema_store(request: Request) -> WriterSchemaStore:
    """Where operators' writer schemas are kept (the validator loads them from there)."""
    store: WriterSchemaStore | None = getattr(request.app.state, "writer_schemas", None)
    return store if store is not None else FolderWriterSchemaStore(Settings().writer_schemas_dir)


Caller = Annotated[Principal, Depends(caller)]
Service = Annotated[RegistryService, Depends(service)]
SchemaStore = Annotated[WriterSchemaStore, Depends(writer_schema_store)]


class Decision(BaseModel):
    reason: str


class Sanction(BaseModel):
    reason: str
    since_us: int | None = None


class Change(BaseModel):
    record: dict[str, Any]
    since_us: int | None = None
    reason: str | None = None


router = APIRouter(prefix="/registry", tags=["registry"])


def _versions(vs: list[Version]) -> list[dict[str, Any]]:
    return [v.as_dict() for v in vs]


@router.get("/records")
def list_records(
    svc: Service,
    who: Caller,
    kind: Kind | None = None,
    operator_id: str | None = None,
    at_us: int | None = None,
    known_at_us: int | None = None,
) -> list[dict[str, Any]]:
    """Records in force at ``at_us`` (default now), as known at ``known_at_us``."""
    return _versions(svc.current(None if kind is None else kind.value, operator_id, at_us, known_at_us, who))


@router.get("/records/{kind}/{entity_id}")
def show_record(
    svc: Service,
    who: Caller,
    kind: Kind,
    entity_id: str,
    at_us: int | None = None,
    known_at_us: int | None = None,
    history: bool = False,
) -> Any:
    if history:
        return _versions(svc.history(kind.value, entity_id, who))
    v = svc.show(kind.value, entity_id, at_us, known_at_us, who)
    if v is None:
        raise RegistryError(Code.UNKNOWN_ENTITY, f"no {kind} {entity_id!r} in force then")
    return v.as_dict()


@router.post("/records", status_code=201)
def add_records(
    svc: Service, who: Caller, rows: list[dict[str, Any]], reason: str | None = None
) -> list[dict[str, Any]]:
    """Enter new records directly (registry officer); a list is all or nothing, like an import."""
    return _versions(svc.add(who, rows, reason))


@router.post("/records/change")
def change_record(svc: Service, who: Caller, body: Change) -> dict[str, Any]:
    return svc.change(who, body.record, body.since_us, body.reason).as_dict()


@router.post("/licences/{licence_id}/{action}")
def sanction_licence(
    svc: Service, who: Caller, licence_id: str, action: str, body: Sanction
) -> dict[str, Any]:
    status = {"suspend": Status.SUSPENDED, "revoke": Status.REVOKED, "reinstate": Status.ACTIVE}.get(action)
    if status is None:
        raise RegistryError(Code.INVALID_FIELD, "expected suspend, revoke or reinstate", "action")
    return svc.sanction(who, licence_id, status, body.reason, body.since_us).as_dict()


@router.get("/proposals")
def list_proposals(svc: Service, who: Caller, pending_only: bool = True) -> list[Proposal]:
    own = who.operator_id  # operators see their own proposals only
    return svc.proposals(own, pending_only)


@router.post("/proposals", status_code=201)
def propose(svc: Service, who: Caller, body: Change) -> Proposal:
    return svc.propose(who, body.record, body.since_us)


@router.post("/proposals/{proposal_id}/{verdict}")
def decide(svc: Service, who: Caller, proposal_id: int, verdict: str, body: Decision) -> Proposal:
    if verdict not in ("approve", "reject"):
        raise RegistryError(Code.INVALID_FIELD, "expected approve or reject", "verdict")
    return svc.decide(who, proposal_id, verdict == "approve", body.reason)


@router.get("/export")
def export(svc: Service, who: Caller, at_us: Annotated[int | None, Query()] = None) -> list[dict[str, Any]]:
    rows = (
        list(svc.export(at_us))
        if who.operator_id is None
        else [r for r in svc.export(at_us) if r["operator_id"] == who.operator_id]
    )
    svc.record_event(who, "export", "registry", who.operator_id or "*", {"rows": len(rows), "at_us": at_us})
    return rows


@router.post("/operators/{operator_id}/writer-schemas", status_code=201)
def register_writer_schema(
    svc: Service, who: Caller, store: SchemaStore, operator_id: str, schema: dict[str, Any]
) -> dict[str, Any]:
    """Register the Avro schema an operator writes its EventBatches with (issue 20).

    Checked against dsom's EventBatch by Avro's resolution rules; records written with it are
    then accepted and resolved. An operator registers its own; a registry officer any.
    """
    if who.operator_id is not None and who.operator_id != operator_id:
        raise RegistryError(Code.NOT_AUTHORISED, f"{who} may register writer schemas for "
                                                 f"{who.operator_id} only", "operator_id")
    try:
        registered = store.register(operator_id, json.dumps(schema))
    except IncompatibleSchemaError as exc:
        errors = [RegistryError(Code.INCOMPATIBLE_SCHEMA, e, "schema") for e in exc.errors]
        raise RegistryErrors(errors) from exc
    except ValueError as exc:  # not a schema, or not an operator ID
        raise RegistryError(Code.INVALID_FIELD, str(exc), "schema") from exc
    fingerprints = [{"wire": fp.hex(), "java": java_order(fp)} for fp in registered.fingerprints]
    svc.record_event(who, "register_writer_schema", "writer_schema", operator_id,
                     {"fingerprints": [f["wire"] for f in fingerprints]})
    return {"operator_id": operator_id, "fingerprints": fingerprints}


@router.get("/audit/verify")
def audit_verify(svc: Service, who: Caller) -> dict[str, Any]:
    if who.operator_id is not None:
        raise RegistryError(Code.NOT_AUTHORISED, f"{who} may not read the audit log")
    report = svc.verify_audit()
    return {"entries": report.entries, "head": report.head, "ok": report.ok, "problems": report.problems}


def _refused(_: Request, exc: Exception) -> JSONResponse:
    errors = (
        exc.errors if isinstance(exc, RegistryErrors) else [exc] if isinstance(exc, RegistryError) else []
    )
    status = STATUS_OF.get(errors[0].code, 422) if len(errors) == 1 else 422
    return JSONResponse({"errors": [e.as_dict() for e in errors]}, status_code=status)


def create_app(svc: RegistryService) -> FastAPI:
    app = FastAPI(
        title="dsom registry",
        version="1",
        summary="Operators, licences and their assets, with history, workflow and audit (docs/registry.md)",
    )
    app.state.registry = svc
    app.include_router(router)
    app.add_exception_handler(RegistryError, _refused)
    app.add_exception_handler(RegistryErrors, _refused)
    return app


def serve(settings: Settings) -> None:
    """Serve the API on ``registry.api_host:api_port`` (127.0.0.1 by default) until interrupted."""
    import uvicorn  # noqa: PLC0415

    app = create_app(RegistryService.from_settings(settings))
    app.state.writer_schemas = FolderWriterSchemaStore(settings.writer_schemas_dir)
    uvicorn.run(
        app,
        host=settings.registry.api_host,
        port=settings.registry.api_port,
        log_level="info",
    )


class Background:
    """The API served on a thread (the demo's): :meth:`start` returns once it listens."""

    def __init__(self, settings: Settings, svc: RegistryService) -> None:
        import uvicorn  # noqa: PLC0415

        app = create_app(svc)
        app.state.writer_schemas = FolderWriterSchemaStore(settings.writer_schemas_dir)
        self.url = f"http://{settings.registry.api_host}:{settings.registry.api_port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host=settings.registry.api_host,
                                                     port=settings.registry.api_port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="registry-api", daemon=True)

    def start(self, timeout_s: float = 30.0) -> Background:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the registry API did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
