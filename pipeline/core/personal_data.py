"""Whether a ``player_ref`` looks like personal data, and what it looks like.

Operators must send an opaque pseudonym; people's data sent instead (a phone, card or tax number,
an e-mail address, a name) is recognised by what it means, not by how many digits it has. How a
ref is read (``schemas/README.md`` says the same for operators):

* *Pieces* are the runs of letters and digits between separators (``-``, ``_``, or anything
  outside the allowed characters). A piece of hexadecimal digits with at least one decimal digit
  and one letter (the letters all a-f or all A-F), and the five pieces of a UUID (8-4-4-4-12 hex
  digits joined by single ``-``), are opaque: their digits are hex digits, not numbers (a random
  32-digit hex string has a run of 9 decimal digits about one time in six).
* Elsewhere, digit runs with only separators between them are read together, as people group
  numbers (``4111-1111-1111-1111``, ``380_67_123_45_67``): every span of consecutive runs is
  checked as one number, longest first.
* *Words* are runs of letters, split where a lowercase letter meets a capital (``OlenaKovalenko``).

No detail quotes the ref: rejections are stored, personal data must not be.

``pipeline/native/src/validator/player_ref.rs`` is the compiled engine's fast path: it answers
"passes" only where these rules pass (a sound approximation of them); keep the two in step.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from pipeline.core.personal_data_words import (
    CARD_IIN_RANGES,
    FIRST_NAMES,
    FOREIGN_MOBILE,
    FOREIGN_WITH_00_ONLY,
    MAIL_DOMAINS,
    SURNAME_ENDINGS,
    TOP_LEVEL_DOMAINS,
    UA_MOBILE_CODES,
    UA_PHONE_CODES,
    YEAR_MAX,
    YEAR_MIN,
)

MAX_REF_LENGTH = 64
_ALNUM = "A-Za-z0-9"
_SEP = f"[^{_ALNUM}]+"
_HEX = "[0-9a-fA-F]"
# Opaque pieces, each replaced by one placeholder word that is no name (see the module docs).
_OPAQUE = re.compile(
    f"(?<![{_ALNUM}])(?:{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
    f"|(?=[{_ALNUM}]*[0-9])(?:(?=[0-9]*[a-f])[0-9a-f]+|(?=[0-9]*[A-F])[0-9A-F]+))(?![{_ALNUM}])")
OPAQUE_PLACEHOLDER = "x"
# Words, digit runs and separators, in order.
_ATOM = re.compile(f"[A-Z]+[a-z]*|[a-z]+|[0-9]+|{_SEP}")
# Cheap tests of whether the digit rules can apply at all: a year, a date or a number needs four
# digits in a row or two runs read together; a number needs nine digits with only separators
# between them (no number this module knows is shorter).
_DIGITS_TO_READ = re.compile(f"[0-9]{{4}}|[0-9]{_SEP}[0-9]")
_NINE_DIGITS = re.compile(f"[0-9](?:[^{_ALNUM}]*[0-9]){{8}}")
_PIECE = re.compile(f"[{_ALNUM}]+")
_WORD = re.compile("[A-Z]+[a-z]*|[a-z]+")
_DIGIT = frozenset("0123456789")
_LETTER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_CYRILLIC = re.compile("[\u0400-\u04ff]")

# Spans of fewer or more digits than these are no card, phone or tax number.
_MIN_DIGITS, _MAX_DIGITS = 9, 19
_IBAN_DIGITS = 27  # after "UA": 2 check digits, 6 of the bank, 19 of the account
_RNOKPP_WEIGHTS = (-1, 5, 7, 9, 4, 6, 10, 5, 7)
_RNOKPP_DAY_ZERO = date(1899, 12, 31).toordinal()  # its first five digits count days from here
_RNOKPP_DAYS = (date(YEAR_MIN, 1, 1).toordinal() - _RNOKPP_DAY_ZERO,
                date(YEAR_MAX, 12, 31).toordinal() - _RNOKPP_DAY_ZERO)
# (country code, the whole number with or without the international prefix 00)
_FOREIGN = tuple((cc, re.compile(f"(?:00)?{cc}(?:{national})")) for cc, national in FOREIGN_MOBILE) + tuple(
    (cc, re.compile(f"00{cc}(?:{national})")) for cc, national in FOREIGN_WITH_00_ONLY)

# Written without dots, a domain of six letters or more does not end a random string by chance;
# shorter ones (i.ua, me.com) count only as separate words.
GLUED_DOMAINS = tuple(d.replace(".", "") for d in MAIL_DOMAINS if len(d.replace(".", "")) >= 6)
_DOMAIN_LABELS = frozenset(tuple(d.split(".")) for d in MAIL_DOMAINS)
assert all(len(labels) == 2 for labels in _DOMAIN_LABELS)  # mail_hint compares the last two words
_STEM = 3  # letters a surname has before its ending
_SHORTEST_NAME, _LONGEST_NAME = min(map(len, FIRST_NAMES)), max(map(len, FIRST_NAMES))
_SHORTEST_SURNAME = _STEM + min(map(len, SURNAME_ENDINGS))
# Pieces of letters only, long enough to be a first name and a surname glued together
_LETTER_PIECE = re.compile(f"(?<![{_ALNUM}])[A-Za-z]{{{_SHORTEST_NAME + _SHORTEST_SURNAME},}}(?![{_ALNUM}])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_number(digits: str) -> bool:
    """13-19 digits, an issuer's prefix and a valid Luhn check digit."""
    return (13 <= len(digits) <= 19
            and any(lo <= digits[:len(lo)] <= hi for lo, hi in CARD_IIN_RANGES)
            and luhn_valid(digits))


