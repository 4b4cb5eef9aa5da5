"""The running gateway: the CoAP site and the HTTP API on one event loop, over one database.

`serve()` is the only place the parts are wired together. Nothing starts at import time.
"""

import asyncio
import contextlib
import gc
import logging
from pathlib import Path

import aiocoap
import uvicorn

from edge.alerts import alert_forever
from edge.coap_site import build_site
from edge.db import create_schema, make_engine
from edge.http_api import create_http_app
from edge.identity import load_or_create_gateway_key
from edge.ingest import IngestService
from edge.mobile_money import MobileMoneySimulator
from edge.settlement.loop import settle_forever
from edge.sms import SimulatedSmsCentre
from edge.ussd_market import MARKET_USSD_ITEMS

COAP_PORT = 5683
HTTP_PORT = 8080
GC_YOUNG_OBJECTS = 10_000  # CPython's default is 700
COAP_LOGGER = "coap-server"


def open_database(path: str | Path):
    """An engine on `path` with every gateway table created."""
    import edge.alerts
    import edge.grants
    import edge.ledger
    import edge.members
    import edge.meters
    import edge.mobile_money
    import edge.orders
    import edge.prepaid
    import edge.readings
    import edge.settlement
    import edge.sms  # noqa: F401  (importing registers each module's tables with SQLModel's metadata)

    engine = make_engine(path)
    create_schema(engine)
    return engine


async def serve(db_path: str | Path, host: str = "127.0.0.1", coap_port: int = COAP_PORT,
                http_port: int = HTTP_PORT, gateway_key_path: str | Path | None = None) -> None:
    """Runs until interrupted (SIGINT/SIGTERM), then finishes writing what it acknowledged.

    The gateway key (default: the database path with suffix .key, created on first use) signs credit grants
    and interval seals; settlement runs in the background shortly after each interval ends.
    """
    engine = open_database(db_path)
    gateway_key = load_or_create_gateway_key(gateway_key_path or Path(db_path).with_suffix(".key"))
    ingest = IngestService(engine)
    await ingest.start()
    # No SMS centre is reachable from here: the simulated one behaves like one (see edge/sms.py).
    alerts = asyncio.create_task(alert_forever(engine, SimulatedSmsCentre()), name="alerts")
    # No mobile-money operator is reachable from here either: the simulated one answers (see edge/mobile_money.py).
    settlement = asyncio.create_task(settle_forever(engine, gateway_key, operator=MobileMoneySimulator()),
                                     name="settlement")
    site = build_site(ingest, gateway_key, engine)  # with the key: the meters' downlinks, /t and /g
    # aiocoap logs every block but the last of a block-wise request at INFO ("raised a renderable error
    # (ContinueException ...)"): a line per 1 KB of every pack, ~15% of the gateway's CPU in an outage's catch-up.
    logging.getLogger(COAP_LOGGER).setLevel(logging.WARNING)
    coap = await aiocoap.Context.create_server_context(site, bind=(host, coap_port), loggername=COAP_LOGGER)
    http_app = create_http_app(engine, ussd_items=MARKET_USSD_ITEMS, gateway_key=gateway_key)
    http = uvicorn.Server(
        uvicorn.Config(http_app, host=host, port=http_port, log_level="warning", lifespan="off")
    )
    # Start-up objects live for months: keep them out of the collector's way. And collect less often: aiocoap
    # keeps every exchange ~247 s for de-duplication, so under load the default thresholds re-walk thousands of
    # live objects again and again (measured: ~25% of the gateway's CPU per reading).
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, 50, 1000)
    print(f"enerlectra-edge: CoAP coap://{host}:{coap_port}  HTTP http://{host}:{http_port}  db {db_path}",
          flush=True)
    try:
        await http.serve()  # returns on SIGINT/SIGTERM (uvicorn installs the handlers)
    finally:
        alerts.cancel()
        settlement.cancel()
        with contextlib.suppress(Exception):
            await coap.shutdown()
        await ingest.stop()
        engine.dispose()
        logging.getLogger(__name__).info("gateway stopped")


def run(db_path: str | Path, host: str, coap_port: int, http_port: int,
        gateway_key_path: str | Path | None = None) -> None:
    asyncio.run(serve(db_path, host, coap_port, http_port, gateway_key_path))
