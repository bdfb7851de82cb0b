"""The trust material, loaded: trusted providers' CA certificates from files, CRLs from files or URLs.

The only I/O of the login. CRLs are re-read every ``crl_refresh_s``; a source that fails keeps
its last good CRL, which stops counting at its ``nextUpdate`` (then logins are refused: fail closed).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509

from web.login.core import Trust

log = logging.getLogger(__name__)


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a bundle) or the one in a DER file."""
    data = path.read_bytes()
    return (
        x509.load_pem_x509_certificates(data)
        if b"-----BEGIN" in data
        else [x509.load_der_x509_certificate(data)]
    )


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)


def read_source(source: str, timeout_s: float = 10.0) -> bytes:
    if source.startswith(("http://", "https://")):
        res = httpx.get(source, timeout=timeout_s, follow_redirects=True)
        res.raise_for_status()
        return res.content
    return Path(source).read_bytes()


class TrustSource:
    """Gives the current :class:`Trust`; thread-safe, CRLs refreshed at most every ``refresh_s``."""

    def __init__(
        self,
        ca_paths: list[Path],
        crl_sources: list[str],
        *,
        require_crl: bool = True,
        refresh_s: float = 300.0,
    ) -> None:
        certs = [c for p in ca_paths if p.exists() for c in load_certificates(p)]
        for p in ca_paths:
            if not p.exists():
                log.warning("trusted CA file %s does not exist: nobody can log in with its certificates", p)
        self._roots = tuple(c for c in certs if c.issuer == c.subject)
        self._intermediates = tuple(c for c in certs if c.issuer != c.subject)
        self._sources = crl_sources
        self._require = require_crl
        self._refresh_s = refresh_s
        self._crls: dict[str, x509.CertificateRevocationList] = {}
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        for source in self._sources:
            try:
                self._crls[source] = parse_crl(read_source(source))
            except Exception as exc:  # keep the last good one; it expires by itself
                log.warning("CRL %s not refreshed: %s", source, exc)
        self._loaded_at = time.monotonic()

    def current(self) -> Trust:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self._refresh_s:
                self._refresh()
            crls = tuple(self._crls.values())
        return Trust(self._roots, self._intermediates, crls, self._require)

    def reload(self) -> None:
        """Re-read the CRLs now (e.g. after a revocation was published)."""
        with self._lock:
            self._refresh()
