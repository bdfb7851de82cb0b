"""English sentences that machines write, said in the reader's language on the pages.

The decoder's receipt details (``malformed``, ``unknown_schema``), the personal-data hints, the
alerts agent's ``summary`` and the registry's explanations are machine data where they are
written (receipts and alerts on Kafka topics, the registry's API): they stay as written there,
in English, byte-stable, what programs and developers search for. A page says them in the
reader's language from the templates that wrote them: each table here is one regular expression
per template the code writes (its values as named groups) and the template's translation, each
value kept as written, labelled (a kind, a status), formatted the reader's way (an amount, a
percentage) or said by another table (a hint inside a detail). ``tests/web/test_machine_texts.py``
reads every template the code can write (the calls that write them, each value replaced by a
sample) and fails when one has no translation here, so a new sentence cannot reach a page in
English unnoticed. An English page shows the text as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from web import labels
from web.i18n import N_, current_locale, format_money, format_number, gettext

Render = Callable[[str], str]


class Sentences:
    """One family of machine sentences: (pattern over the English, template, how each value is said)."""

    def __init__(self, rows: tuple[tuple[str, str, dict[str, Render]], ...]) -> None:
        self.rows = rows
        self._compiled = tuple((re.compile(p, re.DOTALL), t, r) for p, t, r in rows)

    def say(self, text: str) -> str | None:
        """``text`` in the current language, or None where no template wrote it."""
        for pattern, template, renders in self._compiled:
            m = pattern.fullmatch(text)
            if m:
                values = {k: renders[k](v) if k in renders else v for k, v in m.groupdict().items()}
                return gettext(template) % values
        return None

    def templates(self) -> dict[str, str]:
        return {p: t for p, t, _ in self.rows}


def _label(table: dict[str, str]) -> Render:
    return lambda v: labels.label(table, v)


def _by(sentences: Callable[[], Sentences]) -> Render:
    """A value that is itself a sentence of another family (said as written if none wrote it)."""
    return lambda v: sentences().say(v) or v


def _uah(v: str) -> str:
    """``1,234.56`` (hryvnias as the agent writes them) the reader's way, ``1 234,56 грн``."""
    return format_money(int(Decimal(v.replace(",", "")).scaleb(2)))


def _number(v: str) -> str:
    text = v.replace(",", "")
    return format_number(Decimal(text)) if "." in text else format_number(int(text))


def _percent(v: str) -> str:
    """``96.50%`` or ``7.5`` (percent) as ``96,50 %``."""
    text = v.removesuffix("%")
    decimals = len(text.partition(".")[2])
    return format_number(Decimal(text), decimals) + "\u00a0%"


def _markers(v: str) -> str:
    """The responsible-gambling markers an rg_score summary lists (``loss_chasing, night_play``)."""
    if v == "no marker":
        return gettext(N_("no marker"))
    return ", ".join(labels.label(labels.ALERT_MEASURES, f"marker_{m}") for m in v.split(", "))


def _event_kind(v: str) -> str:
    return labels.label(labels.EVENT_KINDS, v.upper())


# ---- receipts: the decoder's details (schemas/diagnose.py, codec.py; pipeline/core/processor.py) ----

# What a number in the record was read as (schemas/diagnose.py, the ``noun`` of _Walker.number).
_NOUNS = {
    "number": N_("number"),
    "union branch": N_("union branch"),
    "enum index": N_("enum index"),
    "string length": N_("string length"),
    "bytes length": N_("bytes length"),
    "block count": N_("block count"),
    "block byte size": N_("block byte size"),
}
_noun = _label(_NOUNS)
_N = r"(?P<noun>[a-z ]+?)"  # a noun of _NOUNS

