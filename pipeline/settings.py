"""The one typed settings object: every tunable, with defaults that work on a laptop.

Values come from environment variables prefixed ``DSOM_`` (nested with ``__``, e.g.
``DSOM_KAFKA__BOOTSTRAP_SERVERS``), or from keyword arguments in code and tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core.conflicts import DEFAULT_WINDOW
from pipeline.core.engine import Engine

REPO_ROOT = Path(__file__).resolve().parent.parent
SECOND_US = 1_000_000
HOUR_US = 3600 * SECOND_US
DAY_US = 24 * HOUR_US


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Frozen):
    """How every dsom client connects to Kafka (converted to librdkafka keys in pipeline.kafka)."""

    bootstrap_servers: str = "127.0.0.1:19092"
    security_protocol: str = "PLAINTEXT"
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    # How the brokers name the principal of a client certificate ``CN=<name>``, for the ACLs dsom
    # grants: dsom's own brokers map it to ``<name>`` (ssl.principal.mapping.rules); Strimzi keeps
    # the subject, ``CN=<name>`` (set ``CN={name}``: infra/k8s does).
    principal_format: str = "{name}"
    # How long a group coordinator may go without a consumer's heartbeat before it takes the
    # member's partitions (heartbeats every fifth of it). 10 s moves a dead worker's partitions
    # quickly; with a thousand operators on the loaded three-broker machine the coordinators
    # left heartbeats unanswered longer than that, and every member of the validator's and the
    # sink's groups kept losing its partitions (docs/operations.md, "A thousand operators").
    session_timeout_ms: int = Field(default=10000, ge=6000, le=300000)
    # How often a consumer asks for every topic's metadata on its own (librdkafka's
    # topic.metadata.refresh.interval.ms): how a pattern subscription finds a topic nobody told dsom
    # about. Each answer lists every topic of the cluster, costly with thousands; topics dsom learns
    # of itself (a new operator's, a topic created after its reader started) are asked for at once
    # (pipeline.kafka.discovery), so this is only the fallback's delay (docs/operations.md).
    metadata_refresh_interval_ms: int = Field(default=60000, ge=1000, le=3600000)

    def principal(self, name: str) -> str:
        """The Kafka principal (``User:...``) of the certificate issued to ``name``."""
        return "User:" + self.principal_format.format(name=name)


class TopicSettings(_Frozen):
    """Topic names and sizes. Ingest and receipts topics are per operator."""

    prefix: str = "dsom"
    ingest_partitions: int = 3
    archive_partitions: int = 6
    state_partitions: int = 6
    replication_factor: int = 1
    # Replicated clusters (issue 16): with replication_factor 3 and acks=all, 2 means a write is
    # acknowledged only once two replicas hold it. None leaves the broker's default.
    min_insync_replicas: int | None = None

    def ingest(self, operator_id: str) -> str:
        return f"{self.prefix}.ingest.{operator_id}"

    def receipts(self, operator_id: str) -> str:
        return f"{self.prefix}.receipts.{operator_id}"

    @property
    def ingest_pattern(self) -> str:
        return "^" + self.prefix.replace(".", r"\.") + r"\.ingest\..+"

    @property
    def sandbox_pattern(self) -> str:
        return "^" + self.prefix.replace(".", r"\.") + r"\.sandbox\..+"

    def is_sandbox(self, topic: str) -> bool:
        return topic.startswith(f"{self.prefix}.sandbox.")

    @property
    def receipts_pattern(self) -> str:
        return "^" + self.prefix.replace(".", r"\.") + r"\.receipts\..+"

    @property
    def archive(self) -> str:
        return f"{self.prefix}.archive"

    @property
    def dead_letter(self) -> str:
        """Records an agent could not process (a reference and the error, never counted)."""
        return f"{self.prefix}.dead-letter"

    @property
    def validator_state(self) -> str:
        return f"{self.prefix}.validator-state"

    def sandbox(self, operator_id: str) -> str:
        return f"{self.prefix}.sandbox.{operator_id}"

    def sandbox_receipts(self, operator_id: str) -> str:
        return f"{self.prefix}.sandbox-receipts.{operator_id}"

    def agent_group(self, agent: str) -> str:
        """The consumer group of a declared pipeline agent (``pipeline.agents.app``)."""
        from pipeline.agents.app import app  # noqa: PLC0415 - the agents import these settings

        return app.get(agent).consumer_group(self)

    @property
    def reader_group(self) -> str:
        """The group ID dsom's own whole-topic readers present (never joined or committed)."""
        return f"{self.prefix}-reader"

    @property
    def tax_service_group(self) -> str:
        return f"{self.prefix}-tax-service"

    @property
    def registry(self) -> str:
        """Every committed registry change, one entity's history per key (compacted; docs/registry.md)."""
        return f"{self.prefix}.registry"

    @property
    def checkpoints(self) -> str:
        """Signed tree heads of the archive's partitions (issue 15, docs/archive.md)."""
        return f"{self.prefix}.checkpoints"

    @property
    def alerts(self) -> str:
        """Supervision alerts (the alerts agent's, and the archive guard's: docs/alerts.md)."""
        return f"{self.prefix}.alerts"

    @property
    def checkpointer_state(self) -> str:
        return f"{self.prefix}.checkpointer-state"

    @property
    def tax_events(self) -> str:
        return f"{self.prefix}.tax-events"

    @property
    def tax_state(self) -> str:
        return f"{self.prefix}.tax-state"

    def home_partitions(self, topic: str) -> int:
        """The partition count an operator's topic was created with, which fixes each source's home.

        Never the topic's count today: partitions added later must not move a source away from
        the partition that holds its state (``pipeline.core.partitioning``).
        """
        return 1 if self.is_sandbox(topic) else self.ingest_partitions

    def operator_of(self, topic: str) -> str:
        """The operator that owns an ingest or receipts topic (the sender identity)."""
        return topic.split(".", 2)[2] if topic.count(".") >= 2 else ""


