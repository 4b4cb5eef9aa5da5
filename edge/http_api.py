"""The gateway's local HTTP API (Litestar): controllers only; the rules live in the service modules.

OpenAPI at /schema/openapi.json. Errors reach clients as JSON `{"detail": ...}`, never as stack traces.
"""

from typing import Annotated

from litestar import Controller, Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, JSONBody, QueryParameter
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.api import cooperative_router
from edge.meters import MeterCreate, MeterError, MeterRead, find_meter, list_meters, register_meter
from edge.readings import recent_readings
from edge.ussd import CREDIT_ITEM, UssdController, UssdMenu

READINGS_PAGE_MAX = 1000


class MeterController(Controller):
    path = "/api/meters"

    @get("/", sync_to_thread=False)
    def list_all(self, engine: NamedDependency[Engine]) -> list[MeterRead]:
        return list_meters(engine)

    @post("/", sync_to_thread=False)
    def register(self, engine: NamedDependency[Engine], data: JSONBody[MeterCreate]) -> MeterRead:
        try:
            return register_meter(engine, data)
        except MeterError as err:
            raise ValidationException(str(err)) from err

    @get("/{meter_id:str}", sync_to_thread=False)
    def show(self, engine: NamedDependency[Engine], meter_id: FromPath[str]) -> MeterRead:
        meter = find_meter(engine, meter_id)
        if meter is None:
            raise NotFoundException(f"no meter {meter_id!r}")
        return meter

    @get("/{meter_id:str}/readings", sync_to_thread=False)
    def readings(
        self,
        engine: NamedDependency[Engine],
        meter_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=READINGS_PAGE_MAX)] = 100,
    ) -> list[dict]:
        if find_meter(engine, meter_id) is None:
            raise NotFoundException(f"no meter {meter_id!r}")
        return [row.model_dump(exclude={"message_digest"}) for row in recent_readings(engine, meter_id, limit)]


def create_http_app(engine: Engine, extra_controllers: tuple = (), ussd_items: tuple = (),
                    gateway_key: SigningKey | None = None) -> Litestar:
    """The gateway's HTTP app; `ussd_items` are menu entries (edge.ussd.MenuItem) after "Credit left".

    `gateway_key` signs what the cooperative API issues (credit grants, interval seals); without it those
    endpoints answer 503 and everything else works.
    """
    ussd_menu = UssdMenu(engine, [CREDIT_ITEM, *ussd_items])

    def provide_engine() -> Engine:
        return engine

    def provide_ussd_menu() -> UssdMenu:
        return ussd_menu

    return Litestar(
        route_handlers=[MeterController, UssdController, cooperative_router(gateway_key), *extra_controllers],
        dependencies={
            "engine": Provide(provide_engine, sync_to_thread=False),
            "ussd_menu": Provide(provide_ussd_menu, sync_to_thread=False),
        },
        openapi_config=OpenAPIConfig(title="Enerlectra cluster gateway", version="0.1.0"),
    )
