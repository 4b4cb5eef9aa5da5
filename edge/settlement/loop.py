"""The gateway's settlement cadence: settle each interval shortly after it ends, in the background.

`settle_forever(engine, signing_key)` runs until cancelled (the gateway's shutdown cancels it). Every `poll_s`
it settles whatever is due, `grace_s` after each interval's end so that readings sent at the end of the
interval have arrived (readings later still are counted in the next interval, never lost). The simulated
mobile-money operator, when given, answers pending requests on the same cadence. Work runs in a thread so the
event loop keeps serving CoAP and HTTP; a failure is logged with its traceback and retried next round.
"""

import asyncio
import logging
import time

from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.mobile_money import MobileMoneySimulator
from edge.settlement.service import settle_due

SETTLE_GRACE_S = 60
POLL_S = 15

_log = logging.getLogger(__name__)


async def settle_forever(engine: Engine, signing_key: SigningKey, *, operator: MobileMoneySimulator | None = None,
                         grace_s: int = SETTLE_GRACE_S, poll_s: float = POLL_S) -> None:
    while True:  # until cancelled at shutdown; each round is bounded by settle_due's catch-up bound
        try:
            settled = await asyncio.to_thread(settle_due, engine, signing_key, now_s=int(time.time()) - grace_s)
            for result in settled:
                _log.info("%s", result.line())
            if operator is not None:
                await asyncio.to_thread(operator.deliver, engine)
        except Exception:  # logged, then retried next round: the gateway must keep serving meanwhile
            _log.exception("settlement round failed")
        await asyncio.sleep(poll_s)
