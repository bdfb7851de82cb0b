from pathlib import Path

from pipeline.security.bootstrap import init_pki
from pipeline.security.pki import server_names
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
