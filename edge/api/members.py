"""HTTP adapters for members, their wallets and contributions, and the cluster (assets, meters, wallets)."""

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.engine import Engine

from edge.limits import PAGE_MAX
from edge.members import (
    AssetCreate,
    AssetRead,
    ClusterRead,
    ContributionCreate,
    ContributionRead,
    MemberCreate,
    MemberRead,
    MeterLinkCreate,
    MeterLinkRead,
    add_asset,
    add_member,
    cluster_summary,
    contribute,
    find_member_by_phone,
    get_member,
    link_meter,
    list_assets,
    list_contributions,
    list_members,
    list_meter_links,
    member_wallet,
)
from edge.prepaid import PurchaseRead, list_purchases
from edge.settlement import CarbonRead, StatementLine, cluster_carbon_report, member_carbon_report, member_statement
from edge.wallets import WalletRead, all_wallets

Limit = Annotated[int, QueryParameter(ge=1, le=PAGE_MAX)]
After = Annotated[int, QueryParameter(ge=0)]


@dataclass(frozen=True)
class ContributionBody:
    amount_ngwee: int
    asset_id: int | None = None
    request_key: str | None = None


class MemberController(Controller):
    path = "/api/members"
    tags = ("members",)

    @post("/", sync_to_thread=True, summary="Register a household (Zambian phone number)")
    def add(self, engine: NamedDependency[Engine], data: JSONBody[MemberCreate]) -> MemberRead:
        return add_member(engine, data)

    @get("/", sync_to_thread=False, summary="Members by id, a page at a time")
    def list_all(self, engine: NamedDependency[Engine], limit: Limit = 100, after: After = 0) -> list[MemberRead]:
        return list_members(engine, limit, after)

    @get("/{member_id:int}", sync_to_thread=False)
    def show(self, engine: NamedDependency[Engine], member_id: FromPath[int]) -> MemberRead:
        return get_member(engine, member_id)

    @get("/by-phone/{phone:str}", sync_to_thread=False, summary="The member with this phone number")
    def by_phone(self, engine: NamedDependency[Engine], phone: FromPath[str]) -> MemberRead:
        return find_member_by_phone(engine, phone)

    @get("/{member_id:int}/wallet", sync_to_thread=False, summary="ZMW (ngwee) and kWh (Wh) wallets")
    def wallet(self, engine: NamedDependency[Engine], member_id: FromPath[int]) -> WalletRead:
        return member_wallet(engine, member_id)

    @post("/{member_id:int}/contributions", sync_to_thread=True,
          summary="Pay a pooled-purchase contribution (2,000–5,000 ZMW) from the ZMW wallet")
    def contribute(self, engine: NamedDependency[Engine], member_id: FromPath[int],
                   data: JSONBody[ContributionBody]) -> ContributionRead:
        return contribute(engine, member_id, ContributionCreate(data.amount_ngwee, data.asset_id, data.request_key))

    @get("/{member_id:int}/contributions", sync_to_thread=False)
    def contributions(self, engine: NamedDependency[Engine], member_id: FromPath[int]) -> list[ContributionRead]:
        return list_contributions(engine, member_id)

    @get("/{member_id:int}/statement", sync_to_thread=False, summary="Per settled interval: used, allocated, traded")
    def statement(self, engine: NamedDependency[Engine], member_id: FromPath[int],
                  limit: Limit = 96) -> list[StatementLine]:
        return member_statement(engine, member_id, limit)

    @get("/{member_id:int}/carbon", sync_to_thread=False, summary="CO2 avoided by the renewable energy it used")
    def carbon(self, engine: NamedDependency[Engine], member_id: FromPath[int]) -> CarbonRead:
        return member_carbon_report(engine, member_id)

    @get("/{member_id:int}/purchases", sync_to_thread=False, summary="Prepaid purchases, newest first")
    def purchases(self, engine: NamedDependency[Engine], member_id: FromPath[int],
                  limit: Limit = 100) -> list[PurchaseRead]:
        return list_purchases(engine, member_id, limit)


class ClusterController(Controller):
    path = "/api/cluster"
    tags = ("cluster",)

    @get("/", sync_to_thread=False, summary="Members, shares, assets, capacity, producer meters")
    def summary(self, engine: NamedDependency[Engine]) -> ClusterRead:
        return cluster_summary(engine)

    @get("/assets", sync_to_thread=False)
    def assets(self, engine: NamedDependency[Engine]) -> list[AssetRead]:
        return list_assets(engine)

    @post("/assets", sync_to_thread=True, summary="Record a shared asset (solar array, inverter, battery)")
    def add_asset(self, engine: NamedDependency[Engine], data: JSONBody[AssetCreate]) -> AssetRead:
        return add_asset(engine, data)

    @get("/meters", sync_to_thread=False, summary="Meters taking part in the market, with their roles")
    def meters(self, engine: NamedDependency[Engine]) -> list[MeterLinkRead]:
        return list_meter_links(engine)

    @post("/meters", sync_to_thread=True,
          summary="Link a registered meter: consumer or prosumer of a member, or the cluster's producer")
    def link(self, engine: NamedDependency[Engine], data: JSONBody[MeterLinkCreate]) -> MeterLinkRead:
        return link_meter(engine, data)

    @get("/wallets", sync_to_thread=False, summary="Every member's wallets, a page at a time")
    def wallets(self, engine: NamedDependency[Engine], limit: Limit = 100, after: After = 0) -> list[WalletRead]:
        return all_wallets(engine, limit, after)

    @get("/carbon", sync_to_thread=False, summary="CO2 avoided by the whole cluster")
    def carbon(self, engine: NamedDependency[Engine]) -> CarbonRead:
        return cluster_carbon_report(engine)
