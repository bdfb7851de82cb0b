"""infra/docker-compose.yml (untested with Docker here) stays consistent with the code's settings."""

from __future__ import annotations

import re

import pytest
import yaml

from pipeline.settings import REPO_ROOT, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "infra" / "docker-compose.yml").read_text())


@pytest.mark.parametrize("service", ["pki", "init", "worker", "web"])
def test_every_dsom_setting_of_a_service_is_a_valid_setting(service: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    env = COMPOSE["services"][service]["environment"]
    assert env, service
    for name, value in env.items():
        assert name.startswith("DSOM_"), name
        monkeypatch.setenv(name, str(value))
    s = Settings()  # extra="forbid": a misspelt nested setting fails here
    assert s.clickhouse.dsn.get_secret_value().startswith("http://")  # a server, not embedded chdb
    assert s.kafka.security_protocol == "SSL" and s.kafka.bootstrap_servers == "kafka:9092"
    assert s.kafka.principal("pipeline") == "User:pipeline"


def test_the_broker_is_configured_like_the_local_one() -> None:
    from infra.kafka_local import TLS_PROPERTIES  # noqa: PLC0415

    env = COMPOSE["services"]["kafka"]["environment"]
    local = dict(line.split("=", 1) for line in TLS_PROPERTIES.splitlines() if "=" in line)
    for key in ("ssl.client.auth", "ssl.principal.mapping.rules", "authorizer.class.name",
                "allow.everyone.if.no.acl.found", "super.users", "ssl.keystore.type"):
        compose_key = "KAFKA_" + re.sub(r"\.", "_", key).upper()
        assert str(env[compose_key]).replace("$$", "$") == local[key], key