def rnokpp(digits: str) -> bool:
    """A Ukrainian individual tax number (RNOKPP) with a plausible birth date and check digit.

    10 digits: the first five count days from 31 Dec 1899 to the birth date (here from YEAR_MIN
    to YEAR_MAX), the last is the check digit.
    """
    if len(digits) != 10 or not _RNOKPP_DAYS[0] <= int(digits[:5]) <= _RNOKPP_DAYS[1]:
        return False
    check = sum(w * int(d) for w, d in zip(_RNOKPP_WEIGHTS, digits[:9], strict=True)) % 11 % 10
    return check == int(digits[9])


def ua_iban(digits: str) -> bool:
    """The 27 digits after "UA" of a Ukrainian IBAN with a valid ISO 7064 check."""
    return len(digits) == _IBAN_DIGITS and int(digits[2:] + "3010" + digits[:2]) % 97 == 1  # U=30, A=10


def ua_phone(digits: str) -> str | None:
    """How ``digits`` is written if it is a Ukrainian phone number, else None.

    0, 80, 380 or 00380, a two-digit area or mobile code and seven digits; or a mobile number
    without its 0.
    """
    for prefix in ("0", "80", "380", "00380"):
        if len(digits) == len(prefix) + 9 and digits.startswith(prefix):
            return f"{prefix} + 9 digits" if digits[len(prefix):len(prefix) + 2] in UA_PHONE_CODES else None
    if len(digits) == 9 and digits[:2] in UA_MOBILE_CODES:
        return "a mobile number without its leading 0"
    return None


def number_hint(digits: str) -> str | None:
    """What the number ``digits`` looks like, if it is personal data."""
    if card_number(digits):
        return "looks like a payment card number (Luhn-valid)"
    if shape := ua_phone(digits):
        return f"looks like a Ukrainian phone number ({shape})"
    if rnokpp(digits):
        return "looks like a Ukrainian tax number (RNOKPP with a valid check digit)"
    for code, pattern in _FOREIGN:
        if pattern.fullmatch(digits):
            return f"looks like a foreign mobile phone number (country code {code})"
    return None


def chains(atoms: list[str]) -> list[tuple[int, list[str]]]:
    """Digit runs read together (only separators between them): (index of the first, the runs).

    Digits with letters glued on both sides (``ZYO675736236TZ``) are part of a token, not a
    number: random base32 or base62 strings have those.
    """
    out: list[tuple[int, list[str]]] = []
    run: list[str] = []
    for i, a in enumerate(atoms):
        if a[0] in _DIGIT:
            if run:  # only a separator since the last run: a word would have ended it
                run.append(a)
            else:
                run = [a]
                out.append((i, run))
        elif a[0] in _LETTER:
            run = []
    return [(first, runs) for first, runs in out
            if not (_letter_at(atoms, first - 1) and _letter_at(atoms, first + 2 * len(runs) - 1))]


def _letter_at(atoms: list[str], i: int) -> bool:
    return 0 <= i < len(atoms) and atoms[i][0] in _LETTER


def chain_hint(atoms: list[str], first: int, runs: list[str]) -> str | None:
    if first and atoms[first - 1].lower().endswith("ua"):  # a word glued to the first run
        for j in range(1, len(runs) + 1):
            if ua_iban("".join(runs[:j])):
                return "looks like a Ukrainian bank account number (IBAN with a valid check)"
    spans: list[tuple[int, str]] = []  # (runs in it, its digits)
    for i in range(len(runs)):
        digits = ""
        for j in range(i, len(runs)):
            digits += runs[j]
            if len(digits) > _MAX_DIGITS:
                break
            if len(digits) >= _MIN_DIGITS:
                spans.append((j - i, digits))
    spans.sort(key=lambda s: -s[0])  # the whole number before its parts
    for _, digits in spans:
        if hint := number_hint(digits):
            return hint
    return None


