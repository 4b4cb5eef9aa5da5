"""Credit grants: prepaid energy the gateway has sold to a household, signed for its meter (docs/downlink.md).

issue_grant(engine, signing_key, meter_id, credit_wh, purchase_key) -> IssuedGrant
    Signs and stores the next grant for the meter. Idempotent on `purchase_key`: issuing again for the same
    purchase returns the grant already issued (same id, same bytes), so a retried purchase never credits twice.
    Raises GrantError for an unknown meter or a credit outside 1..CREDIT_WH_MAX.
grants_after(engine, meter_kid, after_grant_id, limit) -> list[bytes]
    The signed grants the meter has not applied yet, oldest first (what CoAP `GET /g` returns).
"""

import time
from dataclasses import dataclass

from nacl.signing import SigningKey
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, func, select

from edge.meters import Meter
from enerlectra.downlink import CREDIT_WH_MAX, CreditGrant, encode_grant

GRANTS_PER_POLL_MAX = 8


class CreditGrantRow(SQLModel, table=True):
    __tablename__ = "credit_grant"
    meter_id: str = Field(foreign_key="meter.meter_id", primary_key=True)
    grant_id: int = Field(primary_key=True)
    purchase_key: str = Field(unique=True)
    credit_wh: int
    issued_at_s: int
    signed: bytes


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    meter_id: str
    grant_id: int
    credit_wh: int
    signed: bytes


class GrantError(ValueError):
    """A grant that cannot be issued; the text is for the person buying credit."""


def issue_grant(engine: Engine, signing_key: SigningKey, meter_id: str, credit_wh: int,
                purchase_key: str) -> IssuedGrant:
    if not isinstance(credit_wh, int) or not 0 < credit_wh <= CREDIT_WH_MAX:
        raise GrantError(f"credit must be 1..{CREDIT_WH_MAX} Wh")
    with Session(engine) as session:
        existing = session.exec(select(CreditGrantRow).where(CreditGrantRow.purchase_key == purchase_key)).first()
        if existing is not None:
            if existing.meter_id != meter_id or existing.credit_wh != credit_wh:
                raise GrantError(f"purchase {purchase_key!r} was already granted with other details")
            return IssuedGrant(existing.meter_id, existing.grant_id, existing.credit_wh, existing.signed)
        meter = session.get(Meter, meter_id)
        if meter is None:
            raise GrantError(f"no meter {meter_id!r}")
        last = session.exec(select(func.max(CreditGrantRow.grant_id)).where(CreditGrantRow.meter_id == meter_id)).one()
        grant = CreditGrant(bytes.fromhex(meter.kid), (last or 0) + 1, credit_wh, int(time.time()))
        row = CreditGrantRow(meter_id=meter_id, grant_id=grant.grant_id, purchase_key=purchase_key,
                             credit_wh=credit_wh, issued_at_s=grant.issued_at_s,
                             signed=encode_grant(grant, signing_key))
        session.add(row)
        try:
            session.commit()
        except IntegrityError as err:  # a concurrent issue for the same meter or purchase won: caller retries
            raise GrantError("grant issued concurrently; retry") from err
        return IssuedGrant(meter_id, row.grant_id, credit_wh, row.signed)


def grants_after(engine: Engine, meter_kid: bytes, after_grant_id: int,
                 limit: int = GRANTS_PER_POLL_MAX) -> list[bytes]:
    with Session(engine) as session:
        meter = session.exec(select(Meter).where(Meter.kid == meter_kid.hex())).first()
        if meter is None:
            return []
        statement = (
            select(CreditGrantRow.signed)
            .where(CreditGrantRow.meter_id == meter.meter_id, CreditGrantRow.grant_id > after_grant_id)
            .order_by(CreditGrantRow.grant_id)
            .limit(min(limit, GRANTS_PER_POLL_MAX))
        )
        return list(session.exec(statement))
