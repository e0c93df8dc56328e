"""`wind`: a wind farm; sells its forecast output at marginal cost (see `renewable`)."""

from eip.agents.registry import register_behaviour
from eip.agents.renewable import Renewable


class Wind(Renewable):
    """Wind generation: forecast per period, marginal cost about 0."""


register_behaviour("wind", Wind)