# The third part of ``<path> at byte <n>: <what>`` (schemas/diagnose.py, each _Malformed's what).
DIAGNOSES: Sentences = Sentences((
    (r"the record is shorter than the (?P<n>\d+)-byte single-object header",
     N_("the record is shorter than its %(n)s-byte single-object header"), {}),
    (r"(?P<n>\d+) bytes? after the end of the record", N_("%(n)s byte(s) after the end of the record"), {}),
    (r"boolean byte (?P<b>0x[0-9a-f]+) \(0x00 or 0x01 expected\)",
     N_("boolean byte %(b)s (0x00 or 0x01 expected)"), {}),
    (r"the record ends before this field", N_("the record ends before this field"), {}),
    (r"the record ends inside this field \((?P<n>\d+) bytes expected, (?P<left>\d+) left\)",
     N_("the record ends inside this field (%(n)s bytes expected, %(left)s left)"), {}),
    (rf"the record ends inside this {_N}", N_("the record ends inside this value (%(noun)s)"),
     {"noun": _noun}),
    (rf"{_N} longer than (?P<most>\d+) bytes \(Avro (?P<avro>int|long) is at most (?P<bits>\d+) bits\)",
     N_("%(noun)s longer than %(most)s bytes (an Avro %(avro)s is at most %(bits)s bits)"), {"noun": _noun}),
    (rf"{_N} not in its shortest form: (?P<used>\d+) bytes where (?P<shortest>\d+) suffices? "
     r"\(the last byte of a number is never 0x00\)",
     N_("%(noun)s not in its shortest form: %(used)s bytes where %(shortest)s would do (the last byte of "
        "a number is never 0x00)"), {"noun": _noun}),
    (rf"{_N} beyond (?P<bits>\d+) bits \(the (?P<nth>\d+)(?:st|nd|rd|th) byte of an Avro (?P<avro>int|long) "
     r"is at most (?P<limit>0x[0-9a-f]+), here (?P<b>0x[0-9a-f]+)\)",
     N_("%(noun)s beyond %(bits)s bits (byte %(nth)s of an Avro %(avro)s is at most %(limit)s, here %(b)s)"),
     {"noun": _noun}),
    (rf"{_N} (?P<i>-?\d+) out of range \((?P<expected>.+)\)",
     N_("%(noun)s %(i)s out of range (%(expected)s)"), {"noun": _noun, "expected": _by(lambda: RANGES)}),
    (r"negative (?P<t>string|bytes) length (?P<n>-?\d+)", N_("negative %(t)s length %(n)s"), {}),
    (r"the record ends inside this (?P<t>string|bytes) \((?P<n>\d+) bytes announced, (?P<left>\d+) left\)",
     N_("the record ends inside this %(t)s (%(n)s bytes announced, %(left)s left)"), {}),
    (r"string is not UTF-8 \((?P<why>.+): (?P<b>0x[0-9a-f]+)\)",
     N_("the string is not UTF-8 (%(why)s: %(b)s)"), {}),
    (r"block byte size (?P<size>-?\d+), but its (?P<n>\d+) items? take (?P<took>\d+) bytes",
     N_("block byte size %(size)s, but its %(n)s item(s) take %(took)s bytes"), {}),
    (r"negative block byte size (?P<n>-?\d+)", N_("negative block byte size %(n)s"), {}),
    (r"the record ends inside this block \((?P<n>\d+) bytes announced, (?P<left>\d+) left\)",
     N_("the record ends inside this block (%(n)s bytes announced, %(left)s left)"), {}),
))
# What an out-of-range index could have been (schemas/diagnose.py, _Walker.value and complex).
RANGES: Sentences = Sentences((
    (r"(?P<name>\w+) has (?P<n>\d+) symbols: 0 to (?P<last>\d+)",
     N_("%(name)s has %(n)s symbols: 0 to %(last)s"), {}),
    (r"(?P<branches>\d+ for .+)", N_("branches: %(branches)s"), {}),
))