class ValidationSettings(_Frozen):
    """Limits the validator applies to every event."""

    currency: str = "UAH"
    max_amount_kopecks: int = 10_000_000_000  # 100 million UAH: above that, an input error
    future_skew_us: int = 5 * 60 * SECOND_US
    # Operators may send data up to 72 h after a 24 h+ outage ends: a week covers that.
    late_window_us: int = 7 * DAY_US
    # A WIN or REFUND must reference a BET from the same source seen within this horizon.
    bet_horizon_us: int = 7 * DAY_US
    # Sequence gaps kept open per source before the oldest is closed (and later fills rejected).
    max_open_gaps_per_source: int = 10_000
    # Content digests kept per source, of its last decided events: a repeat of one of those seqs
    # with other content is rejected (conflicting_duplicate), a byte-identical one is a DUPLICATE
    # naming the first's receipt; older repeats are DUPLICATEs that cannot name it.
    # 8 bytes of memory per event kept; 0 keeps none (no conflict is detected).
    conflict_window_per_source: int = Field(default=DEFAULT_WINDOW, ge=0)
    max_events_per_batch: int = 10_000
    # An ingest record's value, in bytes (Kafka's own default request limit is about 1 MB).
    max_record_bytes: int = 1_000_000
    # Which engine decides and reads records in every agent (validator, tax, sink): the compiled
    # one (pipeline/native) or the Python reference (pipeline/core/engine.py).
    engine: Engine = "native"

    @model_validator(mode="after")
    def _outputs_fit(self) -> ValidationSettings:
        # Every output of a record within these limits must fit a message of the output topics.
        from pipeline.core.limits import OUTPUT_MESSAGE_BYTES, worst_case_output_bytes  # noqa: PLC0415

        worst = worst_case_output_bytes(self.max_record_bytes, self.max_events_per_batch,
                                        self.max_open_gaps_per_source)
        name, size = max(worst.items(), key=lambda kv: kv[1])
        if size > OUTPUT_MESSAGE_BYTES:
            raise ValueError(f"with max_record_bytes={self.max_record_bytes} and max_events_per_batch="
                             f"{self.max_events_per_batch} a record's {name} could reach {size} bytes, "
                             f"above the output topics' {OUTPUT_MESSAGE_BYTES}: lower the limits")
        return self


class TaxSettings(_Frozen):
    """How taxes are computed and when GGR statements are issued (see docs/tax.md)."""

    rates_path: Path = REPO_ROOT / "pipeline" / "data" / "tax_rates.json"
    period: str = "month"  # "month" or "day", Kyiv local time
    # An open period's statement is re-issued at most this often while data arrives.
    statement_interval_s: float = 10.0
    # A period closes (its statement becomes CLOSED) this long after it ends.
    close_grace_s: float = 3600.0
    # Kopecks of difference per tax between withheld and due before a discrepancy is raised.
    tolerance_kopecks: int = 1


