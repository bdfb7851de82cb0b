"""The archive's signing key: an Ed25519 key in its own folder, apart from the TLS CA.

``signing.key`` (PKCS#8 PEM, owner-only) signs checkpoints and never leaves the folder;
``signing.vkey`` is its public half as a note verifier key, the one thing third parties need.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.core.checkpoint import Signer, Verifier

KEY_FILE = "signing.key"
VKEY_FILE = "signing.vkey"


class ArchiveKeyError(RuntimeError):
    """The signing key is missing, unreadable or exposed."""


def init_archive_key(key_dir: Path, name: str) -> tuple[Verifier, bool]:
    """Create the key once (an existing one is kept); return its verifier and whether it is new."""
    path = key_dir / KEY_FILE
    if path.exists():
        return load_signer(key_dir, name).verifier, False
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    signer = Signer(name, Ed25519PrivateKey.generate())
    pem = signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over another key
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    (key_dir / VKEY_FILE).write_text(signer.verifier.vkey() + "\n")
    return signer.verifier, True


def load_signer(key_dir: Path, name: str) -> Signer:
    path = key_dir / KEY_FILE
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ArchiveKeyError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): "
                                  "chmod 600 it, and consider the key exposed")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ArchiveKeyError(f"no archive signing key at {path}: run `dsom archive-key init`") from exc
    except ValueError as exc:
        raise ArchiveKeyError(f"{path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ArchiveKeyError(f"{path} is not an Ed25519 key")
    return Signer(name, key)


def load_verifier(path: Path) -> Verifier:
    """A verifier key from a file (``signing.vkey``, or one a third party was handed)."""
    try:
        return Verifier.parse(path.read_text())
    except FileNotFoundError as exc:
        raise ArchiveKeyError(f"no verifier key at {path}") from exc
