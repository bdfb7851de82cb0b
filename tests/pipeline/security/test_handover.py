import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from pipeline.security.handover import HandoverFiles, client_settings, new_password, write_stores
from pipeline.security.pki import CertificateAuthority
from pipeline.settings import TopicSettings


@pytest.fixture
def files(tmp_path: Path) -> HandoverFiles:
    ca = CertificateAuthority(tmp_path / "pki")
    ca.ensure()
    paths = ca.issue("op.op-x.k1", tmp_path / "op-x" / "k1")
    return HandoverFiles(paths.cert, paths.key, paths.pem_bundle, ca.cert_path,
                         tmp_path / "op-x" / "k1.p12", tmp_path / "op-x" / "k1.truststore.p12")


def stores(files: HandoverFiles, password: str) -> tuple[Path, Path]:
    assert files.keystore is not None and files.truststore is not None
    write_stores(files.cert, files.key, files.ca, files.keystore, files.truststore, "op.op-x.k1", password)
    return files.keystore, files.truststore


def test_the_keystore_holds_the_key_its_certificate_and_the_ca(files: HandoverFiles) -> None:
    keystore, truststore = stores(files, "s3cret-pw")
    loaded = pkcs12.load_pkcs12(keystore.read_bytes(), b"s3cret-pw")
    assert loaded.key is not None and loaded.cert is not None
    assert loaded.cert.certificate.public_key() == loaded.key.public_key()
    assert loaded.cert.friendly_name == b"op.op-x.k1"
    ca_pem = files.ca.read_bytes()
    assert [c.certificate.public_bytes(Encoding.PEM) for c in loaded.additional_certs] == [ca_pem]
    assert keystore.stat().st_mode & 0o077 == 0  # it holds the private key
    trust = pkcs12.load_pkcs12(truststore.read_bytes(), b"s3cret-pw")
    assert trust.key is None and len(trust.additional_certs) == 1
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(keystore.read_bytes(), b"wrong")


def test_an_empty_password_is_refused(files: HandoverFiles) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        stores(files, "")


@pytest.mark.skipif(shutil.which("keytool") is None, reason="Java's keytool is not installed")
def test_java_reads_both_stores(files: HandoverFiles) -> None:
    password = new_password()
    keystore, truststore = stores(files, password)

    def listing(store: Path) -> str:
        return subprocess.run(["keytool", "-list", "-storetype", "PKCS12", "-keystore", str(store),
                               "-storepass", password], capture_output=True, text=True, check=True).stdout

    assert "PrivateKeyEntry" in listing(keystore)
    # Java takes a CA from a PKCS12 truststore only as a trustedCertEntry.
    assert "trustedCertEntry" in listing(truststore)


def test_client_settings_name_the_files_groups_and_read_committed(files: HandoverFiles) -> None:
    topics = TopicSettings(prefix="dsom", ingest_partitions=3)
    out = client_settings(files, "kafka1.dsom.gov.ua:9093", topics, "op-x", password="pw-once")
    java = out["Java (kafka-clients), PKCS12"]
    assert f"ssl.keystore.location={files.keystore}" in java
    assert "ssl.keystore.password=pw-once" in java
    assert "ssl.endpoint.identification.algorithm=https" in java
    assert "group.id=dsom.operator.op-x\n" in java and "isolation.level=read_committed" in java
    assert "murmur2 % 3" in java
    pem = out["Java (kafka-clients 2.7+), PEM"]
    assert f"ssl.keystore.type=PEM\nssl.keystore.location={files.pem}" in pem
    librdkafka = next(v for k, v in out.items() if k.startswith("librdkafka"))
    assert "partitioner=murmur2_random" in librdkafka and f"ssl.ca.location={files.ca}" in librdkafka
    go = out["Go (franz-go, crypto/tls)"]
    assert "kgo.FetchIsolationLevel(kgo.ReadCommitted())" in go and "dsom.receipts.op-x" in go
    # Without the password (the operator chose it), a placeholder stands in its place.
    assert "pw-once" not in client_settings(files, "b:1", topics, "op-x")["Java (kafka-clients), PKCS12"]
    sandbox = client_settings(files, "b:1", topics, "op-x", sandbox=True)["Go (franz-go, crypto/tls)"]
    assert "dsom.sandbox-receipts.op-x" in sandbox and "murmur2 % 1" in sandbox
