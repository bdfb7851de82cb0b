#!/usr/bin/env python3
"""Fetch Apache Kafka from Maven Central and run a KRaft broker, or a cluster of them, on 127.0.0.1.

Standard library only, so it runs before any virtualenv exists.

    python infra/kafka_local.py fetch|start|stop|status|reset|bootstrap
    python infra/kafka_local.py start NODE|stop NODE|pid NODE     (one node of a cluster)

With DSOM_KAFKA_NODES=3 (or more) it runs a cluster: node N (1-based) is a combined broker and
controller listening on DSOM_KAFKA_PORT + 2(N-1) (controller DSOM_KAFKA_CONTROLLER_PORT + 2(N-1)),
with its data in $DSOM_RUN_DIR/kafka/node<N>/; the controllers form a static quorum of all nodes,
and every topic defaults to replication factor 3 (at most the node count), min.insync.replicas 2,
no unclean leader election.

Environment: DSOM_RUN_DIR (default <repo>/.run; data in $DSOM_RUN_DIR/kafka),
DSOM_KAFKA_PORT (19092), DSOM_KAFKA_CONTROLLER_PORT (19093),
DSOM_MAVEN_REPO (https://repo1.maven.org/maven2), DSOM_KAFKA_HEAP (768m),
DSOM_KAFKA_PKI_DIR (unset: PLAINTEXT; set: mutual TLS with the PEM files made by
`dsom security init` there, and the standard ACL authorizer), DSOM_KAFKA_NODES (1).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = Path(__file__).resolve().parent / "kafka" / "jars.lock"
KAFKA_VERSION = "4.1.1"
LIBS = REPO / ".cache" / f"kafka-{KAFKA_VERSION}" / "libs"
MAVEN = os.environ.get("DSOM_MAVEN_REPO", "https://repo1.maven.org/maven2").rstrip("/")
RUN = Path(os.environ.get("DSOM_RUN_DIR", REPO / ".run")) / "kafka"
PORT = int(os.environ.get("DSOM_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("DSOM_KAFKA_CONTROLLER_PORT", "19093"))
HEAP = os.environ.get("DSOM_KAFKA_HEAP", "768m")
PKI = os.environ.get("DSOM_KAFKA_PKI_DIR")
NODES = int(os.environ.get("DSOM_KAFKA_NODES", "1"))
START_TIMEOUT_S = 90 if NODES == 1 else 180

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
{quorum}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor={rf}
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
default.replication.factor={rf}
min.insync.replicas={min_isr}
# A replica that was out of sync never becomes leader: an acknowledged (acks=all) write is never lost.
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
# A dead producer's open transaction blocks read_committed readers until it times out.
transaction.max.timeout.ms=120000
"""

# Mutual TLS on both listeners; principals are certificate CNs; only the broker is a super user.
TLS_PROPERTIES = """\
listeners=SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SSL://127.0.0.1:{port}
listener.security.protocol.map=CONTROLLER:SSL,SSL:SSL
inter.broker.listener.name=SSL
ssl.keystore.type=PEM
ssl.keystore.location={pki}/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location={pki}/ca.crt
ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=(op[.][A-Za-z0-9_-]+[.]k[0-9a-f]+),OU=dsom-operator-keys$/$1/,RULE:^CN=([^,]+)$/$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:broker
"""

