"""Signed notes and checkpoints against the C2SP specifications' published examples."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.core.checkpoint import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    split_notes,
    verify_checkpoint,
    verify_note,
)

# c2sp.org/signed-note (C2SP/C2SP signed-note.md at 5ba5ee83, BSD-1-Clause): the example
# verifier key and the note it verifies.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n"
             "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3m"
             "FXmRKuwHjG1Yu72IneyaQM=\n")
# c2sp.org/tlog-checkpoint's example body.
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_the_specs_example_note_verifies_with_its_published_key() -> None:
    verifier = Verifier.parse(SPEC_VKEY)
    assert verify_note(SPEC_NOTE, verifier) == "This is an example message.\n"
    assert verifier.vkey() == SPEC_VKEY  # key ID computed as the spec says
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(SPEC_NOTE.replace("example message", "example massage"), verifier)


def test_the_specs_example_checkpoint_parses_and_round_trips() -> None:
    cp = Checkpoint.parse(SPEC_CHECKPOINT)
    assert (cp.origin, cp.size, len(cp.root)) == ("example.com/behind-the-sofa", 20852163, 32)
    assert cp.body() == SPEC_CHECKPOINT


def _signer(name: str = "dsom.test/log") -> Signer:
    return Signer(name, Ed25519PrivateKey.generate())


def test_verifier_keys_whose_base64_holds_a_plus_parse() -> None:
    for _ in range(64):  # about a quarter of keys have a '+' in their base64
        verifier = _signer().verifier
        assert Verifier.parse(verifier.vkey()) == verifier


def test_a_signed_checkpoint_verifies_and_every_forgery_is_named() -> None:
    signer = _signer()
    cp = Checkpoint("dsom.test/log/archive/0", 42, bytes(range(32)))
    note = signer.sign(cp.body())
    assert verify_checkpoint(note, signer.verifier) == cp
    assert "PRIVATE" not in repr(signer) and repr(signer) == "Signer('dsom.test/log')"
    # the same text signed by another key under the same name: rejected, not trusted
    other = Signer("dsom.test/log", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="not signed by dsom.test/log"):
        verify_checkpoint(other.sign(cp.body()), signer.verifier)
    # a changed size under the genuine signature
    with pytest.raises(NoteError, match="does not verify"):
        verify_checkpoint(note.replace("\n42\n", "\n41\n"), signer.verifier)
    # a witness's cosignature by an unknown key is ignored, as the spec requires
    cosigned = note + other.sign(cp.body()).split("\n\n")[1]
    assert verify_checkpoint(cosigned, signer.verifier) == cp


@pytest.mark.parametrize(("body", "error"), [
    ("origin\n42\n", "three non-empty lines"),
    ("origin\n042\nAAAA\n", "leading zeros"),
    ("origin\n1\n!!!\n", "not base64"),
    ("origin\n1\nAAAA\n", "3 bytes, not 32"),
])
def test_malformed_checkpoint_bodies_get_a_specific_error(body: str, error: str) -> None:
    with pytest.raises(NoteError, match=error):
        Checkpoint.parse(body)


@pytest.mark.parametrize(("note", "error"), [
    ("text\n", "no blank line"),
    ("text\n\n\u2014 name\n", "malformed signature line"),
    ("text\n\n\u2014 name AA==\n", "too short"),
    ("te\x07xt\n\n\u2014 name AAAAAAAA\n", "control characters"),
])
def test_malformed_notes_get_a_specific_error(note: str, error: str) -> None:
    with pytest.raises(NoteError, match=error):
        verify_note(note, _signer().verifier)


def test_saved_notes_split_back_into_notes() -> None:
    signer = _signer()
    notes = [signer.sign(Checkpoint(f"o/{i}", i, bytes(32)).body()) for i in range(3)]
    assert split_notes("\n".join(notes)) == notes
    assert split_notes("".join(notes)) == notes
    with pytest.raises(NoteError, match="no signature"):
        split_notes(notes[0] + "o/9\n1\nAAAA\n")
