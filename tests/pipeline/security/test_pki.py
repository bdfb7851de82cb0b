from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from pipeline.security.bootstrap import init_pki
from pipeline.security.pki import (
    OPERATOR_CA_DIR,
    OPERATOR_KEYS_OU,
    CertificateAuthority,
    certificate_info,
    server_names,
)
from pipeline.settings import Settings


def test_the_broker_certificate_names_the_hosts_clients_dial(tmp_path: Path) -> None:
    settings = Settings(pki_dir=tmp_path / "pki")
    init_pki(settings)
    cert = settings.pki_dir / "broker.crt"
    assert sorted(server_names(cert)) == ["127.0.0.1", "localhost"]
    first = cert.read_bytes()
    init_pki(settings)  # nothing new asked: the certificate is kept
    assert cert.read_bytes() == first
    init_pki(settings, ["kafka1.dsom.gov.ua", "10.0.0.7"])  # a real deployment's names: issued again
    assert sorted(server_names(cert)) == ["10.0.0.7", "127.0.0.1", "kafka1.dsom.gov.ua", "localhost"]
    assert (settings.pki_dir / "pipeline.crt").exists()


def test_the_operator_keys_ca_is_name_constrained_and_its_keys_carry_the_chain(tmp_path: Path) -> None:
    settings = Settings(pki_dir=tmp_path / "pki")
    init_pki(settings)
    sub = CertificateAuthority(settings.pki_dir / OPERATOR_CA_DIR)
    ca = x509.load_pem_x509_certificate(sub.cert_path.read_bytes())
    root = x509.load_pem_x509_certificate((settings.pki_dir / "ca.crt").read_bytes())
    assert ca.issuer == root.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    constraint = ca.extensions.get_extension_for_class(x509.NameConstraints)
    ou = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, OPERATOR_KEYS_OU)])
    assert constraint.critical and constraint.value.permitted_subtrees == [x509.DirectoryName(ou)]
    assert CertificateAuthority(settings.pki_dir).ensure_operator_ca().cert_path.read_bytes() == \
        sub.cert_path.read_bytes()  # made once
    paths = sub.issue("op.x.k1", tmp_path / "k1", ou=OPERATOR_KEYS_OU)
    leaf, chained = x509.load_pem_x509_certificates(paths.cert.read_bytes())
    assert leaf.subject.rfc4514_string() == "CN=op.x.k1,OU=dsom-operator-keys" and chained == ca
    assert certificate_info(paths.cert)[0] == "op.x.k1"
    pipeline = x509.load_pem_x509_certificates((settings.pki_dir / "pipeline.crt").read_bytes())
    assert len(pipeline) == 1 and pipeline[0].issuer == root.subject  # services: the root, no chain
