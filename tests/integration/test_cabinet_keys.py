"""A key issued in the operator's cabinet, on the real broker: its bundle produces to the operator's own
sandbox topic, nothing else; revoked in the cabinet, it is refused. The web process issues as key-issuer."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from fastapi.testclient import TestClient

from pipeline.kafka.admin import ensure_topics, operator_topics
from pipeline.kafka.config import client_config
from pipeline.security.pki import OPERATOR_CA_DIR, OPERATOR_KEYS_OU, CertificateAuthority
from pipeline.settings import Settings
from tests.integration.conftest import PKI
from tests.integration.test_security import produce_error
from tests.web.conftest import csrf, login_as, make_world
from web.app import app_from_settings
from web.keys import desk_from_settings

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not PKI, reason="needs the mTLS broker of `make test`")
def test_a_cabinet_key_produces_to_its_sandbox_until_revoked(settings: Settings, tmp_path: Path) -> None:
    admin = settings.model_copy(update={"kafka": settings.kafka_as("admin")})
    ensure_topics(admin, operator_topics(admin, ["op-1", "op-2"]))
    world = make_world(tmp_path / "cabinet")  # op-1's and op-2's people, from a test QES provider
    desk = desk_from_settings(settings, world.registry)
    assert (
        desk is not None and desk.keys._admin.ssl_certificate_location == settings.pki_dir / "key-issuer.crt"
    )
    with TestClient(
        app_from_settings(world.settings, None, world.registry, desk), base_url="http://127.0.0.1"
    ) as c:
        login_as(c, world, "rep-1")
        res = c.post(
            "/operator/keys", data={"csrftoken": csrf(c), "environment": "sandbox"}, follow_redirects=False
        )
        assert res.status_code == 303, res.text
        key_id = res.headers["location"].rsplit("=", 1)[1]
        bundle = c.post(f"/operator/keys/{key_id}/bundle", data={"csrftoken": csrf(c)})
        assert bundle.status_code == 200
        folder = tmp_path / "unzipped"
        zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(folder)
        kafka = settings.kafka_with(folder / f"{key_id}.crt", folder / f"{key_id}.key")
        t = settings.topics
        assert produce_error(kafka, t.sandbox("op-1")) is None
        for foreign in (t.ingest("op-1"), t.sandbox("op-2"), t.archive):  # a sandbox key: the sandbox only
            assert produce_error(kafka, foreign).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, foreign
        res = c.post(f"/operator/keys/{key_id}/revoke", data={"csrftoken": csrf(c)}, follow_redirects=False)
        assert res.status_code == 303
        assert produce_error(kafka, t.sandbox("op-1")).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # what the web process holds cannot shorten the archive's retention (admin's ALTER_CONFIGS could)
    retention = ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
    archive = ConfigResource(
        ConfigResource.Type.TOPIC, settings.topics.archive, incremental_configs=[retention]
    )
    issuer = AdminClient(client_config(desk.keys._admin))  # kept alive until the answer comes
    with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED"):
        issuer.incremental_alter_configs([archive])[archive].result(30)
    assert [r.action for r in world.registry.audit_entries() if r.action.startswith("key_")] == [
        "key_issue",
        "key_bundle",
        "key_revoke",
    ]


@pytest.mark.skipif(not PKI, reason="needs the mTLS broker of `make test`")
def test_the_operator_keys_ca_cannot_make_a_service_certificate(settings: Settings, tmp_path: Path) -> None:
    """What the web process signs with is name-constrained: a certificate it makes for the pipeline is
    refused at the handshake, and one under its OU is a principal without rights."""
    sub = CertificateAuthority(settings.pki_dir / OPERATOR_CA_DIR)
    outside = sub.issue("pipeline", tmp_path / "pipeline")  # CN=pipeline: outside the name constraint
    with pytest.raises(KafkaException):
        AdminClient(client_config(settings.kafka_with(outside.cert, outside.key))).list_topics(timeout=3)
    inside = sub.issue("pipeline", tmp_path / "pipeline-ou", ou=OPERATOR_KEYS_OU)  # User:CN=pipeline,OU=...
    kafka = settings.kafka_with(inside.cert, inside.key)
    assert produce_error(kafka, settings.topics.archive).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
