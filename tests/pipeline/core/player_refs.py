"""Player refs for the personal-data tests: pseudonyms operators really use, personal data
operators should not send, and adversarial mixes of both (for the engines' agreement)."""

from __future__ import annotations

import random
from collections.abc import Callable

from pipeline.core.personal_data_words import FIRST_NAMES, MAIL_DOMAINS, SURNAME_ENDINGS, TOP_LEVEL_DOMAINS
from pipeline.operator.players import BASE32, player_ref

HEX = "0123456789abcdef"
DIGITS = "0123456789"


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def uuid(rng: random.Random) -> str:
    """A version-4 UUID, with dashes, a fifth of them in capitals (as .NET writes them)."""
    h = f"{(rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (4 << 76) | (0x2 << 62):032x}"
    h = h.upper() if rng.random() < 0.2 else h
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid_without_dashes(rng: random.Random) -> str:
    return uuid(rng).replace("-", "")


def hex_string(rng: random.Random) -> str:
    """16-64 hex digits (a hash or a random token), a fifth in capitals."""
    h = _hex(rng, rng.randint(16, 64))
    return h.upper() if rng.random() < 0.2 else h


def base32(rng: random.Random) -> str:
    """16-56 characters of RFC 4648 base32, a fifth in lowercase."""
    s = "".join(rng.choices(BASE32, k=rng.randint(16, 56)))
    return s.lower() if rng.random() < 0.2 else s


def counter(rng: random.Random) -> str:
    """An operator's counter: a prefix and a zero-padded number of up to 8 digits (usr-000123)."""
    prefix = rng.choice(["usr", "user", "player", "plr", "acc", "cust", "id", "u", "PLR", "client"])
    width = max(rng.randint(3, 8), 7 - len(prefix))
    return f"{prefix}{rng.choice('-_')}{rng.randrange(1, 10 ** rng.randint(1, 8)):0{width}d}"


def acct_hex(rng: random.Random) -> str:
    """``acct_`` and 8-40 hex digits."""
    return "acct_" + _hex(rng, rng.randint(8, 40))


NANOID = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def nanoid(rng: random.Random) -> str:
    """21 characters of nanoid's URL-safe alphabet (letters, digits, '_' and '-')."""
    return "".join(rng.choices(NANOID, k=21))


PSEUDONYMS: dict[str, Callable[[random.Random], str]] = {
    "uuid": uuid, "uuid without dashes": uuid_without_dashes, "hex": hex_string, "base32": base32,
    "p_ + base32 (the simulator's)": player_ref, "usr-000123 counter": counter, "acct_ + hex": acct_hex,
    "nanoid": nanoid,
}

# (ref, the detail it must get): realistic shapes of personal data.
CARD = "looks like a payment card number (Luhn-valid)"
UA_PHONE = "looks like a Ukrainian phone number"
RNOKPP = "looks like a Ukrainian tax number (RNOKPP with a valid check digit)"
IBAN = "looks like a Ukrainian bank account number (IBAN with a valid check)"
FOREIGN = "looks like a foreign mobile phone number"
NAME_YEAR = "looks like a name with a year of birth"
FULL_NAME = "looks like a first name and surname"
MAIL = "looks like an e-mail address"
PERSONAL: list[tuple[str, str]] = [
    # Test card numbers of the card schemes, whole and grouped
    ("4111111111111111", CARD), ("4111-1111-1111-1111", CARD), ("4111_1111_1111_1111", CARD),
    ("5555555555554444", CARD), ("5555-5555-5555-4444", CARD), ("378282246310005", CARD),
    ("3782-822463-10005", CARD), ("6011111111111117", CARD), ("3530111333300000", CARD),
    ("2223003122003222", CARD), ("card_4111111111111111", CARD), ("visa4012888888881881", CARD),
    ("4111 1111 1111 1111", CARD),
    # Ukrainian phones: mobile and Kyiv landline, with and without the country code, grouped
    ("380671234567", UA_PHONE + " (380 + 9 digits)"), ("380_67_123_45_67", UA_PHONE + " (380 + 9 digits)"),
    ("380-67-123-45-67", UA_PHONE + " (380 + 9 digits)"), ("+380671234567", UA_PHONE + " (380 + 9 digits)"),
    ("+380 (67) 123-45-67", UA_PHONE + " (380 + 9 digits)"), ("0671234567", UA_PHONE + " (0 + 9 digits)"),
    ("067-123-45-67", UA_PHONE + " (0 + 9 digits)"), ("067_123_45_67", UA_PHONE + " (0 + 9 digits)"),
    ("(050)1234567", UA_PHONE + " (0 + 9 digits)"), ("80671234567", UA_PHONE + " (80 + 9 digits)"),
    ("00380931234567", UA_PHONE + " (00380 + 9 digits)"), ("0441234567", UA_PHONE + " (0 + 9 digits)"),
    ("tel_0501234567", UA_PHONE + " (0 + 9 digits)"), ("petrenko_0931234567", UA_PHONE + " (0 + 9 digits)"),
    ("petrenko_0671234567_1985", UA_PHONE + " (0 + 9 digits)"),
    ("67_123_45_67_x", UA_PHONE + " (a mobile number without its leading 0)"),
    # Foreign mobiles
    ("48512345678", FOREIGN + " (country code 48)"), ("4915123456789", FOREIGN + " (country code 49)"),
    ("447911123456", FOREIGN + " (country code 44)"), ("0012025550143", FOREIGN + " (country code 1)"),
    ("373-69-123456", FOREIGN + " (country code 373)"), ("0048_512_345_678", FOREIGN + " (country code 48)"),
    # RNOKPP with a valid check digit (1759013776 is python-stdnum's example)
    ("3184710691", RNOKPP), ("1759013776", RNOKPP), ("31847_10691", RNOKPP), ("31847-10691", RNOKPP),
    ("ipn_3184710691", RNOKPP), ("rnokpp3184710691", RNOKPP),
    # A Ukrainian IBAN, whole and in groups of four
    ("UA213223130000026007233566001", IBAN), ("UA21_3223_1300_0002_6007_2335_6600_1", IBAN),
    ("ua213223130000026007233566001", IBAN),
    # Names with a year of birth
    ("ivan_petrenko_1985", NAME_YEAR), ("OlenaKovalenko1990", NAME_YEAR), ("petrenko1978", NAME_YEAR),
    ("taras-shevchenko-1961", NAME_YEAR), ("1985_ivan", NAME_YEAR), ("Bondarenko_Oleh_1972", NAME_YEAR),
    ("ivan19850512", NAME_YEAR), ("olena_12051985", NAME_YEAR), ("IVANOV2001", NAME_YEAR),
    ("ivanpetrenko1985", NAME_YEAR), ("kovalchuk-1999-x", NAME_YEAR),
    # First name and surname
    ("ivan_petrenko", FULL_NAME), ("IvanPetrenko", FULL_NAME), ("olena-kovalenko", FULL_NAME),
    ("PETRENKO_IVAN", FULL_NAME), ("ivanpetrenko", FULL_NAME), ("Oksana_Savchuk_x", FULL_NAME),
    ("kovalenkoolena", FULL_NAME),
    # E-mail addresses with '@' and '.' dropped or spelt out
    ("ivan_petrenko_gmail_com", MAIL + " (it ends with a mail domain)"),
    ("olenakovalenkogmailcom", MAIL + " (it ends with a mail domain)"),
    ("petrenko85_i_ua", MAIL + " (it ends with a mail domain)"),
    ("vasyl-ukr-net", MAIL + " (it ends with a mail domain)"),
    ("ivan.petrenko.gmail.com", MAIL + " (it ends with a mail domain)"),
    ("name_at_example_com", MAIL + " ('at' and a domain)"),
    ("vasyl-at-company-co-uk", MAIL + " ('at' and a domain)"),
    ("ivan_petrenko@gmail.com", MAIL), ("ivan@x.ua", MAIL),
    # Outside the allowed characters
    ("Іван Петренко", "looks like a name (Cyrillic letters)"),
    ("John Smith", "looks like a name (words separated by spaces)"), ("ivan petrenko", FULL_NAME),
]

