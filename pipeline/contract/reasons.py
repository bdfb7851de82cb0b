"""Every rejection reason an operator can receive, described in Ukrainian and in English.

The texts are what an operator's developer and an official read in the published contract
(``dsom contract``); the limits they quote come from the settings in force, so they never
drift from what the validator applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.core.model import Reason
from pipeline.core.validation import MAX_TEXT
from pipeline.settings import DAY_US, REPO_ROOT, SECOND_US, ValidationSettings

Scope = Literal["record", "event"]


@dataclass(frozen=True)
class ReasonText:
    """Whether a reason rejects the whole record or one event, and what it means."""

    scope: Scope
    en: str
    uk: str


def _uk_days(n: int) -> str:
    """``n`` днів with the Ukrainian plural (1 день, 2 дні, 5 днів, 21 день)."""
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} день"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} дні"
    return f"{n} днів"


def _group(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def reason_texts(v: ValidationSettings) -> dict[Reason, ReasonText]:
    """The description of every :class:`Reason`, with the limits of ``v`` filled in."""
    late, horizon = v.late_window_us // DAY_US, v.bet_horizon_us // DAY_US
    skew_min = v.future_skew_us // (60 * SECOND_US)
    max_kop, max_uah = v.max_amount_kopecks, v.max_amount_kopecks // 100
    rec: Scope = "record"
    ev: Scope = "event"
    texts: dict[Reason, ReasonText] = {
        Reason.UNKNOWN_SCHEMA: ReasonText(
            rec, "The record is not Avro single-object encoded, or names a schema fingerprint dsom does not "
                 "know: use the published schema files unchanged.",
            "Запис не закодовано як окремий об'єкт Avro (single-object encoding) або в ньому зазначено "
            "відбиток схеми, невідомий системі: використовуйте опубліковані файли схем без змін."),
        Reason.MALFORMED: ReasonText(
            rec, "The schema is known, but the body is not strict Avro binary; the detail names the field, "
                 "the byte offset and what was expected there.",
            "Схема відома, але тіло запису не відповідає строгому двійковому кодуванню Avro; у поясненні "
            "зазначено поле, зміщення в байтах і те, що очікувалося в цьому місці."),
        Reason.WRONG_KEY: ReasonText(
            rec, "The Kafka record key is not the batch's source_id.",
            "Ключ запису Kafka не збігається з ідентифікатором джерела (source_id) пакета."),
        Reason.EMPTY_BATCH: ReasonText(
            rec, "The batch carries no events.", "Пакет не містить жодної події."),
        Reason.BATCH_TOO_LARGE: ReasonText(
            rec, f"The batch carries more than {_group(v.max_events_per_batch, ',')} events.",
            f"Пакет містить понад {_group(v.max_events_per_batch, ' ')} подій."),
        Reason.RECORD_TOO_LARGE: ReasonText(
            rec, f"The record's value is larger than {_group(v.max_record_bytes, ',')} bytes before "
                 "compression: split the batch into several records.",
            f"Розмір значення запису до стиснення перевищує {_group(v.max_record_bytes, ' ')} байтів: "
            "розділіть пакет на кілька записів."),
        Reason.INVALID_SOURCE_ID: ReasonText(
            rec, "The record key (the source_id) is not 1 to 64 characters of A-Z a-z 0-9 . _ : -.",
            "Ключ запису (source_id) не є рядком завдовжки від 1 до 64 символів із набору "
            "A-Z a-z 0-9 . _ : -."),
        Reason.WRONG_PARTITION: ReasonText(
            rec, "The record is not on its source's home partition (the detail names it); nothing in it "
                 "was counted: send it again to that partition.",
            "Запис надіслано не до домашнього розділу (partition) його джерела (номер розділу зазначено "
            "в поясненні); жодну подію із запису не враховано: надішліть запис повторно до цього розділу."),
        Reason.UNPROCESSABLE: ReasonText(
            rec, "dsom could not process the record and set it aside for investigation; nothing in it was "
                 "counted: send its events again.",
            "Система не змогла опрацювати запис і відклала його для з'ясування причин; жодну подію із "
            "запису не враховано: надішліть ці події повторно."),
        Reason.WRONG_OPERATOR: ReasonText(
            ev, "The batch names an operator other than the owner of the ingest topic.",
            "У пакеті зазначено іншого оператора, ніж власник топіка, до якого його надіслано."),
        Reason.INVALID_SEQUENCE: ReasonText(
            ev, "seq is less than 1.", "Порядковий номер події (seq) менший за 1."),
        Reason.SEQUENCE_GAP_EXPIRED: ReasonText(
            ev, f"The source left more than {_group(v.max_open_gaps_per_source, ',')} gaps in its numbering; "
                "the oldest were closed, and this seq falls in one of them.",
            f"Джерело залишило понад {_group(v.max_open_gaps_per_source, ' ')} пропусків у нумерації подій; "
            "найстаріші пропуски закрито, і цей порядковий номер припадає на один із них."),
        Reason.CONFLICTING_DUPLICATE: ReasonText(
            ev, "This (source_id, seq) was already decided with other content (the detail names the first "
                "receipt ID); the first event stands and this one counts nowhere: a corrected event needs "
                "a new seq.",
            "Подію з таким ідентифікатором (source_id, seq) уже опрацьовано з іншим змістом (у поясненні "
            "зазначено ідентифікатор першої квитанції); чинною залишається перша подія, а ця ніде не "
            "враховується: виправлену подію надсилайте з новим порядковим номером."),
        Reason.UNKNOWN_LICENCE: ReasonText(
            ev, "licence_id is not a licence registered to this operator.",
            "Ліцензію licence_id не зареєстровано за цим оператором."),
        Reason.LICENCE_KIND_MISMATCH: ReasonText(
            ev, "licence_kind is not the kind of the licence in the registry.",
            "Вид ліцензії (licence_kind) не відповідає виду, зазначеному в реєстрі ліцензій."),
        Reason.LICENCE_INACTIVE: ReasonText(
            ev, "The licence was not valid when the event occurred.",
            "Ліцензія не була чинною на момент події."),
        Reason.LICENCE_SUSPENDED: ReasonText(
            ev, "The regulator had suspended or revoked the licence when the event occurred (the detail "
                "says which, and since when).",
            "На момент події дію ліцензії було зупинено або ліцензію анульовано регулятором (у поясненні "
            "зазначено, що саме і з якого часу)."),
        Reason.NON_POSITIVE_AMOUNT: ReasonText(
            ev, "amount is zero or negative.", "Сума (amount) дорівнює нулю або є від'ємною."),
        Reason.ABSURD_AMOUNT: ReasonText(
            ev, f"amount is above {_group(max_kop, ',')} kopecks ({_group(max_uah, ',')} UAH).",
            f"Сума (amount) перевищує {_group(max_kop, ' ')} копійок ({_group(max_uah, ' ')} грн)."),
        Reason.WRONG_CURRENCY: ReasonText(
            ev, f"currency is not {v.currency}.", f"Код валюти (currency) не є {v.currency}."),
        Reason.FUTURE_TIME: ReasonText(
            ev, f"occurred_at_us is more than {skew_min} minutes ahead of dsom's clock (check the clock, "
                "and that the time is in microseconds).",
            f"Час події (occurred_at_us) випереджає час системи більш ніж на {skew_min} хв (перевірте "
            "годинник і те, що час зазначено в мікросекундах)."),
        Reason.TOO_LATE: ReasonText(
            ev, f"occurred_at_us is older than the late window of {late} days.",
            f"Подія (occurred_at_us) старша за допустимий строк подання: {_uk_days(late)}."),
        Reason.PERSONAL_DATA: ReasonText(
            ev, "player_ref looks like personal data (the detail says what: a payment card, a phone "
                "number, an RNOKPP, an IBAN, an e-mail address, a name); it is not stored: send a "
                "pseudonym.",
            "Псевдонім гравця (player_ref) схожий на персональні дані (у поясненні зазначено, на які "
            "саме: номер платіжної картки, номер телефону, РНОКПП, IBAN, адреса електронної пошти, ім'я); "
            "такі дані не зберігаються: надсилайте псевдонім."),
        Reason.INVALID_PLAYER_REF: ReasonText(
            ev, "player_ref is not 8 to 64 characters of A-Z a-z 0-9 _ -.",
            "Псевдонім гравця (player_ref) не є рядком завдовжки від 8 до 64 символів із набору "
            "A-Z a-z 0-9 _ -."),
        Reason.MISSING_FIELD: ReasonText(
            ev, "A field the kind of event or the channel requires is missing (the detail names it).",
            "Відсутнє поле, обов'язкове для цього виду події або каналу (його назву зазначено в поясненні)."),
        Reason.FIELD_NOT_ALLOWED: ReasonText(
            ev, "Withheld tax is given on an event other than a payout of winnings (WIN).",
            "Утриманий податок зазначено для події іншого виду, ніж виплата виграшу (WIN)."),
        Reason.CHANNEL_NOT_ALLOWED: ReasonText(
            ev, "The licence kind may not use this channel (establishment, website or app).",
            "Цей вид ліцензії не дозволяє провадити діяльність через зазначений канал (гральний заклад, "
            "вебсайт або мобільний застосунок)."),
        Reason.UNKNOWN_BET: ReasonText(
            ev, f"A WIN or REFUND whose bet_ref this source has not placed within {horizon} days.",
            "Виплата виграшу (WIN) або повернення ставки (REFUND) посилається на ставку (bet_ref), якої "
            f"це джерело не приймало протягом {_uk_days(horizon)}."),
        Reason.INVALID_TAX: ReasonText(
            ev, "Withheld tax is negative or above the amount paid out.",
            "Сума утриманого податку від'ємна або перевищує суму виплати."),
        Reason.FIELD_TOO_LONG: ReasonText(
            ev, f"A text field is longer than {MAX_TEXT} characters.",
            f"Текстове поле довше за {MAX_TEXT} символів."),
        Reason.DUPLICATE_BET_REF: ReasonText(
            ev, "A BET reuses a bet_ref already accepted.",
            "Ставка (BET) використовує ідентифікатор bet_ref, який уже було прийнято раніше."),
        Reason.REFUND_EXCEEDS_STAKE: ReasonText(
            ev, "A REFUND above its bet's refundable amount: the stake minus the refunds already accepted "
                "for it (the detail states the arithmetic).",
            "Сума повернення (REFUND) перевищує суму, доступну для повернення за ставкою: розмір ставки за "
            "вирахуванням уже прийнятих повернень (розрахунок наведено в поясненні)."),
    }
    missing = set(Reason) - set(texts)
    if missing:  # a new reason must be described before it can be published
        raise LookupError(f"reasons without a description: {sorted(missing)}")
    return texts


# The operators' guide (schemas/README.md) carries the table below between these two lines, written
# by ``python -m pipeline.contract.reasons`` (``make i18n``); tests/pipeline/contract/test_reasons.py
# fails while the guide's copy differs from what the table gives.
GUIDE_BEGIN = "<!-- reasons: generated by python -m pipeline.contract.reasons; do not edit -->"
GUIDE_END = "<!-- reasons: end -->"
_SCOPES = {"record": ("record", "запис"), "event": ("event", "подія")}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def guide_table(v: ValidationSettings) -> str:
    """Every reason code with its scope and description in Ukrainian and in English, as Markdown."""
    rows = ["| код / code | область / scope | українською | in English |", "| --- | --- | --- | --- |"]
    for code, text in reason_texts(v).items():
        en, uk = _SCOPES[text.scope]
        rows.append(f"| `{code.value}` | {uk} / {en} | {_cell(text.uk)} | {_cell(text.en)} |")
    return "\n".join(rows)


def with_guide_table(guide: str, v: ValidationSettings) -> str:
    """``guide`` with the text between :data:`GUIDE_BEGIN` and :data:`GUIDE_END` replaced by the table."""
    head, begin, rest = guide.partition(GUIDE_BEGIN)
    _old, end, tail = rest.partition(GUIDE_END)
    if not begin or not end:
        raise ValueError(f"the guide has no {GUIDE_BEGIN!r} ... {GUIDE_END!r} block")
    return f"{head}{GUIDE_BEGIN}\n{guide_table(v)}\n{GUIDE_END}{tail}"


def main() -> int:
    """Write the table into schemas/README.md, with the default limits (the contract: those in force)."""
    path = REPO_ROOT / "schemas" / "README.md"
    old = path.read_text(encoding="utf-8")
    new = with_guide_table(old, ValidationSettings())
    if new != old:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: the rejection reasons' table rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
