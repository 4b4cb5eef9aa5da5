"""USSD screens for the market: the current price with its trend, and the member's wallets.

Menu items as data (`edge.ussd.MenuItem`); `edge.app.serve` adds `MARKET_USSD_ITEMS` after "Credit left".
Each screen is one `END` reply within the 182 characters a USSD screen holds.
"""

from sqlalchemy.engine import Engine

from edge.errors import NotFoundError
from edge.members import find_member_by_phone, member_wallet
from edge.settlement import current_price
from edge.ussd import MenuItem


def price_screen(engine: Engine, _phone: str, _answers: list[str]) -> str:
    price = current_price(engine)
    return (f"END Energy price now: {price.price_ngwee_per_kwh / 100:.2f} ZMW/kWh\n"
            f"Trend: {price.trend} ({price.trend_change_bp / 100:+.1f}%)\n"
            f"Volatility: {price.volatility_bp / 100:.1f}%")


def wallet_screen(engine: Engine, phone: str, _answers: list[str]) -> str:
    try:
        member = find_member_by_phone(engine, phone)
    except NotFoundError:
        return "END This number is not a member of the cooperative."
    wallet = member_wallet(engine, member.member_id)
    return (f"END Wallet\nZMW {wallet.ngwee.balance / 100:.2f} (free {wallet.ngwee.available / 100:.2f})\n"
            f"kWh {wallet.wh.balance / 1000:.3f} (free {wallet.wh.available / 1000:.3f})")


PRICE_ITEM = MenuItem("Energy price", price_screen)
WALLET_ITEM = MenuItem("My wallet", wallet_screen)
MARKET_USSD_ITEMS = (PRICE_ITEM, WALLET_ITEM)
