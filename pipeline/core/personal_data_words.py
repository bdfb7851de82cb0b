"""What personal data looks like inside a ``player_ref``: the lists its rules read.

The rules are ``pipeline/core/personal_data.py``; the compiled fast path is handed the same
lists. Data only; ``schemas/README.md`` describes the rules for operators.

Names are lowercase Latin transliterations (the national 2010 system and the older Russian-style
spellings operators still use). Every name and mail domain has a letter outside a-f, so no word of
a hexadecimal string can be one (``tests/pipeline/core/test_personal_data.py`` checks it).
"""

from __future__ import annotations

# A birth year: names with a year of birth are the commonest home-made "pseudonym".
YEAR_MIN, YEAR_MAX = 1920, 2015

# Common Ukrainian first names and short forms, four letters or more (three-letter names such as
# "ira" or "max" turn up by chance in random strings).
FIRST_NAMES: frozenset[str] = frozenset("""
    oleksandr aleksandr alexander alexandr sasha oleksii oleksiy aleksey alexey alexei andrii andriy
    andrey andrei dmytro dmitro dmitry dmitriy dima serhii serhiy sergii sergiy sergey sergei
    volodymyr vladimir vova mykola nikolay nikolai ivan yurii yuriy yuri yurij vasyl vasiliy vasily
    petro pavlo mykhailo mykhaylo mikhail misha viktor victor oleh oleg taras bohdan bogdan roman
    maksym maksim maxim artem artur denys denis vitalii vitaliy vitaly ihor igor yaroslav stepan
    anatolii anatoliy valerii valeriy vadym vadim ruslan yevhen yevgen evgen evgeniy evgeny eugene
    zhenya kostiantyn kostyantyn konstantin kostya anton illia ilya nazar danylo danilo daniil kyrylo
    kirill tymur timur hryhorii grigoriy fedir leonid borys boris zakhar rostyslav rostislav
    stanislav vladyslav vladislav vlad valentyn valentin tymofii timofey yehor egor arsenii arseniy
    matvii mykyta nikita semen myroslav miroslav orest yosyp
    oleksandra aleksandra olena elena lena olga olha olya tetiana tetyana tatiana tatyana tanya
    natalia nataliia natalya natasha iryna irina svitlana svetlana sveta yuliia yulia julia anna
    hanna ganna maria mariia mariya masha oksana kateryna katerina ekaterina yekaterina katya
    viktoriia viktoria victoria vika liudmyla lyudmila ludmila nadiia nadiya nadia nadezhda halyna
    galina larysa larisa valentyna valentina inna alla lesia lesya uliana ulyana sofiia sofiya sofia
    daria dariia darya dasha anastasiia anastasia nastya khrystyna kristina alina diana maryna
    marina vira vera liubov lyubov zoia zoya polina veronika yana liliia lilia kseniia ksenia
    solomiia zlata myroslava miroslava yaroslava nina raisa lidiia lidia valeriia valeria karina
    angelina taisiia milana
""".split())

# Endings of Ukrainian (and Russian-style) surnames. A word counts as surname-shaped only with at
# least three letters before its ending, so "rich" or "book" do not.
SURNAME_ENDINGS: tuple[str, ...] = (
    "enko", "chuk", "chyk", "yuk", "iuk", "uk", "yk", "ko", "skyi", "skyy", "skiy", "sky", "ska",
    "tskyi", "ov", "ova", "ev", "eva", "ich", "ych",
)

# Mail domains people register with in Ukraine. Written without '@' and '.', they end a ref:
# "ivan_petrenko_gmail_com", "petrenko-ukr-net", "olenakgmailcom".
MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "googlemail.com", "ukr.net", "i.ua", "meta.ua", "email.ua", "bigmir.net",
    "online.ua", "yahoo.com", "outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com",
    "proton.me", "protonmail.com", "gmx.net", "gmx.de", "aol.com", "yandex.ru", "yandex.ua",
    "mail.ru", "rambler.ru", "inbox.ru", "list.ru", "bk.ru", "tut.by",
)
# Top-level domains that end the tail of "name_at_example_com".
TOP_LEVEL_DOMAINS: frozenset[str] = frozenset(
    "com net org info biz io me eu ua ru by kz md pl de cz sk uk us ca co edu gov".split())

# Two digits after the trunk 0 (or 380) of a Ukrainian number: the landline area codes
# (31-38, 41-48, 51-57, 61-69) and the mobile operators' codes (39, 50, 63, 66-68, 73, 89, 91-99).
UA_MOBILE_CODES: frozenset[str] = frozenset(
    "39 50 63 66 67 68 73 89 91 92 93 94 95 96 97 98 99".split())
UA_PHONE_CODES: frozenset[str] = UA_MOBILE_CODES | frozenset(
    f"{a}{b}" for a, last in ((3, 8), (4, 8), (5, 7), (6, 9)) for b in range(1, last + 1))

# Payment card IIN prefix ranges (first digits, inclusive; compared on the prefix's length):
# Visa, Mastercard (51-55, 2221-2720), Maestro (50, 56-69), Amex (34, 37), Diners (300-305, 36,
# 38, 39), JCB (3528-3589), Discover (6011, 644-649, 65), UnionPay (62), Mir (2200-2204) and
# the Ukrainian ПРОСТІР (9804).
CARD_IIN_RANGES: tuple[tuple[str, str], ...] = (
    ("4", "4"), ("50", "69"), ("2221", "2720"), ("2200", "2204"), ("34", "34"), ("37", "37"),
    ("300", "305"), ("36", "36"), ("38", "39"), ("3528", "3589"), ("9804", "9804"),
)

# Foreign mobile numbers written without '+': country calling code and the national number's
# pattern (the mobile ranges only, so the length and leading digits pin the shape down).
# Neighbours, and the countries most Ukrainians abroad live in.
FOREIGN_MOBILE: tuple[tuple[str, str], ...] = (
    ("48", r"(?:45|5[0137]|6[069]|7[2389]|88)\d{7}"),  # Poland
    ("49", r"1[5-7]\d{8,9}"),  # Germany
    ("420", r"[67]\d{8}"),  # Czechia
    ("421", r"9\d{8}"),  # Slovakia
    ("36", r"(?:20|30|31|50|70)\d{7}"),  # Hungary
    ("40", r"7\d{8}"),  # Romania
    ("373", r"[67]\d{7}"),  # Moldova
    ("375", r"(?:25|29|33|44)\d{7}"),  # Belarus
    ("7", r"(?:9\d|7[0-8])\d{8}"),  # Russia, Kazakhstan
    ("44", r"7[1-9]\d{8}"),  # United Kingdom
    ("39", r"3\d{8,9}"),  # Italy
    ("34", r"[67]\d{8}"),  # Spain
    ("351", r"9[1236]\d{7}"),  # Portugal
    ("33", r"[67]\d{8}"),  # France
    ("31", r"6\d{8}"),  # Netherlands
    ("370", r"6\d{7}"),  # Lithuania
    ("371", r"2\d{7}"),  # Latvia
    ("372", r"5\d{6,7}"),  # Estonia
    ("995", r"5\d{8}"),  # Georgia
    ("90", r"5\d{9}"),  # Turkey
    ("972", r"5\d{8}"),  # Israel
)
# With the international prefix 00 a number is unambiguous enough to also take North America's
# plan (1 + area code + number), which without it matches too many 11-digit IDs.
FOREIGN_WITH_00_ONLY: tuple[tuple[str, str], ...] = (
    ("1", r"[2-9]\d\d[2-9]\d{6}"),  # USA, Canada
)