def surname_shaped(word: str) -> bool:
    """Ends with a surname ending, after at least three letters."""
    w = word.lower()
    return w.endswith(SURNAME_ENDINGS) and any(
        w.endswith(e) and len(w) >= len(e) + _STEM for e in SURNAME_ENDINGS)


def glued_name(word: str) -> bool:
    """A first name and a surname-shaped word written as one ("ivanpetrenko", "petrenkoivan")."""
    w = word.lower()
    for n in range(_SHORTEST_NAME, min(_LONGEST_NAME, len(w) - _SHORTEST_SURNAME) + 1):
        if (w[:n] in FIRST_NAMES and surname_shaped(w[n:])) or (
                w[-n:] in FIRST_NAMES and surname_shaped(w[:-n])):
            return True
    return False


def name_like(word: str) -> bool:
    return word.lower() in FIRST_NAMES or surname_shaped(word) or glued_name(word)


def birth_year(run: str) -> bool:
    """A year of birth, alone (1985) or in a date (19850512 or 12051985)."""
    if len(run) == 4:
        return YEAR_MIN <= int(run) <= YEAR_MAX
    if len(run) != 8:
        return False
    return any(YEAR_MIN <= int(y) <= YEAR_MAX and 1 <= int(m) <= 12 and 1 <= int(d) <= 31
               for y, m, d in ((run[:4], run[4:6], run[6:]), (run[4:], run[2:4], run[:2])))


def neighbours(atoms: list[str], i: int) -> list[str]:
    """The words next to atom ``i``: glued to it, or across one separator."""
    out = []
    for step in (-1, 1):
        j = i + step
        if 0 <= j < len(atoms) and atoms[j][0] not in _DIGIT and atoms[j][0] not in _LETTER:
            j += step
        if 0 <= j < len(atoms) and atoms[j][0] in _LETTER:
            out.append(atoms[j])
    return out


def name_with_year(atoms: list[str]) -> bool:
    return any(a[0] in _DIGIT and birth_year(a) and any(map(name_like, neighbours(atoms, i)))
               for i, a in enumerate(atoms))


def first_and_surname(atoms: list[str]) -> bool:
    return any(a.lower() in FIRST_NAMES and any(map(surname_shaped, neighbours(atoms, i)))
               for i, a in enumerate(atoms))


def mail_hint(words: list[str]) -> str | None:
    """An e-mail address written without '@' and '.', from the ref's lowercased pieces."""
    if "".join(words).endswith(GLUED_DOMAINS) or (len(words) > 2 and tuple(words[-2:]) in _DOMAIN_LABELS):
        return "looks like an e-mail address (it ends with a mail domain)"
    if "at" in words[1:-2] and words[-1] in TOP_LEVEL_DOMAINS:
        return "looks like an e-mail address ('at' and a domain)"
    return None


def personal_data_hint(player_ref: str) -> str | None:
    """Why ``player_ref`` looks like personal data, or None if it looks like an opaque token.

    A family of rules runs only where a cheap pattern shows it could apply (most refs have no
    four digits in a row and no first name), so an ordinary ref costs a few regex scans. Refs
    outside the allowed characters are read too: "+380 67 123 45 67" is a phone number before it
    is a badly formed ref.
    """
    ref = player_ref
    if "@" in ref:
        return "looks like an e-mail address"
    atoms: list[str] = []
    if _DIGITS_TO_READ.search(ref):
        text = _OPAQUE.sub(OPAQUE_PLACEHOLDER, ref)
        atoms = _ATOM.findall(text)
        if _NINE_DIGITS.search(text):
            for first, runs in chains(atoms):
                if sum(map(len, runs)) >= _MIN_DIGITS and (hint := chain_hint(atoms, first, runs)):
                    return hint
    if hint := mail_hint(_PIECE.findall(ref.lower())):
        return hint
    if atoms and name_with_year(atoms):
        return "looks like a name with a year of birth"
    if ((not FIRST_NAMES.isdisjoint(map(str.lower, _WORD.findall(ref)))
         and first_and_surname(atoms or _ATOM.findall(_OPAQUE.sub(OPAQUE_PLACEHOLDER, ref))))
            or any(map(glued_name, _LETTER_PIECE.findall(ref)))):
        return "looks like a first name and surname"
    if not ref.isascii() and _CYRILLIC.search(ref):
        return "looks like a name (Cyrillic letters)"
    if " " in ref.strip():
        return "looks like a name (words separated by spaces)"
    return None


_cached_hint = lru_cache(maxsize=1 << 14)(personal_data_hint)


def player_ref_hint(player_ref: str) -> str | None:
    """``personal_data_hint``, remembered for refs of allowed length.

    Players come back: the Python engine is asked about the same refs again and again. Longer
    strings are not kept, so the cache stays small whatever operators send.
    """
    return _cached_hint(player_ref) if len(player_ref) <= MAX_REF_LENGTH else personal_data_hint(player_ref)
