"""The cooperative's commands for the `enerlectra-edge` console script.

    enerlectra-edge member add --db PATH --phone +260XXXXXXXXX [--name NAME]
    enerlectra-edge member list --db PATH
    enerlectra-edge member link-meter --db PATH --meter-id ID --role consumer|prosumer|producer [--member-id N]
    enerlectra-edge member contribute --db PATH --member-id N --amount-ngwee N [--asset-id N]
    enerlectra-edge cluster add-asset --db PATH --name NAME --kind solar_array|inverter|battery|other
                                      --cost-ngwee N [--rated-power-w N]
    enerlectra-edge wallet balances --db PATH
    enerlectra-edge wallet show --db PATH --member-id N
    enerlectra-edge wallet deposit --db PATH --member-id N --amount-ngwee N   (through the simulated operator)
    enerlectra-edge settle --db PATH [--interval 2026-11-21T10:00Z/15m] [--gateway-key PATH]
    enerlectra-edge price --db PATH

`settle` settles the given interval, or by default every completed interval not settled yet (on a fresh
gateway: the last completed one), printing one line per interval; run again, it changes nothing. The gateway
key defaults to the database path with the suffix `.key` (created on first use, as `serve` does).
Errors print one line on stderr and exit with status 2; nothing is changed.
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from edge.errors import ServiceError
from edge.identity import GatewayKeyError, load_or_create_gateway_key

EXIT_OK = 0
EXIT_REFUSED = 2


def default_key_path(db: str | Path) -> Path:
    return Path(db).with_suffix(".key")


def _open(args):
    from edge.app import open_database

    return open_database(args.db)


def _print_json(value) -> None:
    print(json.dumps(asdict(value)))


def _member_add(args) -> None:
    from edge.members import MemberCreate, add_member

    _print_json(add_member(_open(args), MemberCreate(args.phone, args.name)))


def _member_list(args) -> None:
    from edge.members import list_members

    engine = _open(args)
    after = 0
    while True:  # bounded by the member count: every page moves `after` forward
        page = list_members(engine, after_member_id=after)
        for member in page:
            _print_json(member)
        if not page:
            return
        after = page[-1].member_id


def _member_link(args) -> None:
    from edge.members import MeterLinkCreate, link_meter

    _print_json(link_meter(_open(args), MeterLinkCreate(args.meter_id, args.role, args.member_id)))


def _member_contribute(args) -> None:
    from edge.members import ContributionCreate, contribute

    _print_json(contribute(_open(args), args.member_id, ContributionCreate(args.amount_ngwee, args.asset_id)))


def _asset_add(args) -> None:
    from edge.members import AssetCreate, add_asset

    _print_json(add_asset(_open(args), AssetCreate(args.name, args.kind, args.cost_ngwee, args.rated_power_w)))


def _wallet_balances(args) -> None:
    from edge.wallets import all_wallets

    engine = _open(args)
    print(f"{'member':>7}  {'phone':<14} {'ZMW':>14} {'ZMW available':>14} {'kWh':>12} {'kWh available':>14}")
    after = 0
    while True:  # bounded by the member count
        page = all_wallets(engine, 1_000, after)
        for wallet in page:
            print(f"{wallet.member_id:>7}  {wallet.phone:<14} {wallet.ngwee.balance / 100:>14.2f}"
                  f" {wallet.ngwee.available / 100:>14.2f} {wallet.wh.balance / 1000:>12.3f}"
                  f" {wallet.wh.available / 1000:>14.3f}")
        if not page:
            return
        after = page[-1].member_id


def _wallet_show(args) -> None:
    from edge.members import member_wallet

    print(json.dumps(asdict(member_wallet(_open(args), args.member_id)), indent=2))


def _wallet_deposit(args) -> None:
    from edge.mobile_money import MobileMoneyCreate, MobileMoneySimulator, get_request, request_deposit

    engine = _open(args)
    pending = request_deposit(engine, MobileMoneyCreate(args.member_id, args.amount_ngwee))
    MobileMoneySimulator(success_bp=10_000, silent_bp=0).deliver(engine)
    _print_json(get_request(engine, pending.reference))


def _settle(args) -> None:
    from edge.intervals import parse_interval_id
    from edge.settlement import settle_due, settle_interval

    key_path = args.gateway_key or default_key_path(args.db)
    try:
        key = load_or_create_gateway_key(key_path)
    except (GatewayKeyError, OSError) as err:
        raise ServiceError("gateway_key_unreadable", str(err)) from err
    engine = _open(args)
    if args.interval is not None:
        results = [settle_interval(engine, parse_interval_id(args.interval), key)]
    else:
        results = settle_due(engine, key)
    if not results:
        print("nothing to settle: every completed interval is settled")
    for result in results:
        print(result.line())


def _price(args) -> None:
    from edge.settlement import current_price

    price = current_price(_open(args))
    basis = price.interval_id or "reference tariff, nothing settled yet"
    print(f"{price.price_ngwee_per_kwh / 100:.2f} ZMW/kWh ({basis}), trend {price.trend} "
          f"({price.trend_change_bp / 100:+.1f} %), volatility {price.volatility_bp / 100:.1f} %")


def _run(handler):
    def run(args) -> int:
        try:
            handler(args)
        except ServiceError as err:
            print(f"enerlectra-edge: {err}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK

    return run


def add_commands(subparsers) -> None:
    """Add `member`, `cluster`, `wallet`, `settle` and `price`; each leaf sets `func` (returns the exit code)."""

    def leaf(group, name: str, handler, help_text: str):
        sub = group.add_parser(name, help=help_text)
        sub.add_argument("--db", required=True, help="the gateway's SQLite database")
        sub.set_defaults(func=_run(handler))
        return sub

    member = subparsers.add_parser("member", help="cooperative members").add_subparsers(dest="member_command",
                                                                                       required=True)
    add = leaf(member, "add", _member_add, "register a household")
    add.add_argument("--phone", required=True, help="+260 and 9 digits")
    add.add_argument("--name", default="")
    leaf(member, "list", _member_list, "list members")
    link = leaf(member, "link-meter", _member_link, "link a registered meter to the market")
    link.add_argument("--meter-id", required=True)
    link.add_argument("--role", required=True, choices=("consumer", "prosumer", "producer"))
    link.add_argument("--member-id", type=int, default=None, help="the owner (not for producer meters)")
    contribution = leaf(member, "contribute", _member_contribute, "pay a pooled-purchase contribution")
    contribution.add_argument("--member-id", type=int, required=True)
    contribution.add_argument("--amount-ngwee", type=int, required=True, help="200000..500000 (2,000–5,000 ZMW)")
    contribution.add_argument("--asset-id", type=int, default=None)

    cluster = subparsers.add_parser("cluster", help="the cluster's shared assets").add_subparsers(
        dest="cluster_command", required=True)
    asset = leaf(cluster, "add-asset", _asset_add, "record a shared asset")
    asset.add_argument("--name", required=True)
    asset.add_argument("--kind", required=True, choices=("solar_array", "inverter", "battery", "other"))
    asset.add_argument("--cost-ngwee", type=int, required=True)
    asset.add_argument("--rated-power-w", type=int, default=0)

    wallet = subparsers.add_parser("wallet", help="members' ZMW and kWh wallets").add_subparsers(
        dest="wallet_command", required=True)
    leaf(wallet, "balances", _wallet_balances, "every member's wallets")
    show = leaf(wallet, "show", _wallet_show, "one member's wallets")
    show.add_argument("--member-id", type=int, required=True)
    deposit = leaf(wallet, "deposit", _wallet_deposit, "deposit through the simulated mobile-money operator")
    deposit.add_argument("--member-id", type=int, required=True)
    deposit.add_argument("--amount-ngwee", type=int, required=True)

    settle = subparsers.add_parser("settle", help="settle completed intervals (a re-run changes nothing)")
    settle.add_argument("--db", required=True, help="the gateway's SQLite database")
    settle.add_argument("--interval", default=None, help="e.g. 2026-11-21T10:00Z/15m (default: all due)")
    settle.add_argument("--gateway-key", type=Path, default=None,
                        help="the gateway's key file (default: the database path with suffix .key)")
    settle.set_defaults(func=_run(_settle))

    price = subparsers.add_parser("price", help="the current price, trend and volatility")
    price.add_argument("--db", required=True, help="the gateway's SQLite database")
    price.set_defaults(func=_run(_price))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enerlectra-edge")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