class ClickHouseSettings(_Frozen):
    """Where analytical tables live: embedded chdb by default, a server via ``dsn``."""

    # chdb:///<folder> for embedded; http(s)://user:pass@host:8123 for a ClickHouse server.
    dsn: SecretStr = SecretStr(f"chdb://{REPO_ROOT / '.run' / 'chdb'}")
    database: str = "dsom"
    # A batch is stored when it holds batch_max_rows or is batch_max_wait_s old. Each store is
    # an insert and its roll-ups, each with a fixed cost (the roll-ups, folded in the stream, about
    # 3 ms each; the insert more), so under a backlog big batches matter (docs/performance.md).
    # At low rates the wait decides, so latency does not grow with the limit.
    batch_max_rows: int = 200_000
    batch_max_wait_s: float = 0.5
    # Embedded chdb only: archive records go to ClickHouse as the Avro they are, decoded by
    # ClickHouse itself (sinks/clickhouse/avro.py); off, the sink decodes them in Python.
    raw_avro_events: bool = True
    # Embedded chdb only: how long its allocator (jemalloc) keeps freed pages before giving them
    # back, in ms (ClickHouse builds it with 5000). Each batch's insert takes some 200 MB for a
    # moment; kept 5 s, a backlog's batches add up in different arenas and the sink worker's
    # peak RSS grew past 1 GiB. 300 ms measured the same CPU per insert, 0 a fifth more
    # (docs/performance.md). Read once, when chdb is loaded: the process's first chdb client.
    chdb_dirty_decay_ms: int = Field(default=300, ge=0)


class RegistrySettings(_Frozen):
    """The registry's database and API (issue 13, docs/registry.md)."""

    # sqlite:///<file> (embedded, the default) or postgresql://user@host:port/db.
    dsn: SecretStr = SecretStr(f"sqlite:///{REPO_ROOT / '.run' / 'registry.sqlite'}")
    # HMAC key for representatives' tax numbers; unset, a random key kept in <pki_dir>/registry-hmac.key.
    tax_number_key: SecretStr | None = None
    # Who the CLI acts as, role:name (officer, regulator, system, or operator:name@operator_id),
    # until the cabinets' login (issue 14) names people.
    cli_principal: str = "officer:cli"
    api_host: str = "127.0.0.1"
    api_port: int = 8060
    # How often the publisher looks for committed changes in the outbox.
    publish_interval_s: float = 0.2
    # How long the validator and the sink may take to read <prefix>.registry before deciding anything.
    follow_timeout_s: float = 120.0


class WebhookTarget(_Frozen):
    """One webhook receiver: alerts are POSTed to ``url``, signed with ``secret`` (docs/alerts.md)."""

    url: str
    secret: SecretStr
    name: str = ""  # in logs and metrics (default: the URL)


