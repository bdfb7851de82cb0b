"""A cabinet on a SQLite registry with demo people from a test provider, and a QES login helper."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pipeline.settings import RegistrySettings, Settings
from registry.service import RegistryService, tax_number_key
from tests.web.test_login_core import webcrypto_sign
from web import i18n
from web.app import app_from_settings, qes_dir
from web.login.core import challenge_message
from web.login.demo import Person, make_people

OPERATORS = [
    {"kind": "operator", "operator_id": "op-1", "legal_name": "Op One LLC", "edrpou": "14360570"},
    {"kind": "operator", "operator_id": "op-2", "legal_name": "Op Two LLC", "edrpou": "00032129"},
    {
        "kind": "licence",
        "operator_id": "op-1",
        "licence_id": "LIC-1",
        "licence_kind": "ONLINE_CASINO",
        "decision_ref": "KRAIL 1/2026",
        "valid_from_us": 1_700_000_000_000_000,
    },
    {
        "kind": "licence",
        "operator_id": "op-2",
        "licence_id": "LIC-2",
        "licence_kind": "BOOKMAKING",
        "decision_ref": "KRAIL 2/2026",
        "valid_from_us": 1_700_000_000_000_000,
    },
]
PEOPLE = [
    Person("rep-1", "Olena Petrenko", "operator", "1111111111", "op-1", "14360570"),
    Person("rep-2", "Ivan Shevchuk", "operator", "2222222222", "op-2", "00032129", key_type="rsa"),
    Person("taras", "Taras Bondar", "officer", "3333333333"),
    Person("oksana", "Oksana Melnyk", "officer", "4444444444"),
    Person("board", "Board Member", "regulator", "5555555555"),
    Person("analyst", "Anna Koval", "analyst", "6666666666"),
    Person("tax", "Petro Tkach", "tax", "7777777777"),
    Person("insp", "Iryna Savchenko", "inspector", "8888888881"),
    Person("adm", "Andriy Lysenko", "admin", "8888888882"),
    Person("detective", "Dmytro Kravets", "law", "8888888883"),
    Person("detective2", "Halyna Moroz", "law", "8888888884"),
]


@dataclass
class World:
    settings: Settings
    registry: RegistryService
    folder: Path

    def files(self, name: str) -> tuple[bytes, bytes]:
        return (self.folder / f"{name}.crt").read_bytes(), (self.folder / f"{name}.key").read_bytes()


def make_world(tmp: Path, **web: Any) -> World:
    # The tests read the English source strings unless they choose Ukrainian (?lang=uk or the
    # dsom_lang cookie); deployments default to Ukrainian (tests/web/test_i18n.py checks it).
    web.setdefault("default_language", "en")
    settings = Settings(
        pki_dir=tmp / "pki",
        registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{tmp / 'r.sqlite'}")),
        web=web,
    )
    registry = RegistryService.from_settings(settings)
    registry.add(registry_system(), OPERATORS)
    reps = make_people(qes_dir(settings), PEOPLE, tax_number_key(settings))
    registry.add(registry_system(), reps)
    return World(settings, registry, qes_dir(settings))


def registry_system() -> Any:
    from registry.core.access import Principal, PrincipalRole

    return Principal("tests", PrincipalRole.SYSTEM)


@pytest.fixture
def english() -> Iterator[None]:
    """English for code called outside a request (pure parsers and refusals), as the tests' world is."""
    token = i18n.use("en")
    yield
    i18n.reset(token)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(
        app_from_settings(world.settings, None, world.registry), base_url="http://127.0.0.1"
    ) as c:
        yield c


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrftoken|challenge)" value="([^"]*)"', html))


def login(
    client: TestClient, cert: bytes, key_pem: bytes, *, tamper: bool = False, challenge: str | None = None
) -> Any:
    """What the login page's script does: sign the challenge, post the certificate and the signature."""
    fields = form_fields(client.get("/login").text)
    challenge = challenge or fields["challenge"]
    key = serialization.load_pem_private_key(key_pem, None)
    sig = bytearray(webcrypto_sign(key, challenge_message(challenge)))  # type: ignore[arg-type]
    if tamper:
        sig[5] ^= 1
    return client.post(
        "/login",
        data={
            "csrftoken": fields["csrftoken"],
            "challenge": challenge,
            "certificate": base64.b64encode(cert).decode(),
            "signature": base64.b64encode(bytes(sig)).decode(),
        },
        follow_redirects=False,
    )


def login_as(client: TestClient, world: World, name: str) -> Any:
    res = login(client, *world.files(name))
    assert res.status_code == 303, res.text[:2000]
    return res


def csrf(client: TestClient) -> str:
    return str(client.cookies.get("csrftoken"))
