"""The meter registry: which meters belong to this cluster, and the keys their readings must verify with.

A meter is registered once with its id, key id (kid), Ed25519 public key and its household's phone number.
`register_meter` validates everything first and writes nothing on any error (MeterError says why).
The per-meter totals (`last_seq`, `readings`, latest counters) are kept up to date by the ingest writer in the
same transaction that stores the readings, so reading them never scans the readings table.
"""

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from enerlectra.phone import PhoneNumberError, normalise_phone

KID_BYTES_MAX = 32
PUBLIC_KEY_BYTES = 32
METER_ID_MAX = 64


class Meter(SQLModel, table=True):
    meter_id: str = Field(primary_key=True, max_length=METER_ID_MAX)
    kid: str = Field(unique=True, index=True)  # lower-case hex
    public_key: str  # Ed25519, 32 bytes as hex
    phone: str
    last_seq: int = -1  # -1: nothing accepted yet
    readings: int = 0
    last_time_s: int | None = None
    energy_wh: int | None = None
    energy_out_wh: int | None = None
    power_w: int | None = None
    credit_wh: int | None = None
    depletion_s: int | None = None  # the meter's latest forecast of time until its credit runs out


@dataclass(frozen=True)
class MeterCreate:
    meter_id: str
    kid: str
    public_key: str
    phone: str


@dataclass(frozen=True)
class MeterRead:
    meter_id: str
    kid: str
    public_key: str
    phone: str
    last_seq: int
    readings: int
    last_time_s: int | None
    energy_wh: int | None
    energy_out_wh: int | None
    power_w: int | None
    credit_wh: int | None
    depletion_s: int | None

    @classmethod
    def of(cls, meter: Meter) -> "MeterRead":
        return cls(**{name: getattr(meter, name) for name in cls.__dataclass_fields__})


class MeterError(ValueError):
    """A registration that cannot be accepted; the text is for the person registering."""


def _hex(text: str, what: str, size_min: int, size_max: int) -> str:
    try:
        raw = bytes.fromhex(text)
    except (ValueError, TypeError) as err:
        raise MeterError(f"{what} must be hexadecimal") from err
    if not size_min <= len(raw) <= size_max:
        raise MeterError(f"{what} must be {size_min}..{size_max} bytes, got {len(raw)}")
    return raw.hex()


def validate(request: MeterCreate) -> Meter:
    meter_id = (request.meter_id or "").strip()
    if not meter_id or len(meter_id) > METER_ID_MAX or not meter_id.isprintable():
        raise MeterError(f"meter id must be 1..{METER_ID_MAX} printable characters")
    kid = _hex(request.kid, "kid", 1, KID_BYTES_MAX)
    public_key = _hex(request.public_key, "public key", PUBLIC_KEY_BYTES, PUBLIC_KEY_BYTES)
    try:
        phone = normalise_phone(request.phone)
    except PhoneNumberError as err:
        raise MeterError(str(err)) from err
    return Meter(meter_id=meter_id, kid=kid, public_key=public_key, phone=phone)


def register_meter(engine: Engine, request: MeterCreate) -> MeterRead:
    meter = validate(request)
    with Session(engine) as session:
        clash = session.exec(
            select(Meter).where((Meter.meter_id == meter.meter_id) | (Meter.kid == meter.kid))
        ).first()
        if clash is not None:
            field = "meter id" if clash.meter_id == meter.meter_id else "kid"
            raise MeterError(f"{field} already registered (meter {clash.meter_id})")
        session.add(meter)
        try:
            session.commit()
        except IntegrityError as err:  # a concurrent registration won the race
            raise MeterError("meter id or kid already registered") from err
        session.refresh(meter)
        return MeterRead.of(meter)


def find_meter(engine: Engine, meter_id: str) -> MeterRead | None:
    with Session(engine) as session:
        meter = session.get(Meter, meter_id)
        return MeterRead.of(meter) if meter else None


def find_meter_by_kid(engine: Engine, kid_hex: str) -> MeterRead | None:
    with Session(engine) as session:
        meter = session.exec(select(Meter).where(Meter.kid == kid_hex)).first()
        return MeterRead.of(meter) if meter else None


def list_meters(engine: Engine) -> list[MeterRead]:
    with Session(engine) as session:
        return [MeterRead.of(meter) for meter in session.exec(select(Meter).order_by(Meter.meter_id))]