LOG4J2 = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {run}/server.log
appender.file.filePattern = {run}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
"""


def die(message: str) -> None:
    print(f"kafka_local: {message}", file=sys.stderr)
    sys.exit(1)


def locked_jars() -> list[tuple[str, str, str, str]]:
    """(group, artifact, version, sha1) of every jar in the lock file."""
    jars = []
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            coords, sha1 = line.split()
            group, artifact, version = coords.split(":")
            jars.append((group, artifact, version, sha1))
    return jars


def sha1_of(path: Path) -> str:
    return hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()


def fetch() -> None:
    """Download every locked jar not yet present, verifying its SHA-1."""
    LIBS.mkdir(parents=True, exist_ok=True)
    jars = locked_jars()
    missing = [j for j in jars if not _valid(LIBS / f"{j[1]}-{j[2]}.jar", j[3])]
    if not missing:
        return
    print(f"kafka_local: fetching Apache Kafka {KAFKA_VERSION}: {len(missing)} of {len(jars)} jars "
          f"from {MAVEN}")
    for i, (group, artifact, version, sha1) in enumerate(missing, 1):
        name = f"{artifact}-{version}.jar"
        url = f"{MAVEN}/{group.replace('.', '/')}/{artifact}/{version}/{name}"
        tmp = LIBS / f".{name}.part"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            die(f"download failed: {url}: {exc}")
        if sha1_of(tmp) != sha1:
            tmp.unlink()
            die(f"checksum mismatch for {url} (expected sha1 {sha1})")
        tmp.replace(LIBS / name)
        print(f"  [{i}/{len(missing)}] {name} {(LIBS / name).stat().st_size / 1e6:.1f} MB", flush=True)
    stale = {p.name for p in LIBS.glob("*.jar")} - {f"{a}-{v}.jar" for _, a, v, _ in jars}
    for name in stale:
        (LIBS / name).unlink()


def _valid(path: Path, sha1: str) -> bool:
    return path.exists() and sha1_of(path) == sha1


class Node:
    """One KRaft node (combined broker and controller): its ports, its folder, its process."""

    def __init__(self, node_id: int) -> None:
        self.id = node_id
        self.port = PORT + 2 * (node_id - 1)
        self.controller_port = CONTROLLER_PORT + 2 * (node_id - 1)
        # A single broker keeps the folder layout it always had.
        self.run = RUN if NODES == 1 else RUN / f"node{node_id}"
        self.pid_file = self.run / "broker.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
            return None  # the pid was reused by something else
        return pid

    def properties(self) -> str:
        if NODES == 1:
            quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"
        else:  # a static quorum of every node's controller
            quorum = "controller.quorum.voters=" + ",".join(
                f"{n.id}@127.0.0.1:{n.controller_port}" for n in nodes())
        rf = min(NODES, 3)
        text = SERVER_PROPERTIES.format(node_id=self.id, quorum=quorum, port=self.port,
                                        controller_port=self.controller_port, data=self.run / "data",
                                        rf=rf, min_isr=max(1, rf - 1))
        if PKI:
            overridden = ("listeners=", "advertised.listeners=", "listener.security.protocol.map=",
                          "inter.broker.listener.name=")
            text = "\n".join(line for line in text.splitlines() if not line.startswith(overridden)) + "\n"
            text += TLS_PROPERTIES.format(port=self.port, controller_port=self.controller_port, pki=PKI)
        return text

    def launch(self, cluster_id: str) -> subprocess.Popen[bytes]:
        """Write the configuration, format the storage once, start the JVM (without waiting)."""
        for port in (self.port, self.controller_port):
            if port_open(port):
                die(f"port 127.0.0.1:{port} is in use by another process; set DSOM_KAFKA_PORT / "
                    "DSOM_KAFKA_CONTROLLER_PORT or stop it")
        self.run.mkdir(parents=True, exist_ok=True)
        props = self.run / "server.properties"
        props.write_text(self.properties())
        (self.run / "log4j2.properties").write_text(LOG4J2.format(run=self.run))
        if not (self.run / "data" / "meta.properties").exists():
            # "--cluster-id=" form: a random ID may start with "-", which argparse takes for an option
            mode = ["--standalone"] if NODES == 1 else []
            subprocess.run(java(self.run, "kafka.tools.StorageTool", "format", *mode,
                                f"--cluster-id={cluster_id}", "-c", str(props)),
                           check=True, stdout=subprocess.DEVNULL)
        log = self.run / "server.log"
        self.log_offset = log.stat().st_size if log.exists() else 0
        with (self.run / "broker.out").open("ab") as out:
            proc = subprocess.Popen(java(self.run, "kafka.Kafka", str(props)), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        return proc

    def started(self) -> bool:
        """Whether this launch (not an earlier one: the log survives restarts) reached STARTED."""
        log = self.run / "server.log"
        if not (log.exists() and port_open(self.port)):
            return False
        with log.open("rb") as f:
            f.seek(self.log_offset if log.stat().st_size >= self.log_offset else 0)
            text = f.read().decode(errors="replace")
        return f"[BrokerServer id={self.id}] Transition from STARTING to STARTED" in text

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        _signal(pid, signal.SIGCONT)  # a node frozen by a chaos run must be able to stop
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            _signal(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        print(f"kafka_local: broker {self.id} stopped (pid {pid})")


def nodes() -> list[Node]:
    return [Node(i) for i in range(1, NODES + 1)]


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def java(run: Path, *args: str) -> list[str]:
    if shutil.which("java") is None:
        die("java not found: install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    return ["java", f"-Xmx{HEAP}", f"-Dlog4j2.configurationFile={run / 'log4j2.properties'}",
            "-cp", f"{LIBS}/*", *args]


def bootstrap_servers() -> str:
    return ",".join(f"127.0.0.1:{n.port}" for n in nodes())


def start(only: int | None = None) -> None:
    """Start every node (or node ``only``) not running yet, and wait until each serves."""
    fetch()
    if PKI and not (Path(PKI) / "broker.pem").exists():
        die(f"DSOM_KAFKA_PKI_DIR={PKI} has no broker.pem: run `dsom security init` first")
    RUN.mkdir(parents=True, exist_ok=True)
    id_file = RUN / "cluster.id"
    if not id_file.exists():
        id_file.write_text(_cluster_id())
    cluster_id = id_file.read_text().strip()
    started = time.monotonic()
    launched: list[tuple[Node, subprocess.Popen[bytes]]] = []
    for node in nodes() if only is None else [Node(only)]:
        pid = node.pid()
        if pid is not None:
            print(f"kafka_local: broker {node.id} already running (pid {pid}) at 127.0.0.1:{node.port}")
            continue
        # All at once: a node of a cluster cannot start before a majority of controllers runs.
        launched.append((node, node.launch(cluster_id)))
    waiting = list(launched)
    while waiting and time.monotonic() - started < START_TIMEOUT_S:
        for node, proc in list(waiting):
            if proc.poll() is not None:
                node.pid_file.unlink(missing_ok=True)
                for other, _ in launched:
                    other.stop()
                die(f"broker {node.id} exited with {proc.returncode}:\n{_tail(node.run / 'broker.out')}\n"
                    f"{_tail(node.run / 'server.log')}")
            if node.started():
                waiting.remove((node, proc))
                print(f"kafka_local: broker {node.id} up at 127.0.0.1:{node.port}{' (mTLS)' if PKI else ''} "
                      f"(pid {proc.pid}, {time.monotonic() - started:.1f} s)")
        time.sleep(0.25)
    if waiting:
        for node, _ in launched:
            node.stop()
        die(f"broker {waiting[0][0].id} did not start within {START_TIMEOUT_S} s:\n"
            f"{_tail(waiting[0][0].run / 'server.log')}")


def _cluster_id() -> str:
    # Kafka cluster IDs are 16 random bytes, URL-safe base64 without padding (22 chars).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _tail(path: Path, n: int = 25) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def stop(only: int | None = None) -> None:
    """Stop every node (or node ``only``): all at once, so no node waits for a quorum that left."""
    chosen = nodes() if only is None else [Node(only)]
    for node in chosen:
        pid = node.pid()
        if pid is not None:
            _signal(pid, signal.SIGCONT)
            _signal(pid, signal.SIGTERM)
    for node in chosen:
        node.stop()


def status() -> None:
    for node in nodes():
        pid = node.pid()
        print(f"broker {node.id}: " + (f"running (pid {pid}) at 127.0.0.1:{node.port}" if pid else "stopped"))


def pid(only: int | None = None) -> None:
    found = Node(only or 1).pid()
    if found is None:
        die(f"broker {only or 1} is not running")
    print(found)


def bootstrap() -> None:
    print(bootstrap_servers())


def reset() -> None:
    stop()
    shutil.rmtree(RUN, ignore_errors=True)
    print(f"kafka_local: removed {RUN}")


COMMANDS = {"fetch": fetch, "start": start, "stop": stop, "status": status, "reset": reset, "pid": pid,
            "bootstrap": bootstrap}
ONE_NODE = {"start", "stop", "pid"}

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] not in COMMANDS or len(args) > (2 if args[0] in ONE_NODE else 1):
        die(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} [NODE for {', '.join(sorted(ONE_NODE))}]")
    if len(args) == 2:
        if not args[1].isdigit() or not 1 <= int(args[1]) <= NODES:
            die(f"node must be 1..{NODES} (DSOM_KAFKA_NODES)")
        COMMANDS[args[0]](int(args[1]))  # type: ignore[operator]
    else:
        COMMANDS[args[0]]()
