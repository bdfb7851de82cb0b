"""Declaring dsom's agents, faust-style: each agent is declared once, and everything reads that.

An agent module declares the topics it owns with :meth:`App.topic` and the agent itself with
``@app.agent(...)``: the topics (or per-operator topic families) it reads, the ones it writes,
its changelog tables and its consumer group. The worker, the settings' group names, the lag
monitor, the live page, topic creation and the pipeline's ACL grants all read
:data:`app`'s declarations; none keeps a list of its own. See docs/agents.md for how to write one.

Names are relative to the deployment's topic prefix: ``Topic("archive")`` is ``<prefix>.archive``,
``OperatorTopics("ingest")`` is every ``<prefix>.ingest.<operator>``, a table ``"tax-state"`` keeps
its changelog in ``<prefix>.tax-state``. An agent whose dependencies are heavy (the ClickHouse
sink and chdb) is declared with :meth:`App.declare` and imported only when it is run.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import threading

    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    from pipeline.settings import Settings, TopicSettings


def _escaped(name: str) -> str:
    return name.replace(".", r"\.")


def _one_partition(t: TopicSettings) -> int:
    return 1


@dataclass(frozen=True)
class Topic:
    """One topic, ``<prefix>.<name>``, with the partitions and configuration it is created with."""

    name: str
    partitions: Callable[[TopicSettings], int] = _one_partition
    config: Mapping[str, str] = field(default_factory=dict)
    # Read by pattern: it may be created (by its writer) after the reader subscribed.
    late: bool = False

    def full_name(self, t: TopicSettings) -> str:
        return f"{t.prefix}.{self.name}"

    def subscription(self, t: TopicSettings) -> str:
        return f"^{_escaped(self.full_name(t))}$" if self.late else self.full_name(t)

    def pattern(self, t: TopicSettings) -> str:
        return f"^{_escaped(self.full_name(t))}$"

    def created_late(self) -> Topic:
        """The same topic, subscribed to by pattern (see :attr:`late`)."""
        return Topic(self.name, self.partitions, self.config, late=True)


@dataclass(frozen=True)
class OperatorTopics:
    """A family of per-operator topics, ``<prefix>.<kind>.<operator>`` (created per operator)."""

    kind: str

    def subscription(self, t: TopicSettings) -> str:
        return self.pattern(t)

    def pattern(self, t: TopicSettings) -> str:
        return f"^{_escaped(t.prefix)}\\.{_escaped(self.kind)}\\..+"


Topics = Topic | OperatorTopics


class Agent(Protocol):
    """What the worker runs: an agent built for one run, stopped through ``stop``."""

    def run(self, stop: threading.Event) -> None: ...


@dataclass(frozen=True)
class AgentSpec:
    """One declared agent: everything the rest of dsom needs to know about it."""

    name: str
    group: str  # its consumer group (and transactional IDs) after ``<prefix>-``
    reads: tuple[Topics, ...]
    writes: tuple[Topics, ...]
    tables: tuple[str, ...]  # changelog tables, each in topic ``<prefix>.<table>``
    target: str  # "module:Class": imported only when the agent is built
    transactional: bool = True  # outputs in Kafka transactions (False: the sinks, which commit)
    default: bool = True  # run by `dsom worker` unless agents are named
    description: str = ""

    def consumer_group(self, t: TopicSettings) -> str:
        return f"{t.prefix}-{self.group}"

    def subscriptions(self, t: TopicSettings) -> list[str]:
        return [topic.subscription(t) for topic in self.reads]

    def read_pattern(self, t: TopicSettings) -> str:
        """One regular expression matching every topic the agent reads (for its lag)."""
        return "|".join(f"(?:{topic.pattern(t)})" for topic in self.reads)

    def changelogs(self, t: TopicSettings) -> list[str]:
        return [f"{t.prefix}.{table}" for table in self.tables]

    def build(self, settings: Settings, **kwargs: Any) -> Agent:
        module, _, name = self.target.partition(":")
        factory: Callable[..., Agent] = getattr(importlib.import_module(module), name)
        return factory(settings, **kwargs)


class App:
    """The registry of declared topics and agents (faust's ``App``, without its runtime)."""

    def __init__(self, packages: Sequence[str] = ()) -> None:
        self._packages = tuple(packages)
        self._discovered = False
        self._topics: dict[str, Topic] = {}
        self._agents: dict[str, AgentSpec] = {}

    def topic(self, name: str, *, partitions: Callable[[TopicSettings], int] = _one_partition,
              config: Mapping[str, str] | None = None) -> Topic:
        """Declare a topic dsom creates (before any agent that writes it starts)."""
        topic = Topic(name, partitions, MappingProxyType(dict(config or {})))
        known = self._topics.setdefault(name, topic)
        if known != topic:
            raise ValueError(f"topic {name!r} is declared twice, differently")
        return topic

    def agent(self, *, reads: Iterable[Topics], writes: Iterable[Topics] = (), group: str,
              tables: Iterable[str] = (), name: str | None = None, transactional: bool = True,
              default: bool = True) -> Callable[[type[Any]], type[Any]]:
        """Declare the decorated class as an agent; its first docstring line describes it.

        Its name is ``name``, or the class's without ``Agent`` (``TaxAgent`` is ``tax``).
        """

        def register(cls: type[Any]) -> type[Any]:
            agent_name = name or cls.__name__.removesuffix("Agent").lower()
            if agent_name in self._agents:
                raise ValueError(f"agent {agent_name!r} is declared twice")
            spec = AgentSpec(agent_name, group, tuple(reads), tuple(writes), tuple(tables),
                             f"{cls.__module__}:{cls.__qualname__}", transactional, default,
                             (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "")
            self._agents[agent_name] = spec
            cls.spec = spec
            return cls

        return register

    def declare(self, spec: AgentSpec) -> AgentSpec:
        """Declare an agent whose class lives elsewhere (imported only when it is built)."""
        if spec.name in self._agents:
            raise ValueError(f"agent {spec.name!r} is declared twice")
        self._agents[spec.name] = spec
        return spec

    # -- what everything else reads --

    def agents(self) -> list[AgentSpec]:
        """Every declared agent, upstream first: an agent comes after those writing what it reads."""
        self._discover()
        return _upstream_first(list(self._agents.values()))

    def get(self, name: str) -> AgentSpec:
        self._discover()
        try:
            return self._agents[name]
        except KeyError:
            raise KeyError(f"unknown agent {name!r}; choose from {', '.join(self._agents)}") from None

    def default_agents(self) -> list[str]:
        return [a.name for a in self.agents() if a.default]

    def topics(self) -> list[Topic]:
        """Every declared topic (changelogs are not topics here: see :meth:`new_topics`)."""
        self._discover()
        return list(self._topics.values())

    def new_topics(self, settings: Settings, agents: Iterable[AgentSpec] | None = None) -> list[NewTopic]:
        """The topics ``agents`` (by default, the default agents) read, write and keep tables in."""
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # noqa: PLC0415

        from pipeline.kafka.admin import STATE_CONFIG  # noqa: PLC0415

        t = settings.topics
        chosen = [a for a in self.agents() if a.default] if agents is None else list(agents)
        wanted: dict[str, NewTopic] = {}
        for spec in chosen:
            for topic in (*spec.reads, *spec.writes):
                if isinstance(topic, Topic):
                    declared = self._topics.get(topic.name, topic)
                    name = declared.full_name(t)
                    wanted[name] = NewTopic(name, declared.partitions(t), t.replication_factor,
                                            config=dict(declared.config))
            for changelog in spec.changelogs(t):
                wanted[changelog] = NewTopic(changelog, t.state_partitions, t.replication_factor,
                                             config=dict(STATE_CONFIG))
        return list(wanted.values())

    def _discover(self) -> None:
        """Import every module of the agent packages, so that their declarations are made."""
        if self._discovered:
            return
        self._discovered = True
        for package in self._packages:
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__, f"{package}."):
                importlib.import_module(info.name)


def _topic_id(topic: Topics) -> str:
    return topic.name if isinstance(topic, Topic) else f"{topic.kind}.*"


def _upstream_first(specs: list[AgentSpec]) -> list[AgentSpec]:
    """``specs`` ordered so that writers come before readers (by name among equals)."""
    writers = {spec.name: {_topic_id(t) for t in spec.writes} for spec in specs}
    ordered: list[AgentSpec] = []
    left = sorted(specs, key=lambda s: s.name)
    while left:
        ready = [s for s in left if not any(
            _topic_id(t) in writers[o.name] for o in left if o is not s for t in s.reads)]
        chosen = ready[0] if ready else left[0]  # a cycle: keep going in name order
        ordered.append(chosen)
        left.remove(chosen)
    return ordered


# dsom's agents: every module of pipeline.agents that declares one.
app = App(packages=["pipeline.agents"])
