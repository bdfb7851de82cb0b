"""The operator's self-service access keys without a broker (ACL calls recorded): issue, the bundle
once, rotate, revoke, another operator's key out of reach, every action audited. On the real broker:
tests/integration/test_cabinet_keys.py."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient

from pipeline.security.acls import operator_grants
from pipeline.security.keys import AccessKeys
from pipeline.security.pki import CertificateAuthority
from registry.access_keys import KeyStore
from tests.web.conftest import World, csrf, login_as, make_world
from web.app import app_from_settings
from web.keys import KeyDesk, desk_from_settings


class Acls:
    """What the key desk asked the broker: (principal, grants) granted, principals revoked."""

    def __init__(self) -> None:
        self.granted: list[tuple[str, list[Any]]] = []
        self.revoked: list[str] = []

    def grant(self, kafka: Any, principal: str, grants: list[Any]) -> None:
        self.granted.append((principal, grants))

    def revoke(self, kafka: Any, principal: str) -> int:
        self.revoked.append(principal)
        return 6


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[tuple[World, Acls, TestClient]]:
    world = make_world(tmp_path)
    CertificateAuthority(world.settings.pki_dir).ensure()
    acls = Acls()
    desk = KeyDesk(
        AccessKeys(
            world.settings.pki_dir,
            world.settings.topics,
            world.settings.kafka_as("key-issuer"),
            KeyStore(world.registry),
            grant_fn=acls.grant,
            revoke_fn=acls.revoke,
        ),
        "broker.example.ua:9093",
    )
    with TestClient(
        app_from_settings(world.settings, None, world.registry, desk), base_url="http://127.0.0.1"
    ) as c:
        yield world, acls, c


def post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrftoken": csrf(client), **data}, follow_redirects=False)


def actions(world: World) -> list[tuple[str, str, str]]:
    return [(r.principal, r.action, r.entity_id) for r in world.registry.audit_entries() if "key" in r.action]


def test_issue_download_once_rotate_revoke(keyed: tuple[World, Acls, TestClient]) -> None:
    world, acls, client = keyed
    login_as(client, world, "rep-1")
    res = post(client, "/operator/keys", environment="sandbox")
    assert res.status_code == 303
    key_id = res.headers["location"].rsplit("=", 1)[1]
    page = client.get(res.headers["location"]).text
    assert f"Key {key_id} issued" in page and "Download (once)" in page
    t = world.settings.topics
    assert acls.granted == [(f"op.op-1.{key_id}", operator_grants(t, "op-1", sandbox=True))]

    res = post(client, f"/operator/keys/{key_id}/bundle")
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    assert f"dsom-key-op-1-sandbox-{key_id}.zip" in res.headers["content-disposition"]
    z = zipfile.ZipFile(io.BytesIO(res.content))
    names = set(z.namelist())
    assert names == {
        f"{key_id}.crt",
        f"{key_id}.key",
        f"{key_id}.pem",
        "ca.crt",
        f"{key_id}.p12",
        f"{key_id}.truststore.p12",
        "client-settings.txt",
        "README.txt",
    }
    password = z.read("README.txt").decode().split("truststore.p12: ", 1)[1].split("\n", 1)[0]
    settings_text = z.read("client-settings.txt").decode()
    assert f"ssl.keystore.password={password}" in settings_text and t.sandbox("op-1") in settings_text
    assert f"ssl.key.location={key_id}.key" in settings_text  # paths relative to the unzipped folder
    assert "bootstrap.servers=broker.example.ua:9093" in settings_text
    key, cert, _ = pkcs12.load_key_and_certificates(z.read(f"{key_id}.p12"), password.encode())
    assert cert is not None and cert.subject.rfc4514_string() == f"CN=op.op-1.{key_id},OU=dsom-operator-keys"
    pem_key = serialization.load_pem_private_key(z.read(f"{key_id}.key"), None)
    assert pem_key.public_key() == x509.load_pem_x509_certificate(z.read(f"{key_id}.crt")).public_key()
    # handed over: the private key and the stores are gone from the server, the certificate stays
    folder = world.settings.pki_dir / "operators" / "op-1"
    assert not (folder / f"{key_id}.key").exists() and not (folder / f"{key_id}.p12").exists()
    assert (folder / f"{key_id}.crt").exists()

    again = post(client, f"/operator/keys/{key_id}/bundle")
    assert again.status_code == 410 and "already downloaded" in again.text and "only once" in again.text

    res = post(client, f"/operator/keys/{key_id}/rotate")
    assert res.status_code == 303
    new_id = res.headers["location"].rsplit("=", 1)[1]
    assert new_id != key_id and f"replaces {key_id}" in client.get("/operator/keys").text
    assert acls.granted[-1][0] == f"op.op-1.{new_id}"

    res = post(client, f"/operator/keys/{key_id}/revoke")
    assert res.status_code == 303 and acls.revoked == [f"op.op-1.{key_id}"]
    assert "can no longer produce" in client.get(res.headers["location"]).text
    again = post(client, f"/operator/keys/{key_id}/revoke")
    assert again.status_code == 409 and "already revoked" in again.text
    assert post(client, f"/operator/keys/{key_id}/rotate").status_code == 409

    me = "operator:rep-1@op-1"
    assert actions(world) == [
        (me, "key_issue", key_id),
        (me, "key_bundle", key_id),
        (me, "key_refused", key_id),  # the second download
        (me, "key_rotate", new_id),
        (me, "key_revoke", key_id),
        (me, "key_refused", key_id),  # revoked twice
        (me, "key_refused", key_id),  # a revoked key rotated
    ]
    assert world.registry.verify_audit().ok


def test_another_operators_key_is_out_of_reach(keyed: tuple[World, Acls, TestClient]) -> None:
    world, acls, client = keyed
    login_as(client, world, "rep-1")
    key_id = post(client, "/operator/keys", environment="production").headers["location"].rsplit("=", 1)[1]
    client.post("/logout", data={"csrftoken": csrf(client)})
    login_as(client, world, "rep-2")
    assert key_id not in client.get("/operator/keys").text  # not listed
    for action in ("bundle", "rotate", "revoke"):
        res = post(client, f"/operator/keys/{key_id}/{action}")
        assert res.status_code == 404 and f"Your operator has no access key {key_id}" in res.text, action
    assert acls.revoked == [] and len(acls.granted) == 1  # nothing happened to op-1's key
    refused = [(p, a) for p, a, e in actions(world) if e == key_id and a == "key_refused"]
    assert len(refused) == 3 and {p for p, _ in refused} == {"operator:rep-2@op-2"}
    client.post("/logout", data={"csrftoken": csrf(client)})
    login_as(client, world, "rep-1")  # and op-1 still downloads its bundle, once
    assert post(client, f"/operator/keys/{key_id}/bundle").status_code == 200


def test_bad_input_cli_keys_and_no_credentials(keyed: tuple[World, Acls, TestClient], tmp_path: Path) -> None:
    world, acls, client = keyed
    login_as(client, world, "rep-1")
    res = post(client, "/operator/keys", environment="staging")
    assert res.status_code == 400 and "the sandbox or production" in res.text
    assert post(client, "/operator/keys", environment="sandbox").status_code == 303
    # a key the regulator issued with `dsom keys issue`: listed, its files were handed over as files
    cli = AccessKeys(
        world.settings.pki_dir, world.settings.topics, world.settings.kafka, KeyStore(world.registry),
        grant_fn=acls.grant,
    )
    old = cli.issue("op-1", pkcs12_password="given-by-hand")
    row = client.get("/operator/keys").text.split(f'data-key="{old.key_id}"', 1)[1].split("</tr>", 1)[0]
    assert "handed over outside the cabinet" in row and "Download" not in row
    res = post(client, f"/operator/keys/{old.key_id}/bundle")
    assert res.status_code == 410 and "handed over outside the cabinet" in res.text
    client.cookies.delete("csrftoken")
    res = client.post("/operator/keys", data={"environment": "sandbox"})
    assert res.status_code == 403 and "CSRF" in res.text
    # a server without key-issuing credentials says so, and issues nothing
    bare = make_world(tmp_path / "bare")
    assert desk_from_settings(bare.settings, bare.registry) is None
    with TestClient(app_from_settings(bare.settings, None, bare.registry), base_url="http://127.0.0.1") as c:
        login_as(c, bare, "rep-1")
        assert "not issued by this server" in c.get("/operator/keys").text
        res = post(c, "/operator/keys", environment="sandbox")
        assert res.status_code == 503 and "no key-issuing credentials" in res.text


def test_the_web_process_issues_as_key_issuer(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    ca = CertificateAuthority(world.settings.pki_dir)
    ca.ensure()
    ca.issue("key-issuer", world.settings.pki_dir / "key-issuer")
    assert desk_from_settings(world.settings, world.registry) is None  # no operator-keys CA yet
    ca.ensure_operator_ca()
    (world.settings.pki_dir / "ca.key").unlink()  # the root's key is not needed to issue keys
    desk = desk_from_settings(world.settings, world.registry)
    assert desk is not None
    assert desk.keys._admin.ssl_certificate_location == world.settings.pki_dir / "key-issuer.crt"


def test_on_kubernetes_the_broker_ca_and_the_bundle_ca_are_separate_files(tmp_path: Path) -> None:
    """Strimzi's cluster CA signs the brokers; dsom's root is only the clients CA there (infra/k8s).

    The cabinet verifies the brokers with ``kafka.ssl_ca_location`` and hands operators
    ``bundle_ca``; neither is ``<pki_dir>/ca.crt``, which that layout does not have.
    """
    world = make_world(tmp_path)
    root = CertificateAuthority(tmp_path / "dsom-root")
    root.ensure()
    pki = world.settings.pki_dir
    root.ensure_operator_ca()
    for name in ("ca.crt", "ca.key"):  # the secret dsom-operator-ca
        (pki / "operator-ca").mkdir(parents=True, exist_ok=True)
        (pki / "operator-ca" / name).write_bytes((tmp_path / "dsom-root" / "operator-ca" / name).read_bytes())
    root.issue("key-issuer", pki / "key-issuer")  # the KafkaUser's certificate (Strimzi's clients CA)
    cluster = CertificateAuthority(tmp_path / "cluster-ca")
    cluster.ensure("Strimzi cluster CA")
    listener = CertificateAuthority(tmp_path / "listener-ca")
    listener.ensure("external listener CA")
    assert not (pki / "ca.crt").exists()
    settings = world.settings.model_copy(update={
        "kafka": world.settings.kafka.model_copy(update={"ssl_ca_location": cluster.cert_path}),
        "bundle_ca": listener.cert_path})
    desk = desk_from_settings(settings, world.registry)
    assert desk is not None
    assert desk.keys._admin.ssl_ca_location == cluster.cert_path  # the cabinet's own connection
    acls = Acls()
    desk.keys._grant = acls.grant
    key = desk.keys.issue("op-1", sandbox=True, pkcs12_password="pw", keep_password=True)
    _, zipped = desk.keys.take_bundle(key.key_id, "broker.example.ua:9093")
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        assert z.read("ca.crt") == listener.cert_path.read_bytes()  # what the operator's client trusts
    assert len(acls.granted) == 1
    # without the bundle CA (or the broker CA) the server issues nothing, as without credentials
    gone = settings.model_copy(update={"bundle_ca": tmp_path / "missing.crt"})
    assert desk_from_settings(gone, world.registry) is None
