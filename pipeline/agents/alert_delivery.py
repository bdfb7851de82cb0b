"""The alert delivery agent's declaration; its code is in pipeline/delivery.py (imported when it runs).

Not transactional: its effects are HTTP requests and e-mails, which no Kafka transaction can
take back. It reads ``<prefix>.alerts`` read_committed in its own group and commits offsets
after delivering: at least once, every webhook and e-mail carrying the alert record's
idempotency key (docs/alerts.md, "Delivery"). Not run by default: name it with the alerts agent,
``dsom worker --agents ...,alerts,alert-delivery``, once webhooks or SMTP are configured.
"""

from __future__ import annotations

from pipeline.agents.alerts import ALERTS
from pipeline.agents.app import AgentSpec, app

ALERT_DELIVERY = app.declare(AgentSpec(
    name="alert-delivery",
    group="alert-delivery",
    reads=(ALERTS,),
    writes=(),
    tables=(),
    target="pipeline.delivery:AlertDelivery",
    transactional=False,
    default=False,
    description="Delivers alerts as HMAC-signed webhooks and e-mail over SMTP (at least once).",
))
