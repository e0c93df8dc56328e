"""Trading behaviours of the cards: plain objects deciding orders from what a participant knows.

`from eip.agents import behaviour_from_config` builds one by kind; importing the package registers
the built-in kinds (elastic_load, pv, wind, storage, ev, plant). Design: docs/agents.md.
"""

from eip.agents import ev, household, load, plant, pv, storage, wind  # noqa: F401  (they register their kinds)
from eip.agents.base import (
    KWH_PER_BEE,
    AgentView,
    Behaviour,
    EnergyTotals,
    Fill,
    OrderIntent,
    PoolTop,
    PriceSignal,
    RestingOrder,
    fill_from_pool,
    frame_s,
    from_wire_price,
    to_wire_price,
)
from eip.agents.ev import Ev
from eip.agents.host import HostedAgent, WireOrder
from eip.agents.load import ElasticLoad
from eip.agents.params import REQUIRED, Param
from eip.agents.plant import Plant
from eip.agents.pv import Pv
from eip.agents.registry import (
    BEHAVIOURS,
    behaviour_from_config,
    behaviours_from_config,
    register_behaviour,
)
from eip.agents.renewable import Renewable
from eip.agents.storage import Storage
from eip.agents.wind import Wind

__all__ = [
    "BEHAVIOURS",
    "KWH_PER_BEE",
    "REQUIRED",
    "AgentView",
    "Behaviour",
    "ElasticLoad",
    "EnergyTotals",
    "Ev",
    "Fill",
    "HostedAgent",
    "OrderIntent",
    "Param",
    "Plant",
    "PoolTop",
    "PriceSignal",
    "Pv",
    "Renewable",
    "RestingOrder",
    "Storage",
    "Wind",
    "WireOrder",
    "behaviour_from_config",
    "behaviours_from_config",
    "fill_from_pool",
    "frame_s",
    "from_wire_price",
    "register_behaviour",
    "to_wire_price",
]  # fmt: skip