class AlertSettings(_Frozen):
    """The alerts agent (issue 17): its rules file, its clock, and where alerts are delivered."""

    rules_path: Path = REPO_ROOT / "pipeline" / "data" / "alert_rules.json"
    # How often silence, days ending and quiet periods are evaluated (each pass visits every
    # source and player the agent holds).
    sweep_interval_s: float = 30.0
    # Delivery (the `alert-delivery` agent, docs/alerts.md "Delivery"): HMAC-SHA256-signed webhook
    # POSTs to each of `webhooks` (e.g. DSOM_ALERTS__WEBHOOKS='[{"url": ..., "secret": ...}]'),
    # and e-mail over SMTP to `mail_to` when `smtp_host` is set.
    webhooks: tuple[WebhookTarget, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "dsom-alerts@localhost"
    mail_to: str = ""  # comma-separated addresses
    min_severity: Literal["INFO", "WARNING", "CRITICAL"] = "INFO"  # deliver this and above
    delivery_attempts: int = 4  # per alert and endpoint, with exponential backoff and jitter
    delivery_backoff_s: float = 0.5  # the first wait; doubled each retry, capped at 8 s
    delivery_timeout_s: float = 10.0  # per HTTP request or SMTP session
    endpoint_down_s: float = 60.0  # an endpoint that failed every attempt is skipped this long


class ArchiveSettings(_Frozen):
    """The archive's Merkle logs and their signed checkpoints (docs/archive.md)."""

    # The signing key's folder (``dsom archive-key init``); default: ``archive-key`` beside pki_dir.
    # Kept apart from the TLS CA: whoever can issue certificates must not be able to sign.
    key_dir: Path | None = None
    # Names the key and, with ``/archive/<partition>``, each partition's log (a C2SP origin).
    origin: str = "dsom.local/dsom"
    # A partition's checkpoint is signed when it grew and this much time passed, or when this
    # many archive records (batches of events) arrived since the last one.
    checkpoint_interval_s: float = 10.0
    checkpoint_every_records: int = Field(default=10_000, ge=1)
    # How often ``dsom archive-guard`` reads the ACLs and settings of the archive and checkpoints:
    # a change is in the registry's audit log, the log and the metrics within this time.
    guard_interval_s: float = Field(default=5.0, gt=0)
    guard_metrics_port: int = 9465  # its /metrics on metrics_host (the worker's is metrics_port); 0: none


class WebSettings(_Frozen):
    """The cabinets (issue 14, docs/cabinets.md): login by QES, sessions; served on dashboard_host:port."""

    # Trusted qualified trust service providers: PEM/DER files of their CA certificates (roots and
    # intermediates). Unset: the demo provider that `dsom security init` makes, <pki_dir>/qes/ca.crt.
    trusted_ca_paths: tuple[Path, ...] | None = None
    # Their CRLs: files or http(s) URLs. Unset: <pki_dir>/qes/ca.crl.
    crl_sources: tuple[str, ...] | None = None
    require_crl: bool = True  # refuse logins when an issuer has no current CRL (fail closed)
    crl_refresh_s: float = 300.0
    # The regulator's and tax service's people (JSON list). Unset: <pki_dir>/qes/staff.json.
    staff_path: Path | None = None
    # Signs the session cookie and the CSRF token; unset, a random key in <pki_dir>/web-session.key.
    session_key: SecretStr | None = None
    session_max_age_s: int = 8 * 3600
    https_only: bool = False  # the cookies' Secure flag: set it when served behind TLS
    login_attempts_per_minute: int = 10  # per client address
    # ClickHouse connections the pages' queries share: that many run in parallel (each connection one
    # at a time), so a fast look-up does not queue behind a slow report (docs/cabinets.md).
    query_connections: int = Field(default=4, ge=1, le=32)
    # Operators' self-service access keys: the principal whose certificate (<pki_dir>/<name>.crt)
    # creates and deletes their ACLs (ALTER on the cluster only, not admin's topic rights).
    keys_principal: str = "key-issuer"
    # The pages' language when a person has not chosen one (issue 19, docs/i18n.md): uk or en.
    default_language: Literal["uk", "en"] = "uk"


class Settings(BaseSettings):
    """All of dsom's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DSOM_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    tax: TaxSettings = Field(default_factory=TaxSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    registry_path: Path = REPO_ROOT / ".run" / "registry.json"
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # Operators' registered writer schemas (``dsom schema register``), which the validator
    # resolves into dsom's EventBatch: until the SQL registry keeps them (pipeline/writer_schemas.py).
    writer_schemas_dir: Path = REPO_ROOT / ".run" / "writer-schemas"
    # The deployment's CA and certificates (``dsom security init``); used when TLS is on.
    pki_dir: Path = REPO_ROOT / ".run" / "pki"
    # The CA certificate handed to operators in their access keys' bundles (``dsom keys issue``, the
    # cabinet's keys page): what their clients verify the brokers' certificates with. Unset:
    # <pki_dir>/ca.crt, the root that signs dsom's own brokers. It is not the CA this process verifies
    # the brokers with (``kafka.ssl_ca_location``) on Kubernetes, where Strimzi's cluster CA signs the
    # brokers and dsom's root is only the clients CA (docs/operations.md).
    bundle_ca: Path | None = None
    # Stable per running worker: it names the Kafka transactional ID, so a restarted worker
    # fences its dead predecessor at once instead of waiting for a transaction timeout.
    worker_id: str = "worker-1"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464  # 0 disables the endpoint
    # The analysts' web dashboard, served by the worker that runs the ClickHouse sink (it owns
    # an embedded chdb folder) or by `dsom dashboard` against a ClickHouse server; 0 disables.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    # Ingest records per validator transaction: with 200-event batches, 10,000 events.
    batch_max_records: int = 50
    # How much the validator's consumer reads ahead of its transactions (librdkafka's
    # queued.max.messages.kbytes, 64 MiB by default). Its queue is first in, first out over every
    # partition: an operator sending a backlog filled it with the backlog, and the live
    # operators' records waited behind it (make backlog, live receipt latency during the drain:
    # p50 16 s, p99 32 s at 64 MiB; p99 17 to 27 s at 1 MiB, where the backlog's fetches starve
    # the live partitions': librdkafka fetches no partition while the queue is full; p99 10 s at
    # 8 MiB; the catch-up pausing below ends that). docs/operations.md, "Backlog after an outage".
    validator_read_ahead_kbytes: int = Field(default=8192, ge=64)
    # A validator partition at least this many records behind its end (a backlog) is paused
    # while each poll is decided, if a live partition has records waiting: those are then
    # fetched ahead of the backlog (pipeline.agents.catch_up). 0 turns it off.
    validator_catch_up_records: int = Field(default=10, ge=0)
    # How long a transactional agent's poll waits for its batch_max_records. librdkafka's batch
    # consume waits its whole timeout unless the batch fills, so below 500 records/s every
    # receipt waited the former fixed 100 ms before its transaction began (docs/performance.md).
    batch_max_wait_ms: int = Field(default=10, ge=1, le=1000)
    # An agent blocked in a transactional call this long past the call's own timeout (30 to
    # 120 s) is replaced: librdkafka can block past its timeouts after a broker restart.
    agent_stuck_after_s: float = Field(default=30.0, ge=0)
    # A transactional agent that has committed nothing for this long while records wait past its
    # committed offsets is restarted with a new consumer (pipeline.agents.stall): a consumer can
    # stop handing over records without blocking any call. Longer than a restore, a broker's
    # restart and a commit's retries; 0 turns it off.
    agent_stalled_after_s: float = Field(default=180.0, ge=0)
    # Fault injection for the chaos harness (pipeline/tools/chaos.py) only: a file named after a
    # crash point (e.g. ``sink-after-insert``) in this folder makes the process SIGKILL itself
    # there, once. None (production) disables every crash point.
    crash_points_dir: Path | None = None

    @property
    def archive_key_dir(self) -> Path:
        return self.archive.key_dir or self.pki_dir.parent / "archive-key"

    @property
    def broker_ca(self) -> Path:
        """The CA certificate this process verifies the brokers with.

        ``kafka.ssl_ca_location``, or <pki_dir>/ca.crt (dsom's root, which signs dsom's own brokers).
        """
        return self.kafka.ssl_ca_location or self.pki_dir / "ca.crt"

    @property
    def bundle_ca_path(self) -> Path:
        """The CA certificate operators' key bundles carry (``bundle_ca``, or <pki_dir>/ca.crt)."""
        return self.bundle_ca or self.pki_dir / "ca.crt"

    def kafka_as(self, principal: str) -> KafkaSettings:
        """Connection settings with ``principal``'s client certificate from ``pki_dir`` (mTLS)."""
        return self.kafka_with(self.pki_dir / f"{principal}.crt", self.pki_dir / f"{principal}.key")

    def kafka_with(self, cert: Path | str, key: Path | str) -> KafkaSettings:
        """Connection settings with this client certificate and key (e.g. an access key's), over mTLS."""
        return self.kafka.model_copy(update={
            "security_protocol": "SSL",
            "ssl_ca_location": self.broker_ca,
            "ssl_certificate_location": Path(cert),
            "ssl_key_location": Path(key),
        })

    def as_env(self) -> dict[str, str]:
        """These settings as ``DSOM_*`` environment variables, to hand to a worker subprocess."""
        env: dict[str, str] = {}

        def walk(prefix: str, model: BaseModel) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                key = f"{prefix}{name.upper()}"
                if isinstance(value, BaseModel):
                    walk(key + "__", value)
                elif isinstance(value, tuple | list | dict):  # as JSON, as pydantic-settings reads it
                    env[key] = json.dumps(_plain(value))
                elif value is not None:
                    secret = isinstance(value, SecretStr)
                    env[key] = value.get_secret_value() if secret else str(value)

        walk("DSOM_", self)
        return env


def _plain(value: object) -> object:
    """``value`` as plain JSON data, secrets revealed (for :meth:`Settings.as_env` only)."""
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
