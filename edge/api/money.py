"""HTTP adapters for money in and out (mobile money) and prepaid credit (grants and OpenPAYGO tokens)."""

from dataclasses import dataclass

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.mobile_money import (
    Callback,
    MobileMoneyCreate,
    MobileMoneyRead,
    get_request,
    handle_callback,
    request_deposit,
    request_withdrawal,
)
from edge.prepaid import (
    OpenPaygoDeviceRead,
    PurchaseCreate,
    PurchaseRead,
    PurchaseResult,
    bulk_buy_credit,
    buy_credit,
    get_purchase,
    provision_openpaygo,
)


@dataclass(frozen=True)
class BulkPurchases:
    purchases: list[PurchaseCreate]


@dataclass(frozen=True)
class OpenPaygoProvision:
    secret_key_hex: str | None = None  # None: the gateway generates one


class MobileMoneyController(Controller):
    path = "/api/mobile-money"
    tags = ("money",)

    @post("/deposits", sync_to_thread=True, status_code=202,
          summary="Ask the operator to collect money into a member's ZMW wallet (pending until its callback)")
    def deposit(self, engine: NamedDependency[Engine], data: JSONBody[MobileMoneyCreate]) -> MobileMoneyRead:
        return request_deposit(engine, data)

    @post("/withdrawals", sync_to_thread=True, status_code=202,
          summary="Pay out from a member's ZMW wallet (reserved until the operator's callback)")
    def withdraw(self, engine: NamedDependency[Engine], data: JSONBody[MobileMoneyCreate]) -> MobileMoneyRead:
        return request_withdrawal(engine, data)

    @get("/{reference:str}", sync_to_thread=False)
    def show(self, engine: NamedDependency[Engine], reference: FromPath[str]) -> MobileMoneyRead:
        return get_request(engine, reference)

    @post("/callback", sync_to_thread=True, status_code=200,
          summary="The operator's answer (idempotent): succeeded or failed")
    def callback(self, engine: NamedDependency[Engine], data: JSONBody[Callback]) -> MobileMoneyRead:
        return handle_callback(engine, data)


class PrepaidController(Controller):
    path = "/api/prepaid"
    tags = ("prepaid",)

    @post("/purchases", sync_to_thread=True,
          summary="Buy kWh credit for a meter from the wallet: a signed grant, or an OpenPAYGO token")
    def buy(self, engine: NamedDependency[Engine], gateway_key: NamedDependency[SigningKey],
            data: JSONBody[PurchaseCreate]) -> PurchaseRead:
        return buy_credit(engine, gateway_key, data)

    @post("/purchases/bulk", sync_to_thread=True, status_code=200,
          summary="Up to 30 purchases; each result reported on its own, in request order")
    def bulk(self, engine: NamedDependency[Engine], gateway_key: NamedDependency[SigningKey],
             data: JSONBody[BulkPurchases]) -> list[PurchaseResult]:
        return bulk_buy_credit(engine, gateway_key, data.purchases)

    @get("/purchases/{purchase_key:str}", sync_to_thread=False)
    def show(self, engine: NamedDependency[Engine], purchase_key: FromPath[str]) -> PurchaseRead:
        return get_purchase(engine, purchase_key)

    @post("/openpaygo/{meter_id:str}", sync_to_thread=True, summary="Provision a meter's OpenPAYGO secret")
    def provision(self, engine: NamedDependency[Engine], meter_id: FromPath[str],
                  data: JSONBody[OpenPaygoProvision]) -> OpenPaygoDeviceRead:
        return provision_openpaygo(engine, meter_id, data.secret_key_hex)
