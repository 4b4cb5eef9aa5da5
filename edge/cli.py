"""`enerlectra-edge`: run the cluster gateway and administer it from a shell.

    enerlectra-edge serve --db PATH [--host 127.0.0.1] [--coap-port 5683] [--http-port 8080] [--gateway-key PATH]
    enerlectra-edge meter add --db PATH --meter-id ID --kid HEX --public-key HEX --phone +260XXXXXXXXX
    enerlectra-edge meter list --db PATH
    enerlectra-edge meter show --db PATH --meter-id ID
    enerlectra-edge ledger verify --db PATH [--gateway-key PATH]
    enerlectra-edge ledger balances --db PATH
    enerlectra-edge member|cluster|wallet|settle|price ...   (the cooperative: see edge/commands.py)

Errors print one line on stderr and exit with status 2; nothing is changed.
"""

import argparse
import json
import os
import sys
from dataclasses import asdict

from edge import commands as cooperative_commands
from edge.app import COAP_PORT, HTTP_PORT, open_database, run
from edge.ledger import commands as ledger_commands
from edge.meters import MeterCreate, MeterError, find_meter, list_meters, register_meter

DEFAULT_DB = os.environ.get("ENERLECTRA_DB", "enerlectra-edge.db")


class CommandError(Exception):
    """A command that cannot be carried out; the text is for the operator."""


def _serve(args) -> None:
    run(args.db, args.host, args.coap_port, args.http_port,
        args.gateway_key or cooperative_commands.default_key_path(args.db))


def _meter_add(args) -> None:
    engine = open_database(args.db)
    try:
        meter = register_meter(engine, MeterCreate(args.meter_id, args.kid, args.public_key, args.phone))
    except MeterError as err:
        raise CommandError(str(err)) from err
    print(json.dumps(asdict(meter)))


def _meter_list(args) -> None:
    for meter in list_meters(open_database(args.db)):
        print(json.dumps(asdict(meter)))


def _meter_show(args) -> None:
    meter = find_meter(open_database(args.db), args.meter_id)
    if meter is None:
        raise CommandError(f"no meter {args.meter_id!r}")
    print(json.dumps(asdict(meter), indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enerlectra-edge", description="Enerlectra cluster gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_db(sub):
        sub.add_argument("--db", default=DEFAULT_DB, help="SQLite database file (default: %(default)s)")
        return sub

    serve = with_db(commands.add_parser("serve", help="run the CoAP gateway and its HTTP API"))
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--coap-port", type=int, default=COAP_PORT)
    serve.add_argument("--http-port", type=int, default=HTTP_PORT)
    serve.add_argument("--gateway-key", default=None,
                       help="the gateway's Ed25519 key file (default: the database path with suffix .key)")
    serve.set_defaults(handler=_serve)

    meter = commands.add_parser("meter", help="the meter registry").add_subparsers(dest="action", required=True)
    add = with_db(meter.add_parser("add", help="register a meter"))
    add.add_argument("--meter-id", required=True)
    add.add_argument("--kid", required=True, help="key id, hex")
    add.add_argument("--public-key", required=True, help="Ed25519 public key, 64 hex digits")
    add.add_argument("--phone", required=True, help="owner's phone, +260 and 9 digits")
    add.set_defaults(handler=_meter_add)
    with_db(meter.add_parser("list", help="list registered meters")).set_defaults(handler=_meter_list)
    show = with_db(meter.add_parser("show", help="one meter and its totals"))
    show.add_argument("--meter-id", required=True)
    show.set_defaults(handler=_meter_show)

    ledger_commands.add_commands(commands)  # `ledger verify`, `ledger balances`: they set `func` (exit code)
    cooperative_commands.add_commands(commands)  # member, cluster, wallet, settle, price: they set `func` too
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "func"):
        return args.func(args)
    try:
        args.handler(args)
    except CommandError as err:
        print(f"enerlectra-edge: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
