"""SMS to households: a durable outbox on the gateway, and the SMS centre it hands messages to.

enqueue(engine, phone, text, key) -> bool
    Queues one message; `key` makes it idempotent (False when that key was queued before). Raises SmsError for
    a number that is not Zambian or a text longer than one SMS (160 GSM characters): alerts must fit one.
deliver_due(engine, centre, now_s) -> DeliveryReport
    Hands every due message to the centre. A temporary failure (throttled, network) is retried with
    exponential back-off; a permanent one (unknown subscriber) or the last attempt marks it failed.

There is no SMS centre on this machine, so `SimulatedSmsCentre` stands in for one and behaves like the real
thing: it refuses numbers outside +260, rejects texts over 160 characters, throttles more than
`messages_per_second`, fails a seeded fraction of submissions temporarily, and says "unknown subscriber" for the
numbers it is told are unallocated. What it delivered is kept in `delivered`, like a phone's inbox.
"""

import random
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from enerlectra.phone import PhoneNumberError, normalise_phone

SMS_CHARS_MAX = 160
ATTEMPTS_MAX = 5
RETRY_FIRST_S = 30  # then 60, 120, 240: a network blip clears, a dead number stops being tried
DELIVERIES_PER_RUN_MAX = 500


class SmsError(ValueError):
    """A message that cannot be sent as asked."""


class SmsOutboxRow(SQLModel, table=True):
    __tablename__ = "sms_outbox"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    phone: str
    text: str
    status: str = Field(default="queued", index=True)  # queued | sent | failed
    attempts: int = 0
    next_attempt_s: int = 0
    provider_id: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class SubmitResult:
    ok: bool
    provider_id: str | None = None
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int


def enqueue(engine: Engine, phone: str, text: str, key: str) -> bool:
    try:
        phone = normalise_phone(phone)
    except PhoneNumberError as err:
        raise SmsError(str(err)) from err
    if not text or len(text) > SMS_CHARS_MAX:
        raise SmsError(f"an SMS holds 1 to {SMS_CHARS_MAX} characters, got {len(text)}")
    with Session(engine) as session:
        session.add(SmsOutboxRow(key=key, phone=phone, text=text))
        try:
            session.commit()
        except IntegrityError:
            return False
    return True


def deliver_due(engine: Engine, centre: "SimulatedSmsCentre", now_s: int) -> DeliveryReport:
    sent = retrying = failed = 0
    with Session(engine) as session:
        due = session.exec(
            select(SmsOutboxRow)
            .where(SmsOutboxRow.status == "queued", SmsOutboxRow.next_attempt_s <= now_s)
            .order_by(SmsOutboxRow.id)
            .limit(DELIVERIES_PER_RUN_MAX)
        ).all()
        for row in due:
            result = centre.submit(row.phone, row.text, now_s)
            row.attempts += 1
            if result.ok:
                row.status, row.provider_id, row.last_error = "sent", result.provider_id, None
                sent += 1
            elif result.permanent or row.attempts >= ATTEMPTS_MAX:
                row.status, row.last_error = "failed", result.error
                failed += 1
            else:
                row.last_error = result.error
                row.next_attempt_s = now_s + RETRY_FIRST_S * 2 ** (row.attempts - 1)
                retrying += 1
            session.add(row)
            session.commit()  # per message: a crash never re-sends what the centre already accepted twice
    return DeliveryReport(sent, retrying, failed)


@dataclass
class SimulatedSmsCentre:
    messages_per_second: int = 20
    temporary_failure_rate: float = 0.0
    unallocated: set[str] = field(default_factory=set)
    seed: int = 0
    delivered: list[tuple[str, str]] = field(default_factory=list)
    _window: tuple[int, int] = (0, 0)  # (second, submissions in it)

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def submit(self, phone: str, text: str, now_s: int) -> SubmitResult:
        if not phone.startswith("+260"):
            return SubmitResult(False, error="destination not served", permanent=True)
        if len(text) > SMS_CHARS_MAX:
            return SubmitResult(False, error="message too long", permanent=True)
        second, count = self._window
        count = count + 1 if second == now_s else 1
        self._window = (now_s, count)
        if count > self.messages_per_second:
            return SubmitResult(False, error="throttled")
        if phone in self.unallocated:
            return SubmitResult(False, error="unknown subscriber", permanent=True)
        if self._random.random() < self.temporary_failure_rate:
            return SubmitResult(False, error="SMSC temporarily unavailable")
        self.delivered.append((phone, text))
        return SubmitResult(True, provider_id=f"SMSC-{len(self.delivered):08d}")
