r"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

Formats, as specified at c2sp.org/tlog-checkpoint and c2sp.org/signed-note (v1.0.0):

- checkpoint body: ``<origin>\n<tree size>\n<base64 root>\n``;
- signed note: the body, a blank line, then ``— <key name> base64(key ID || signature)\n``
  per signature, the key ID being ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``;
- verifier key (what third parties keep): ``<name>+<hex key ID>+base64(0x01 || public key)``.

So any tool of the transparency-log ecosystem (Go's golang.org/x/mod/sumdb/note, witnesses)
reads dsom's checkpoints. Pure: no I/O; keys are handed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
DASH = "\u2014"  # the em dash that opens a signature line
_NAME = re.compile(r"[^\s+]+")
# Bounds a note's size before anything is parsed (the spec asks verifiers for a limit, at least
# 16 signatures); a checkpoint is about 150 bytes.
MAX_NOTE_BYTES = 64 * 1024


class NoteError(ValueError):
    """A note or checkpoint is malformed, or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed tree head: its origin, size and RFC 9162 root hash."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint body is at least three non-empty lines, each ending in a newline")
        origin, size, root = lines[0], lines[1], lines[2]
        if not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise NoteError(f"tree size {size[:40]!r} is not a decimal number without leading zeros")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError(f"root hash {root[:60]!r} is not base64") from exc
        if len(digest) != 32:
            raise NoteError(f"root hash has {len(digest)} bytes, not 32")
        return cls(origin, int(size), digest)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key, as a note verifier key string encodes it."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, _raw_public(self.public_key))

    def vkey(self) -> str:
        raw = bytes([ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
            raise NoteError("a verifier key reads <name>+<hex key ID>+<base64 key>")
        name, hex_id, b64 = parts
        try:
            raw = base64.b64decode(b64, validate=True)
            wanted_id = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"verifier key {name}: bad hex or base64") from exc
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError(f"verifier key {name}: not an Ed25519 key (type {raw[:1].hex() or 'none'})")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id != wanted_id:
            raise NoteError(f"verifier key {name}: key ID {hex_id} does not match the key")
        return verifier


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key. Never printed: its repr names the key only."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"key name {self.name!r} must be non-empty, without spaces or '+'")

    def __repr__(self) -> str:
        return f"Signer({self.name!r})"

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.private_key.public_key())

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which must end in a newline)."""
        if not text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        sig = self.verifier.key_id + self.private_key.sign(text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(sig).decode()}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: list[tuple[str, bytes]]  # (key name, key ID || signature)


def parse_note(note: str) -> SignedNote:
    """Split a signed note into its text and signature lines (nothing verified yet)."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError(f"note larger than {MAX_NOTE_BYTES} bytes")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("note contains control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("no blank line between the note's text and its signatures")
    text, sig_block = note[:cut + 1], note[cut + 2:]
    sigs: list[tuple[str, bytes]] = []
    for line in sig_block.split("\n")[:-1]:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not _NAME.fullmatch(parts[1]):
            raise NoteError(f"malformed signature line {line[:80]!r}")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature of {parts[1]} is not base64") from exc
        if len(raw) < 5:
            raise NoteError(f"signature of {parts[1]} is too short")
        sigs.append((parts[1], raw))
    if not sigs:
        raise NoteError("the note has no signature")
    return SignedNote(text, sigs)


def verify_note(note: str, verifier: Verifier) -> str:
    """The note's text if ``verifier`` signed it; :class:`NoteError` otherwise.

    As the spec says: signatures by other keys are ignored (witness cosignatures, say), a
    known key whose signature fails rejects the note, and a note without one is rejected.
    """
    parsed = parse_note(note)
    found = False
    for name, raw in parsed.signatures:
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        try:
            verifier.public_key.verify(raw[4:], parsed.text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature of {name} does not verify: the note was altered or forged") \
                from exc
        found = True
    if not found:
        names = ", ".join(sorted({n for n, _ in parsed.signatures}))
        raise NoteError(f"not signed by {verifier.name}+{verifier.key_id.hex()} (signed by: {names})")
    return parsed.text


def verify_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    return Checkpoint.parse(verify_note(note, verifier))


def split_notes(text: str) -> list[str]:
    """Notes saved one after another (as ``dsom archive checkpoints`` exports them) into notes.

    A note's text, a blank line, its signature lines; blank lines may separate notes.
    """
    notes: list[str] = []
    body: list[str] = []
    sigs: list[str] = []
    blank = False
    for line in text.split("\n"):
        is_sig = line.startswith(DASH + " ")
        if sigs and not is_sig:  # the note before is complete
            notes.append("\n".join(body) + "\n\n" + "\n".join(sigs) + "\n")
            body, sigs, blank = [], [], False
        if is_sig and blank:
            sigs.append(line)
        elif not line:
            blank = bool(body)
        elif blank:
            raise NoteError(f"a note's text is followed by {line[:60]!r}, not by its signatures")
        else:
            body.append(line)
    if sigs:
        notes.append("\n".join(body) + "\n\n" + "\n".join(sigs) + "\n")
    elif body:
        raise NoteError("the last note has no signature")
    return notes
