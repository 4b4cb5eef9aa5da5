"""USSD for households on basic phones, in the callback protocol of the aggregators used in Zambia.

The aggregator (Africa's Talking style) POSTs form fields `sessionId`, `serviceCode`, `phoneNumber` and `text`
(the answers so far, joined with `*`) to `/ussd`, and shows our plain-text reply: `CON …` keeps the session
open for another answer, `END …` closes it. A screen holds at most 182 characters.

`UssdMenu.answer(phone, text) -> str` is the whole dialogue, as pure rules over what the gateway knows; the
controller only unpacks the form. Menu items are data (`MenuItem`), so a service adds its screen without
touching the dialogue.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from edge.meters import Meter, MeterRead
from enerlectra.invariant import invariant
from enerlectra.phone import PhoneNumberError, normalise_phone

SCREEN_CHARS_MAX = 182


def duration_text(seconds: int) -> str:
    """'about 2 days 5 h', 'about 5 h', 'less than 1 h': what fits a small screen and reads at a glance."""
    hours = seconds // 3600
    if hours < 1:
        return "less than 1 h"
    days, hours = divmod(hours, 24)
    if not days:
        return f"about {hours} h"
    return f"about {days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")


def credit_screen(meters: list[MeterRead]) -> str:
    if not meters:
        return "END No meter is registered to this number."
    lines = []
    for meter in meters[:3]:  # a household has one or two; three fill the screen
        if meter.credit_wh is None:
            lines.append(f"{meter.meter_id}: no reading yet")
            continue
        line = f"{meter.meter_id}: {meter.credit_wh / 1000:.1f} kWh"
        if meter.depletion_s is not None:
            line += f", {duration_text(meter.depletion_s)} left"
        lines.append(line)
    return "END Credit\n" + "\n".join(lines)


@dataclass(frozen=True)
class MenuItem:
    label: str
    # (engine, phone, answers after this item's number) -> reply starting with CON or END
    answer: Callable[[Engine, str, list[str]], str]


class UssdMenu:
    def __init__(self, engine: Engine, items: list[MenuItem]):
        invariant(0 < len(items) <= 9, "a USSD menu offers 1 to 9 items (one key each)")
        self.engine = engine
        self.items = items

    def answer(self, phone_text: str, text: str) -> str:
        try:
            phone = normalise_phone(phone_text)
        except PhoneNumberError:
            return "END This service is for Zambian numbers (+260)."
        answers = [part.strip() for part in text.split("*")] if text else []
        if not answers:
            reply = "CON Enerlectra\n" + "\n".join(f"{n}. {item.label}" for n, item in enumerate(self.items, 1))
        elif not answers[0].isdigit() or not 1 <= int(answers[0]) <= len(self.items):
            reply = "END Unknown choice. Dial again to see the menu."
        else:
            reply = self.items[int(answers[0]) - 1].answer(self.engine, phone, answers[1:])
        invariant(reply.startswith(("CON ", "END ")), "a USSD reply starts with CON or END")
        # Never let a screen overflow: the aggregator would cut it mid-word or drop the session.
        return reply if len(reply) <= SCREEN_CHARS_MAX else reply[: SCREEN_CHARS_MAX - 1] + "…"


def meters_of_phone(engine: Engine, phone: str) -> list[MeterRead]:
    with Session(engine) as session:
        statement = select(Meter).where(Meter.phone == phone).order_by(Meter.meter_id)
        return [MeterRead.of(meter) for meter in session.exec(statement)]


CREDIT_ITEM = MenuItem("Credit left", lambda engine, phone, _: credit_screen(meters_of_phone(engine, phone)))


@dataclass
class UssdCallback:
    sessionId: str
    serviceCode: str
    phoneNumber: str
    text: str = ""


class UssdController(Controller):
    path = "/ussd"

    @post("/", sync_to_thread=False, status_code=200, media_type="text/plain")
    def callback(
        self,
        ussd_menu: NamedDependency[UssdMenu],
        data: Annotated[UssdCallback, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> str:
        return ussd_menu.answer(data.phoneNumber, data.text or "")
