"""What an operator receives with an access key: its files in every format, and client settings.

An operator's platform may be written in Java, Go, .NET, PHP or Python; each reads keys its
own way. Java's kafka-clients read PKCS12 stores (or PEM with ``ssl.keystore.type=PEM``),
librdkafka (C, Python, .NET, PHP, Go's confluent client) and Go's crypto/tls read PEM. So a
key is handed over as PEM (certificate, private key, the two in one file, the CA
certificate) and as PKCS12 (a keystore with the key and its chain, a truststore with the
CA), and :func:`client_settings` prints what to put in each client's configuration. Writing
the stores does I/O; building the settings is pure.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from pipeline.security.pki import write_private
from pipeline.settings import TopicSettings


@dataclass(frozen=True)
class HandoverFiles:
    """The files of one access key, as handed to the operator."""

    cert: Path  # the client certificate, PEM
    key: Path  # its private key, PEM (PKCS#8, unencrypted, owner-only)
    pem: Path  # key + certificate in one PEM file (Java's ssl.keystore.type=PEM)
    ca: Path  # the deployment's CA certificate, PEM: trust only the broker it signed
    keystore: Path | None  # PKCS12: key, certificate and CA chain (password-protected)
    truststore: Path | None  # PKCS12: the CA certificate as a trusted entry (same password)


def new_password() -> str:
    """A random PKCS12 password (about 144 bits), to be shown to the operator once."""
    return secrets.token_urlsafe(18)


def _encryption(password: str) -> serialization.KeySerializationEncryption:
    # AES-256-CBC with PBKDF2 and an HMAC-SHA256 MAC: read by Java 11.0.12+, OpenSSL 1.1.1+
    # and .NET; the legacy RC2/3DES defaults of older tools are refused by OpenSSL 3.
    return (serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode()))


def write_stores(cert: Path, key: Path, ca: Path, keystore: Path, truststore: Path, alias: str,
                 password: str) -> None:
    """Write the PKCS12 keystore (key, certificate, CA) and truststore (CA, trusted by Java)."""
    if not password:
        raise ValueError("a PKCS12 password must not be empty (Java refuses a store without one)")
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)  # dsom's PKI issues EC P-256 keys
    certificate, *intermediates = x509.load_pem_x509_certificates(cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
    write_private(keystore, pkcs12.serialize_key_and_certificates(
        alias.encode(), private, certificate, [*intermediates, ca_cert], _encryption(password)))
    # Java trusts a PKCS12 certificate entry only with Oracle's trusted-key-usage attribute,
    # which serialize_java_truststore sets; a plain CA entry would be ignored as a trust anchor.
    truststore.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(ca_cert, b"dsom-ca")], _encryption(password)))


def client_settings(files: HandoverFiles, bootstrap: str, topics: TopicSettings, operator_id: str,
                    sandbox: bool = False, password: str | None = None) -> dict[str, str]:
    """Ready-to-paste client configuration, per client library, for this key's files.

    ``password`` is put in the Java PKCS12 settings when given (the operator sees it once);
    otherwise a placeholder stands there.
    """
    ingest = topics.sandbox(operator_id) if sandbox else topics.ingest(operator_id)
    receipts = topics.sandbox_receipts(operator_id) if sandbox else topics.receipts(operator_id)
    group = f"{topics.prefix}.operator.{operator_id}"
    partitions = topics.home_partitions(ingest)
    pw = password or "<the PKCS12 password you were given>"
    common = (f"# write {ingest} (key = source_id, partition = its home: murmur2 % {partitions});\n"
              f"# read {receipts} with group {group} or {group}.<name>, read_committed\n")
    java_common = (f"bootstrap.servers={bootstrap}\n"
                   "security.protocol=SSL\n"
                   "# verify the broker's host name against its certificate (Java's default; keep it)\n"
                   "ssl.endpoint.identification.algorithm=https\n")
    java_tail = ("# producer\nenable.idempotence=true\nacks=all\ncompression.type=lz4\n"
                 "# consumer (receipts)\n"
                 f"group.id={group}\nisolation.level=read_committed\nauto.offset.reset=earliest\n")
    settings = {}
    if files.keystore is not None and files.truststore is not None:
        settings["Java (kafka-clients), PKCS12"] = (
            common + java_common
            + f"ssl.keystore.type=PKCS12\nssl.keystore.location={files.keystore}\n"
            + f"ssl.keystore.password={pw}\n"
            + f"ssl.truststore.type=PKCS12\nssl.truststore.location={files.truststore}\n"
            + f"ssl.truststore.password={pw}\n" + java_tail)
    settings["Java (kafka-clients 2.7+), PEM"] = (
        common + java_common
        + f"ssl.keystore.type=PEM\nssl.keystore.location={files.pem}\n"
        + f"ssl.truststore.type=PEM\nssl.truststore.location={files.ca}\n" + java_tail)
    settings["librdkafka (C/C++, Python confluent-kafka, .NET, PHP rdkafka, Go confluent-kafka-go)"] = (
        common + f"bootstrap.servers={bootstrap}\nsecurity.protocol=SSL\n"
        + f"ssl.ca.location={files.ca}\nssl.certificate.location={files.cert}\n"
        + f"ssl.key.location={files.key}\n"
        + "# the host name is verified by default (librdkafka 2.0+); keep it\n"
        + "ssl.endpoint.identification.algorithm=https\n"
        + "# librdkafka's default partitioner (CRC32) is NOT the home rule\n"
        + "partitioner=murmur2_random\nenable.idempotence=true\nacks=all\ncompression.type=lz4\n"
        + f"group.id={group}\nisolation.level=read_committed\nauto.offset.reset=earliest\n")
    settings["Go (franz-go, crypto/tls)"] = (
        f"// write {ingest} (key = source_id, partition = its home: murmur2 % {partitions});\n"
        f"// read {receipts} with group {group} or {group}.<name>, read_committed\n"
        f'pair, err := tls.LoadX509KeyPair("{files.cert}", "{files.key}")\n'
        f'caPEM, err := os.ReadFile("{files.ca}")\n'
        "roots := x509.NewCertPool()\nroots.AppendCertsFromPEM(caPEM)\n"
        "// ServerName is left empty: franz-go sets it to the host it dials, which is verified\n"
        "tlsCfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, "
        "MinVersion: tls.VersionTLS12}\n"
        "client, err := kgo.NewClient(\n"
        f'\tkgo.SeedBrokers("{bootstrap}"),\n'
        "\tkgo.DialTLSConfig(tlsCfg),\n"
        "\tkgo.RecordPartitioner(kgo.ManualPartitioner()), // set Record.Partition to the home\n"
        "\tkgo.ProducerBatchCompression(kgo.Lz4Compression()),\n"
        f'\tkgo.ConsumerGroup("{group}"),\n'
        f'\tkgo.ConsumeTopics("{receipts}"),\n'
        "\tkgo.FetchIsolationLevel(kgo.ReadCommitted()),\n"
        "\tkgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),\n"
        ")\n")
    return settings
