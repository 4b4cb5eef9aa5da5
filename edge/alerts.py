"""Low-credit alerts by SMS, from each meter's own forecast of when its credit runs out (docs/forecasting.md).

scan(engine) -> int
    Compares every meter's latest forecast (`depletion_s`, reported in its readings) with the alert
    thresholds, and queues one SMS when a meter's alert level rises; returns how many were queued.
    A level only falls back once the forecast is 25% above the threshold, so a forecast hovering at the
    threshold does not send a message every minute (the meter's display uses the same rule).
"""

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from edge.meters import Meter
from edge.sms import enqueue
from edge.ussd import duration_text

# Levels: 0 none, then one per threshold crossed, most urgent last.
THRESHOLDS_S = (24 * 3600, 6 * 3600)
HYSTERESIS_PERCENT = 125
USSD_CODE = "*384*1#"


class MeterAlertState(SQLModel, table=True):
    __tablename__ = "meter_alert"
    meter_id: str = Field(foreign_key="meter.meter_id", primary_key=True)
    level: int = 0
    raised_count: int = 0  # makes each SMS's idempotency key unique per raise


def alert_level(depletion_s: int | None, previous_level: int) -> int:
    """The alert level for a forecast, with hysteresis on the way down.

    >>> alert_level(5 * 3600, 0), alert_level(20 * 3600, 0), alert_level(40 * 3600, 1)
    (2, 1, 0)
    >>> alert_level(7 * 3600, 2)  # above 6 h but not by 25%: stays urgent
    2
    """
    if depletion_s is None:
        return previous_level
    level = sum(1 for threshold in THRESHOLDS_S if depletion_s <= threshold)
    if level < previous_level:
        # Fall back only as far as the forecast clears each threshold by the margin.
        level = sum(1 for index, threshold in enumerate(THRESHOLDS_S)
                    if index < previous_level and depletion_s * 100 <= threshold * HYSTERESIS_PERCENT)
    return level


def alert_text(meter: Meter) -> str:
    credit = f" ({meter.credit_wh / 1000:.1f} kWh)" if meter.credit_wh is not None else ""
    return (f"Enerlectra: meter {meter.meter_id} has {duration_text(meter.depletion_s)} of credit left{credit}. "
            f"Dial {USSD_CODE} to buy more.")


def scan(engine: Engine) -> int:
    queued = 0
    with Session(engine) as session:
        states = {state.meter_id: state for state in session.exec(select(MeterAlertState))}
        for meter in session.exec(select(Meter).where(Meter.depletion_s.is_not(None))):
            state = states.get(meter.meter_id) or MeterAlertState(meter_id=meter.meter_id)
            level = alert_level(meter.depletion_s, state.level)
            if level == state.level:
                continue
            if level > state.level:
                state.raised_count += 1
                key = f"credit-alert:{meter.meter_id}:{state.raised_count}"
                queued += enqueue(engine, meter.phone, alert_text(meter), key)
            state.level = level
            session.add(state)
        session.commit()
    return queued


async def alert_forever(engine: Engine, centre, period_s: float = 30.0) -> None:
    """The gateway's alert loop: scan forecasts, hand due SMS to the centre, sleep; never blocks ingest long."""
    import asyncio
    import logging
    import time

    from edge.sms import deliver_due

    log = logging.getLogger(__name__)
    while True:
        try:
            scan(engine)
            deliver_due(engine, centre, int(time.time()))
        except Exception:  # a database hiccup must not end alerting for good: log it and try next round
            log.exception("alert round failed")
        await asyncio.sleep(period_s)