# Pseudonyms that come near the rules and must pass.
OPAQUE = [
    "p_ABCDEFGH23", "8f14e45f-ceea-467f-a0b1-3c9d2e1f0a77", "8F14E45F-0671-2345-6789-012345678901",
    "PLR_00042_x", "usr-000123", "acct_8f3a9c2d", "user_1234567", "4111111111111112", "player_2023",
    "p_ABCDEFGHIJKLMNOPQRST", "deadbeef0671234567", "0671234567abcdef", "x_12345678", "12345678",
    "ivan_x7q", "olena123", "session_7f3a", "0000012345", "usr-0000000001", "abc_1985_def",
    "ZYO675736236TZLF", "tel0671234567x",
    "roman_empire", "bonus_2010", "kyiv_2010", "a-b_c-d_e", "12345_67890",
]


def adversarial(rng: random.Random) -> str:
    """A ref mixing what the rules look for (names, years, domains, grouped numbers, hex) with
    noise, to find refs where the engines or the fast path disagree."""
    names = sorted(FIRST_NAMES)
    pieces: list[Callable[[], str]] = [
        lambda: rng.choice(names),
        lambda: rng.choice(names).capitalize(),
        lambda: rng.choice(names).upper(),
        lambda: "".join(rng.choices("bcdfghklmnprstvz", k=rng.randint(1, 5))) + rng.choice(SURNAME_ENDINGS),
        lambda: str(rng.randint(1900, 2030)),
        lambda: "".join(rng.choices(DIGITS, k=rng.randint(1, 12))),
        lambda: rng.choice(["380", "0", "80", "00380", "48", "49", "00"]) + "".join(rng.choices(DIGITS, k=9)),
        lambda: _hex(rng, rng.randint(1, 16)),
        lambda: _hex(rng, rng.randint(1, 16)).upper(),
        lambda: uuid(rng),
        lambda: rng.choice(MAIL_DOMAINS).replace(".", rng.choice(["_", "-", ""])),
        lambda: "at",
        lambda: rng.choice(sorted(TOP_LEVEL_DOMAINS)),
        lambda: "".join(rng.choices(BASE32, k=rng.randint(1, 8))),
        lambda: "".join(rng.choices(NANOID, k=rng.randint(1, 8))),
        lambda: "ua" + "".join(rng.choices(DIGITS, k=27)),
    ]
    out = ""
    for _ in range(rng.randint(1, 5)):
        if out:
            out += rng.choice(["_", "-", "", "", "__", "-_"])
        out += rng.choice(pieces)()
    if rng.random() < 0.02:
        out = out.replace("_", rng.choice([" ", ".", "+", "ж"]))
    return out[:rng.choice([64, 64, 64, 70])]