DECODER_DETAILS: Sentences = Sentences((
    (r"(?P<path>\S+) at byte (?P<at>\d+): (?P<what>.+)",
     N_("%(path)s, byte %(at)s: %(what)s"), {"what": _by(lambda: DIAGNOSES)}),
    (r"unknown schema fingerprint (?P<fp>[0-9a-f]+) \(Java prints (?P<java>[^)]+)\): not dsom's EventBatch; "
     r"register your writer schema: (?P<command>dsom schema register --operator \S+ FILE)",
     N_("unknown schema fingerprint %(fp)s (Java prints %(java)s): this is not the system's EventBatch; "
        "register your writer schema: %(command)s"), {}),
    (r"message does not start with the Avro single-object marker C3 01",
     N_("the message does not start with the Avro single-object marker C3 01"), {}),
    (r"schema (?P<name>\S+) in an older version is not accepted here",
     N_("schema %(name)s is not accepted here in an older version"), {}),
    (r"schema (?P<name>\S+) is not accepted here \(want (?P<want>\S+)\)",
     N_("schema %(name)s is not accepted here (%(want)s expected)"), {}),
    (r"the batch could not be decoded by the validator; send it again, and report it if this repeats",
     N_("the validator could not decode the batch: send it again, and report it if this repeats"), {}),
))


# ---- receipts: the personal-data hints (pipeline/core/personal_data.py, pipeline/core/validation.py) ----

HINTS: Sentences = Sentences((
    (r"looks like a payment card number \(Luhn-valid\)",
     N_("looks like a payment card number (the Luhn check passes)"), {}),
    (r"looks like a Ukrainian phone number \((?P<shape>.+)\)",
     N_("looks like a Ukrainian phone number (%(shape)s)"), {"shape": _by(lambda: PHONE_SHAPES)}),
    (r"looks like a Ukrainian tax number \(RNOKPP with a valid check digit\)",
     N_("looks like a Ukrainian tax number (RNOKPP with a valid check digit)"), {}),
    (r"looks like a foreign mobile phone number \(country code (?P<code>\d+)\)",
     N_("looks like a foreign mobile phone number (country code %(code)s)"), {}),
    (r"looks like a Ukrainian bank account number \(IBAN with a valid check\)",
     N_("looks like a Ukrainian bank account number (IBAN with a valid check)"), {}),
    (r"looks like an e-mail address \(it ends with a mail domain\)",
     N_("looks like an e-mail address (it ends with a mail domain)"), {}),
    (r"looks like an e-mail address \('at' and a domain\)",
     N_("looks like an e-mail address (the word 'at' and a domain)"), {}),
    (r"looks like an e-mail address", N_("looks like an e-mail address"), {}),
    (r"looks like a name with a year of birth", N_("looks like a name with a year of birth"), {}),
    (r"looks like a first name and surname", N_("looks like a first name and surname"), {}),
    (r"looks like a name \(Cyrillic letters\)", N_("looks like a name (Cyrillic letters)"), {}),
    (r"looks like a name \(words separated by spaces\)",
     N_("looks like a name (words separated by spaces)"), {}),
))
PHONE_SHAPES: Sentences = Sentences((
    (r"(?P<prefix>\d+) \+ 9 digits", N_("%(prefix)s and 9 digits"), {}),
    (r"a mobile number without its leading 0", N_("a mobile number without its leading 0"), {}),
))
PERSONAL_DATA_DETAILS: Sentences = Sentences((
    (r"player_ref (?P<hint>.+); send an opaque pseudonym",
     N_("player_ref %(hint)s; send an opaque pseudonym"), {"hint": _by(lambda: HINTS)}),
))


def receipt_detail(text: str) -> str | None:
    """A receipt's ``detail`` in the current language: the validator's, the decoder's or a hint.

    None where it is to be shown as written: an English page, or a detail no template wrote.
    """
    if current_locale() == "en":
        return None
    return labels.receipt_detail(text) or DECODER_DETAILS.say(text) or PERSONAL_DATA_DETAILS.say(text)


# ---- alerts: the agent's summaries (pipeline/core/watch.py, alerts.py; pipeline/security/archive_guard.py)

_S = r"(?P<subject>\S+)"  # an alert's subject key (operator|source, operator|player_ref, ...)
_AMOUNT = r"[\d,]+(?:\.\d+)?"

# Why a setting of the archive topic is required (pipeline/security/archive_guard.py, REQUIRED).
ARCHIVE_WHY = {
    "records expire": N_("records expire"),
    "records are dropped for space": N_("records are dropped for space"),
    "compaction keeps only one record per key": N_("compaction keeps only one record per key"),
}

