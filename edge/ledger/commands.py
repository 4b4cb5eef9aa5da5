"""The `ledger` command group for the `enerlectra-edge` console script.

    enerlectra-edge ledger verify --db PATH [--gateway-key PATH | --gateway-public-key HEX]
    enerlectra-edge ledger balances --db PATH

`add_commands(subparsers)` adds the group to an argparse sub-parser set; each leaf sets `func`, which takes the
parsed arguments and returns the exit code, so the console script does `sys.exit(args.func(args))`.

Exit codes of `verify`: 0 everything re-derives and verifies; 1 the ledger does not verify (one line on stdout
names the first bad entry, seal or account); 2 the command could not run (no such database, not a ledger
database, unreadable key).

The gateway key: `--gateway-key PATH` reads the file holding the gateway's 32-byte Ed25519 seed (64 hex
characters, or the 32 raw bytes) and pins its public key: every seal must be signed by it. An auditor without the
seed passes `--gateway-public-key HEX` instead. With neither, signatures are checked against the public keys
stored beside them, which detects edited heads and corrupted signatures but not a forger who re-signs with a key
of their own; the verdict line says which was done.
"""

import argparse
import sqlite3
import sys
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

EXIT_OK = 0
EXIT_LEDGER_INVALID = 1
EXIT_CANNOT_RUN = 2


class KeyFileError(ValueError):
    pass


def add_commands(subparsers) -> None:
    ledger = subparsers.add_parser("ledger", help="audit the gateway's double-entry journal")
    commands = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")

    verify_parser = commands.add_parser(
        "verify", help="re-derive every balance from the journal, check the hash chain and the signed heads"
    )
    verify_parser.add_argument("--db", required=True, type=Path, help="the gateway's SQLite database")
    keys = verify_parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--gateway-key",
        type=Path,
        metavar="PATH",
        help="file with the gateway's 32-byte Ed25519 seed (hex); seals must be signed by its public key",
    )
    keys.add_argument(
        "--gateway-public-key", metavar="HEX", help="the gateway's Ed25519 public key as 64 hex characters"
    )
    verify_parser.set_defaults(func=run_verify)

    balances_parser = commands.add_parser("balances", help="list every account's balance (cached totals)")
    balances_parser.add_argument("--db", required=True, type=Path, help="the gateway's SQLite database")
    balances_parser.set_defaults(func=run_balances)


def read_gateway_verify_key(path: Path) -> VerifyKey:
    """The public key of the seed in `path`: 64 hex characters (whitespace ignored) or exactly 32 raw bytes."""
    data = path.read_bytes()
    text = data.strip()
    try:
        seed = bytes.fromhex(text.decode("ascii")) if len(text) == 64 else data
    except (UnicodeDecodeError, ValueError) as error:
        raise KeyFileError(f"{path}: not a hex Ed25519 seed") from error
    if len(seed) != 32:
        raise KeyFileError(f"{path}: an Ed25519 seed is 32 bytes (64 hex characters), found {len(text)} characters")
    return SigningKey(seed).verify_key


def parse_verify_key_hex(text: str) -> VerifyKey:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError as error:
        raise KeyFileError("--gateway-public-key: not hex") from error
    if len(raw) != 32:
        raise KeyFileError(f"--gateway-public-key: an Ed25519 public key is 32 bytes, got {len(raw)}")
    return VerifyKey(raw)


def _open_existing(path: Path):
    """An engine on an existing database; never creates a file (make_engine would)."""
    from edge.db import make_engine

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such database")
    return make_engine(path)


def run_verify(args: argparse.Namespace) -> int:
    from edge.ledger.verify import verify

    try:
        verify_key = None
        if args.gateway_key is not None:
            verify_key = read_gateway_verify_key(args.gateway_key)
        elif args.gateway_public_key is not None:
            verify_key = parse_verify_key_hex(args.gateway_public_key)
        engine = _open_existing(args.db)
    except (OSError, KeyFileError) as error:
        print(f"ledger verify: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        report = verify(engine, verify_key)
    except sqlite3.DatabaseError as error:
        print(f"ledger verify: {args.db}: not a ledger database ({error})", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        engine.dispose()
    print(report.line())
    return EXIT_OK if report.ok else EXIT_LEDGER_INVALID


def run_balances(args: argparse.Namespace) -> int:
    from edge.ledger.journal import balances

    try:
        engine = _open_existing(args.db)
    except OSError as error:
        print(f"ledger balances: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        rows = balances(engine)
    except sqlite3.DatabaseError as error:
        print(f"ledger balances: {args.db}: not a ledger database ({error})", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        engine.dispose()
    print(f"{'account':>7}  {'owner':<32} {'unit':<5} {'balance':>16} {'pending_out':>14} {'available':>16}")
    for row in rows:
        print(
            f"{row.account_id:>7}  {row.owner:<32} {row.unit:<5} {row.balance:>16} {row.debits_pending:>14}"
            f" {row.available:>16}"
        )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: `python -m edge.ledger verify --db PATH` (same as `enerlectra-edge ledger ...`)."""
    parser = argparse.ArgumentParser(prog="python -m edge.ledger")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_commands(subparsers)
    args = parser.parse_args(["ledger", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
