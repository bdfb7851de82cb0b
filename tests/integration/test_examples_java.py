"""The Java reference client (examples/java: Apache Avro + kafka-clients) against the real broker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.settings import REPO_ROOT, Settings
from schemas.codec import EVENT_BATCH, describe_fingerprint, load_type
from tests.integration.examples import check_dsom_side, issue_key_with_cli, run_example

pytestmark = pytest.mark.integration
PROJECT = REPO_ROOT / "examples" / "java"
JAR = PROJECT / "target" / "dsom-example.jar"


def build() -> Path:
    """``mvn package``, unless the jar is newer than every source (Maven's ~/.m2 keeps the downloads)."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("the Java example needs java (17+) and mvn on PATH; neither is part of dsom itself")
    sources = [PROJECT / "pom.xml", *(PROJECT / "src").rglob("*")]
    if not JAR.exists() or JAR.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        out = subprocess.run(["mvn", "-B", "-q", "package"], cwd=PROJECT, capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, f"mvn package failed:\n{out.stdout}\n{out.stderr}"
    return JAR


@pytest.mark.parametrize("store", ["PKCS12", "PEM"])
def test_the_java_example_sends_retries_and_reconciles(settings: Settings, tmp_path: Path,
                                                       store: str) -> None:
    jar = build()
    key = issue_key_with_cli(settings, tmp_path)
    stores = ({"DSOM_KEYSTORE": str(key.files["keystore"]), "DSOM_TRUSTSTORE": str(key.files["truststore"]),
               "DSOM_STORE_PASSWORD": key.password} if store == "PKCS12" else
              {"DSOM_KEYSTORE": str(key.files["pem"]), "DSOM_TRUSTSTORE": str(key.files["ca"])})
    output = run_example(settings, tmp_path, ["java", "-jar", str(jar)], PROJECT, "java-example",
                         {"DSOM_STORE_TYPE": store, **stores})
    assert "reconciled 7 events of source java-example: 6 accepted, 1 rejected" in output, output
    assert "0 mismatches" in output, output
    # What Java computes for the schema file is what dsom prints as Java's view of its fingerprint.
    java_fp = describe_fingerprint(load_type(EVENT_BATCH).fingerprint).split("= ")[1].split(" ")[0]
    assert f"EventBatch fingerprint (Java parsingFingerprint64): {java_fp}" in output, output
    check_dsom_side(settings, "java-example")
