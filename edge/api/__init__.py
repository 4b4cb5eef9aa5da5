"""The cooperative's HTTP API (docs/api-gateway.md): members, wallets, mobile money, market, prepaid, settlement.

`cooperative_router(gateway_key)` is everything under /api that the cooperative services offer, as one Litestar
Router with the error translation and the gateway-key dependency; `edge.http_api.create_http_app` mounts it.
Controllers only adapt: each calls one service function and returns its dataclass.
"""

from litestar import Router
from litestar.di import Provide
from nacl.signing import SigningKey

from edge.api._common import EXCEPTION_HANDLERS, gateway_key_provider
from edge.api.market import OrderController, PriceController, SettlementController, TradeController
from edge.api.members import ClusterController, MemberController
from edge.api.money import MobileMoneyController, PrepaidController

CONTROLLERS = (
    MemberController,
    ClusterController,
    MobileMoneyController,
    OrderController,
    TradeController,
    PriceController,
    PrepaidController,
    SettlementController,
)


def cooperative_router(gateway_key: SigningKey | None) -> Router:
    return Router(
        path="/",
        route_handlers=list(CONTROLLERS),
        dependencies={"gateway_key": Provide(gateway_key_provider(gateway_key), sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
    )


__all__ = ("CONTROLLERS", "cooperative_router")