ALERT_SUMMARIES: Sentences = Sentences((
    # a rule that resolves after a quiet period (pipeline/core/watch.py, _sweep_quiet): its name, spaced
    (r"no (?P<rule>[a-z ]+) for (?P<m>\d+) min", N_("\"%(rule)s\" has not recurred for %(m)s min"),
     {"rule": lambda v: labels.label(labels.ALERT_RULES, v.replace(" ", "_")), "m": _number}),
    (rf"{_S} is sending again", N_("%(subject)s is sending again"), {}),
    (rf"{_S} sent an operation (?P<h>\d+) h after it happened \(over (?P<over>\d+) h\)",
     N_("%(subject)s sent an operation %(h)s h after it happened (the limit is %(over)s h)"),
     {"h": _number}),
    (r"(?P<op>\S+) operates on unregistered (?P<kind>\w+) (?P<asset>.+)",
     N_("%(op)s operates on an unregistered asset (%(kind)s) %(asset)s"),
     {"kind": _label(labels.REPORT_VALUES["asset_type"])}),
    (r"day (?P<day>\S+) ended", N_("the day %(day)s has ended"), {}),
    (rf"(?P<kind>[a-z_]+) of (?P<amount>{_AMOUNT}) UAH by {_S} \(threshold (?P<threshold>{_AMOUNT}) UAH\)",
     N_("%(kind)s of %(amount)s by %(subject)s (threshold %(threshold)s)"),
     {"kind": _event_kind, "amount": _uah, "threshold": _uah}),
    (rf"{_S} moved (?P<total>{_AMOUNT}) UAH in deposits and withdrawals on (?P<day>\S+) "
     r"\((?P<near>\d+) operations just under the threshold\)",
     N_("%(subject)s moved %(total)s in deposits and withdrawals on %(day)s (operations just under the "
        "threshold: %(near)s)"), {"total": _uah, "near": _number}),
    (rf"{_S}: (?P<near>\d+) deposits or withdrawals on (?P<day>\S+) each just under "
     rf"(?P<threshold>{_AMOUNT}) UAH, (?P<total>{_AMOUNT}) UAH together",
     N_("%(subject)s: %(near)s deposits or withdrawals on %(day)s, each just under %(threshold)s, "
        "%(total)s together"), {"near": _number, "threshold": _uah, "total": _uah}),
    (rf"{_S}: responsible-gambling score (?P<score>\S+) on (?P<day>\S+) \((?P<markers>.+)\)",
     N_("%(subject)s: responsible-gambling score %(score)s on %(day)s (%(markers)s)"),
     {"score": _number, "markers": _markers}),
    (rf"{_S}: RTP (?P<observed>-?[\d.]+%) over (?P<spins>\d+) spins against (?P<certified>-?[\d.]+%) "
     r"certified \(z = (?P<z>-?[\d.]+), evidence e\^(?P<e>-?[\d.]+) against e\^(?P<needed>-?[\d.]+) needed "
     r"over (?P<test>\d+) spins\)",
     N_("%(subject)s: RTP %(observed)s over %(spins)s spins against the certified %(certified)s (z = %(z)s, "
        "evidence e^%(e)s against the e^%(needed)s needed over %(test)s spins)"),
     {"observed": _percent, "certified": _percent, "spins": _number, "test": _number, "z": _number,
      "e": _number, "needed": _number}),
    (rf"(?P<op>\S+) withheld tax off the due amount on a payout of (?P<amount>{_AMOUNT}) UAH",
     N_("%(op)s withheld tax other than the tax due on a payout of %(amount)s"), {"amount": _uah}),
    (rf"{_S} silent for (?P<m>\d+) min while its licence is active",
     N_("%(subject)s has sent nothing for %(m)s min while its licence is in force"), {"m": _number}),
    (rf"{_S} licence no longer active", N_("%(subject)s: the licence is no longer in force"), {}),
    (rf"{_S} sent operations it is not licensed for \((?P<reason>\w+)\)",
     N_("%(subject)s sent operations it is not licensed for (%(reason)s)"), {"reason": labels.reason}),
    (rf"{_S}: (?P<gaps>\d+) sequence gap\(s\) open for (?P<m>\d+) min \(seqs (?P<from>\d+)\.\.\)",
     N_("%(subject)s: sequence gaps open: %(gaps)s, for %(m)s min (sequence numbers from %(from)s)"),
     {"gaps": _number, "m": _number}),
    (rf"{_S}: every sequence gap filled", N_("%(subject)s: every sequence gap is filled"), {}),
    (rf"{_S}: (?P<rate>[\d.]+) % of (?P<total>\d+) operations rejected over (?P<m>\d+) min",
     N_("%(subject)s: %(rate)s of %(total)s operations rejected over %(m)s min"),
     {"rate": _percent, "total": _number, "m": _number}),
    (r"resolved: (?P<summary>.+)", N_("resolved: %(summary)s"), {"summary": _by(lambda: ALERT_SUMMARIES)}),
    # dsom archive-guard (pipeline/security/archive_guard.py, archive_guard_service.py)
    (r"(?P<who>\S+) may (?P<operation>\S+) (?P<topic>\S+) \(ACL on (?P<pattern>\S+) (?P<name>'[^']*')\): "
     r"only (?P<pipeline>\S+) should write it",
     N_("%(who)s may %(operation)s %(topic)s (ACL on %(pattern)s %(name)s): only %(pipeline)s should "
        "write it"),
     {}),
    (r"(?P<topic>\S+) has (?P<key>[\w.]+)=(?P<have>\S*), not (?P<want>\S+): (?P<why>.+)",
     N_("%(topic)s has %(key)s=%(have)s, not %(want)s: %(why)s"), {"why": _label(ARCHIVE_WHY)}),
    (r"(?P<topic>\S+) was deleted", N_("%(topic)s was deleted"), {}),
    (r"no longer so: (?P<summary>.+)", N_("no longer so: %(summary)s"),
     {"summary": _by(lambda: ALERT_SUMMARIES)}),
))


