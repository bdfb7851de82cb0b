#!/usr/bin/env python3
"""Fetch Apache Kafka from Maven Central and run a single-node KRaft broker on 127.0.0.1.

Standard library only, so it runs before any virtualenv exists.

    python infra/kafka_local.py fetch|start|stop|status|reset

Environment: DSOM_RUN_DIR (default <repo>/.run; data in $DSOM_RUN_DIR/kafka),
DSOM_KAFKA_PORT (19092), DSOM_KAFKA_CONTROLLER_PORT (19093),
DSOM_MAVEN_REPO (https://repo1.maven.org/maven2), DSOM_KAFKA_HEAP (768m),
DSOM_KAFKA_PKI_DIR (unset: PLAINTEXT; set: mutual TLS with the PEM files made by
`dsom security init` there, and the standard ACL authorizer).
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
PID_FILE = RUN / "broker.pid"
START_TIMEOUT_S = 90

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
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
ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT
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


def running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
        return None  # the pid was reused by something else
    return pid


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def java(*args: str) -> list[str]:
    if shutil.which("java") is None:
        die("java not found: install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    return ["java", f"-Xmx{HEAP}", f"-Dlog4j2.configurationFile={RUN / 'log4j2.properties'}",
            "-cp", f"{LIBS}/*", *args]


def start() -> None:
    fetch()
    pid = running_pid()
    if pid is not None:
        print(f"kafka_local: broker already running (pid {pid}) at 127.0.0.1:{PORT}")
        return
    for port in (PORT, CONTROLLER_PORT):
        if port_open(port):
            die(f"port 127.0.0.1:{port} is in use by another process; set DSOM_KAFKA_PORT / "
                "DSOM_KAFKA_CONTROLLER_PORT or stop it")
    data = RUN / "data"
    RUN.mkdir(parents=True, exist_ok=True)
    props = RUN / "server.properties"
    text = SERVER_PROPERTIES.format(port=PORT, controller_port=CONTROLLER_PORT, data=data)
    if PKI:
        if not (Path(PKI) / "broker.pem").exists():
            die(f"DSOM_KAFKA_PKI_DIR={PKI} has no broker.pem: run `dsom security init` first")
        overridden = ("listeners=", "advertised.listeners=", "listener.security.protocol.map=",
                      "inter.broker.listener.name=")
        text = "\n".join(line for line in text.splitlines() if not line.startswith(overridden)) + "\n"
        text += TLS_PROPERTIES.format(port=PORT, controller_port=CONTROLLER_PORT, pki=PKI)
    props.write_text(text)
    (RUN / "log4j2.properties").write_text(LOG4J2.format(run=RUN))
    if not (data / "meta.properties").exists():
        cluster_id = _cluster_id()
        # "--cluster-id=" form: a random ID may start with "-", which argparse takes for an option
        subprocess.run(java("kafka.tools.StorageTool", "format", "--standalone", f"--cluster-id={cluster_id}",
                            "-c", str(props)), check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    with (RUN / "broker.out").open("ab") as out:
        proc = subprocess.Popen(java("kafka.Kafka", str(props)), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    PID_FILE.write_text(str(proc.pid))
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            die(f"broker exited with {proc.returncode}:\n{_tail(RUN / 'broker.out')}\n"
                f"{_tail(RUN / 'server.log')}")
        if port_open(PORT) and _broker_started():
            print(f"kafka_local: broker up at 127.0.0.1:{PORT}{' (mTLS)' if PKI else ''} (pid {proc.pid}, "
                  f"{time.monotonic() - started:.1f} s)")
            return
        time.sleep(0.25)
    stop()
    die(f"broker did not start within {START_TIMEOUT_S} s:\n{_tail(RUN / 'server.log')}")


def _cluster_id() -> str:
    # Kafka cluster IDs are 16 random bytes, URL-safe base64 without padding (22 chars).
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _broker_started() -> bool:
    log = RUN / "server.log"
    return log.exists() and "[BrokerServer id=1] Transition from STARTING to STARTED" in log.read_text(
        errors="replace")


def _tail(path: Path, n: int = 25) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def stop() -> None:
    pid = running_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and running_pid() is not None:
        time.sleep(0.2)
    if running_pid() is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    PID_FILE.unlink(missing_ok=True)
    print(f"kafka_local: broker stopped (pid {pid})")


def status() -> None:
    pid = running_pid()
    print(f"running (pid {pid}) at 127.0.0.1:{PORT}" if pid else "stopped")


def reset() -> None:
    stop()
    shutil.rmtree(RUN, ignore_errors=True)
    print(f"kafka_local: removed {RUN}")


COMMANDS = {"fetch": fetch, "start": start, "stop": stop, "status": status, "reset": reset}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        die(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)}")
    COMMANDS[sys.argv[1]]()
