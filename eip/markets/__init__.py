"""Trading applications over the Energy Internet (seed 000 section 6, seed 002 section 4.4).

Plain objects, given the time and returning frozen results, so they are tested without a network:

- `orders`: `Order` and `Trade` values and their wire records (`PoolOrder`, `PoolFill`).
- `pool`: `BeePool`, the pool of waiting send and ask requests of seed 000 section 6.
- `auction`: `DoubleAuction`, a continuous double auction with price-time priority (seed 002 4.4.1).
- `pricing`: Unified and Identified Pricing and the daily bills (seed 002 4.4.2, eq. 4.3-4.8).
"""

from eip.markets.auction import DoubleAuction
from eip.markets.orders import ASK, SEND, MarketError, Order, Trade
from eip.markets.pool import BeePool

__all__ = ["ASK", "SEND", "BeePool", "DoubleAuction", "MarketError", "Order", "Trade"]