def alert_summary(text: str) -> str | None:
    """An alert's ``summary`` in the current language; None to show it as written (English, or unknown)."""
    if current_locale() == "en":
        return None
    return ALERT_SUMMARIES.say(text)


# ---- the registry's explanations (registry/, each RegistryError's message; pydantic's for a record) ----

_WHO = r"(?P<who>\S+)"  # a principal: role:name, or role:name@operator
_KIND = r"(?P<kind>operator|licence|establishment|equipment|site|app|representative)"
_kind = _label(labels.RECORD_KINDS)


def _micros(v: str) -> str:
    from web.i18n import format_time  # noqa: PLC0415 - beside its one use

    return format_time(int(v))


# What an officer, an operator or the system may not do (registry/core/access.py, _refuse's ``what``).
DENIALS: Sentences = Sentences((
    (r"enter changes directly; propose them instead", N_("enter changes directly; propose them instead"), {}),
    (rf"propose an? {_KIND}", N_("propose an entry of this kind: %(kind)s"), {"kind": _kind}),
    (r"propose changes", N_("propose changes"), {}),
    (r"approve or reject proposals", N_("approve or reject proposals"), {}),
    (r"suspend, revoke or reinstate licences", N_("suspend, revoke or reinstate licences"), {}),
))
# pydantic's own messages for a field (registry/core/model.py, _first; dashboards/params.py, parse), as
# pydantic 2 writes them.
_PYDANTIC: tuple[tuple[str, str, dict[str, Render]], ...] = (
    (r"String should have at most (?P<n>\d+) characters?", N_("at most %(n)s characters"), {}),
    (r"String should have at least (?P<n>\d+) characters?", N_("at least %(n)s character(s)"), {}),
    (r"String should match pattern '(?P<pattern>.+)'", N_("must match the pattern %(pattern)s"), {}),
    (r"Input should be greater than or equal to (?P<n>-?\d+)", N_("must be %(n)s or more"), {}),
    (r"Input should be greater than (?P<n>-?\d+)", N_("must be more than %(n)s"), {}),
    (r"Input should be less than or equal to (?P<n>-?\d+)", N_("must be %(n)s or less"), {}),
    (r"Input should be a valid integer(?P<rest>.*)", N_("must be a whole number"), {}),
    (r"Input should be a valid string", N_("must be text"), {}),
    (r"Input should be (?P<choices>'.+)", N_("must be one of: %(choices)s"),
     {"choices": lambda v: v.replace("' or '", "', '")}),
    (r"Extra inputs are not permitted", N_("this field is not part of the entry"), {}),
    (r"required, missing", N_("required, and missing"), {}),
)
# A report's parameter refused (dashboards/params.py: pydantic's words, and the checks' own).
FIELD_MESSAGES: Sentences = Sentences((
    *_PYDANTIC,
    (r"must be one of (?P<choices>.+)", N_("must be one of: %(choices)s"), {}),
))


