"""Apply and remove Kafka ACLs (the broker's StandardAuthorizer) with the admin client."""

from __future__ import annotations

import time

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from pipeline.kafka.config import client_config
from pipeline.security.acls import Grant
from pipeline.settings import KafkaSettings


def grant(kafka: KafkaSettings, principal: str, grants: list[Grant], timeout: float = 30) -> None:
    """ALLOW every grant to ``principal``'s certificate from any host (``KafkaSettings.principal``)."""
    admin = AdminClient(client_config(kafka))
    user = kafka.principal(principal)
    bindings = [AclBinding(ResourceType[g.resource], g.name, ResourcePatternType[g.pattern],
                           user, "*", AclOperation[g.operation], AclPermissionType.ALLOW)
                for g in grants]
    for fut in admin.create_acls(bindings, request_timeout=timeout).values():
        fut.result()
    # The authorizer learns ACLs through the metadata log: wait until they are in force.
    match = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,  # type: ignore[arg-type]
                             kafka.principal(principal), None,  # type: ignore[arg-type]
                             AclOperation.ANY, AclPermissionType.ALLOW)
    deadline = time.monotonic() + timeout
    # Every binding must be listed: a count would be met by the principal's other ACLs (say, for
    # another deployment prefix) before these are in force.
    while not set(bindings) <= set(admin.describe_acls(match, request_timeout=timeout).result()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"ACLs of {principal} not in force after {timeout} s")
        time.sleep(0.05)


def revoke_all(kafka: KafkaSettings, principal: str, timeout: float = 30) -> int:
    """Delete every ACL of ``principal``'s certificate; return how many were removed."""
    admin = AdminClient(client_config(kafka))
    # None matches any resource name and any host (the stubs say str; librdkafka takes NULL)
    match = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,  # type: ignore[arg-type]
                             kafka.principal(principal), None,  # type: ignore[arg-type]
                             AclOperation.ANY, AclPermissionType.ANY)
    removed = 0
    for fut in admin.delete_acls([match], request_timeout=timeout).values():
        removed += len(fut.result())
    return removed
