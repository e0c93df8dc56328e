"""`pv`: a photovoltaic plant; sells its forecast output at marginal cost (see `renewable`)."""

from eip.agents.registry import register_behaviour
from eip.agents.renewable import Renewable


class Pv(Renewable):
    """Photovoltaic generation: forecast per period (zero at night), marginal cost about 0."""


register_behaviour("pv", Pv)