def param_error(template: str, fields: dict[str, object]) -> str:
    """A report parameter's refusal (``dashboards.params.ParamError``) in the current language."""
    said = {k: (FIELD_MESSAGES.say(v) or v) if k == "why" and isinstance(v, str) and current_locale() != "en"
            else v for k, v in fields.items()}
    return gettext(template) % said

REGISTRY_MESSAGES: Sentences = Sentences((
    *_PYDANTIC,
    # registry/api.py, registry/cli.py, registry/service.py
    (rf"no {_KIND} (?P<id>.+) in force then", N_("no %(kind)s %(id)s was in force then"), {"kind": _kind}),
    (r"expected suspend, revoke or reinstate", N_("expected suspend, revoke or reinstate"), {}),
    (r"expected approve or reject", N_("expected approve or reject"), {}),
    (rf"{_WHO} may register writer schemas for (?P<operator>\S+) only",
     N_("%(who)s may register writer schemas for %(operator)s only"), {}),
    (rf"{_WHO} may not read the audit log", N_("%(who)s may not read the audit log"), {}),
    (r"expected a JSON object per row", N_("expected a JSON object per row"), {}),
    (r"not JSON: (?P<why>.+)", N_("not JSON: %(why)s"), {}),
    (r"expected role:name with role one of (?P<roles>.+), got (?P<got>.+)",
     N_("expected role:name with the role one of %(roles)s, got %(got)s"), {}),
    (rf"{_WHO} may not read another operator's records",
     N_("%(who)s may not read another operator's records"), {}),
    (r"expected UTC microseconds \(an integer, 0 or more\)",
     N_("expected UTC microseconds (a whole number, 0 or more)"), {}),
    (r"a decision reference and the reason are required",
     N_("a decision reference and the reason are required"), {}),
    (r"no licence (?P<id>.+) in force at (?P<at>\d+)", N_("no licence %(id)s was in force at %(at)s"),
     {"at": _micros}),
    (r"licence (?P<id>.+) is (?P<was>\w+); it cannot become (?P<to>\w+)",
     N_("licence %(id)s is \"%(was)s\"; it cannot become \"%(to)s\""),
     {"was": _label(labels.STATUSES), "to": _label(labels.STATUSES)}),
    (r"a decision needs a reason", N_("a decision needs a reason"), {}),
    (r"no proposal (?P<id>.+)", N_("no proposal %(id)s"), {}),
    (r"proposal (?P<id>.+) is already decided", N_("proposal %(id)s has already been decided"), {}),
    # registry/core/access.py
    (rf"{_WHO} proposed this change and may not decide it",
     N_("%(who)s proposed this change and may not decide it"), {}),
    (r"a principal needs a name", N_("a principal needs a name"), {}),
    (r"an operator principal \(and only one\) names its operator",
     N_("an operator principal (and only one) names its operator"), {}),
    (rf"{_WHO} may only propose changes to its own records, not to (?P<other>.+)'s",
     N_("%(who)s may only propose changes to its own records, not to those of %(other)s"), {}),
    (rf"{_WHO} may not (?P<what>.+)", N_("%(who)s may not %(what)s"), {"what": _by(lambda: DENIALS)}),
    # registry/core/model.py, registry/core/identifiers.py
    (r"expected 8 digits, got (?P<got>.+)", N_("expected 8 digits, got %(got)s"), {}),
    (r"checksum digit of (?P<code>\d+) should be (?P<want>\d), not (?P<got>\d)",
     N_("the check digit of %(code)s should be %(want)s, not %(got)s"), {}),
    (r"expected a domain name such as casino.example.ua, got (?P<got>.+)",
     N_("expected a domain name such as casino.example.ua, got %(got)s"), {}),
    (r"expected a reverse-domain package ID such as ua.example.app, got (?P<got>.+)",
     N_("expected a reverse-domain package ID such as ua.example.app, got %(got)s"), {}),
    (r"expected the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed",
     N_("expected the certificate's SHA-256 fingerprint: 64 hexadecimal digits, colons allowed"), {}),
    (r"expected the person's tax number: 10 digits", N_("expected the person's tax number: 10 digits"), {}),
    (rf"status (?P<status>\w+) is for licences; an? {_KIND} is active or inactive",
     N_("the status \"%(status)s\" is for licences; an entry of this kind (%(kind)s) is active or inactive"),
     {"status": _label(labels.STATUSES), "kind": _kind}),
    (r"a licence is active, suspended or revoked", N_("a licence is in force, suspended or revoked"), {}),
    (r"valid_to_us (?P<to>\d+) must be after valid_from_us (?P<since>\d+)",
     N_("the end of validity (%(to)s) must be after its start (%(since)s)"),
     {"to": _micros, "since": _micros}),
    (r"an? (?P<status>\w+) licence needs status_reason \(the decision and why\)",
     N_("a licence with the status \"%(status)s\" needs status_reason (the decision and why)"),
     {"status": _label(labels.STATUSES)}),
    (r"expected one of (?P<kinds>.+), got (?P<got>.+)", N_("expected one of %(kinds)s, got %(got)s"), {}),
    (r"no key to hash it with \(registry.tax_number_key\)",
     N_("no key to hash it with (registry.tax_number_key is not set)"), {}),
    # registry/core/rules.py
    (rf"no {_KIND} (?P<id>.+) is registered", N_("no %(kind)s %(id)s is registered"), {"kind": _kind}),
    (rf"{_KIND} (?P<id>.+) belongs to another operator", N_("%(kind)s %(id)s belongs to another operator"),
     {"kind": _kind}),
    (rf"{_KIND} (?P<id>.+) is already registered; change it with a new version",
     N_("%(kind)s %(id)s is already registered; change it with a new version"), {"kind": _kind}),
    (rf"{_KIND} (?P<id>.+) belongs to (?P<owner>.+); records never move between operators",
     N_("%(kind)s %(id)s belongs to %(owner)s; entries never move between operators"), {"kind": _kind}),
    (r"no operator (?P<id>.+) is registered", N_("no operator %(id)s is registered"), {}),
    (r"operator (?P<id>.+) is deregistered", N_("operator %(id)s is deregistered"), {}),
    (r"already registered as (?P<holder>.+)", N_("already registered as %(holder)s"), {}),
    (r"licence (?P<id>.+) is already registered for a period that overlaps (?P<start>.+)\.\.(?P<end>.+); "
     r"change its version instead",
     N_("licence %(id)s is already registered for a period that overlaps %(start)s..%(end)s; change its "
        "version instead"), {"start": _micros, "end": lambda v: _micros(v) if v.isdigit() else gettext(
            N_("open-ended"))}),
    (r"serial (?P<serial>.+) of (?P<maker>.+) is already registered as (?P<holder>.+)",
     N_("serial number %(serial)s of %(maker)s is already registered as %(holder)s"), {}),
))


def registry_message(text: str) -> str | None:
    """The registry's explanation in the current language; None to show it as written."""
    if current_locale() == "en":
        return None
    return REGISTRY_MESSAGES.say(text)
