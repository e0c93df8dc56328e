"""The behaviour registry: kind name -> class, and building a behaviour from a scenario's config.

The built-in kinds register themselves when `eip.agents` is imported; a user's own class is one
`register_behaviour("my_kind", MyBehaviour)` away from every scenario, without touching a runner.
`behaviours_from_config` reads the proposed scenario key, one entry per card:

    behaviours:
      urban-load: {kind: elastic_load, base_demand_kw: [130, 110], elasticity: -0.5, ...}
"""

import logging

from eip.agents.base import Behaviour
from eip.agents.params import check_params
from eip.yamlconf import ConfigError

log = logging.getLogger(__name__)

BEHAVIOURS: dict[str, type] = {}


def register_behaviour(name: str, cls: type, replace: bool = False) -> type:
    """Make `cls` (a `Behaviour` subclass) the behaviour of kind `name`; returns `cls`."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"behaviour name {name!r} is not an identifier")
    if not (isinstance(cls, type) and issubclass(cls, Behaviour)):
        raise ConfigError(f"behaviour {name!r}: {cls!r} is not a subclass of eip.agents.Behaviour")
    if name in BEHAVIOURS and BEHAVIOURS[name] is not cls and not replace:
        raise ConfigError(f"behaviour {name!r} is already registered ({BEHAVIOURS[name].__name__})")
    if "kind" not in vars(cls):  # a subclass of a registered kind gets its own name
        cls.kind = name
    BEHAVIOURS[name] = cls
    log.debug("behaviour %s -> %s", name, cls.__name__)
    return cls


def behaviour_from_config(kind: str, params: dict | None = None, where=None) -> Behaviour:
    """A new behaviour of `kind` with `params`; errors name the kind or parameter.

    `where` (an `eip.yamlconf.Where`) is the position of the entry holding `kind` and the parameters:
    errors then start with the file, line and key.
    """
    cls = BEHAVIOURS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        message = f"unknown behaviour {kind!r} (behaviours: {', '.join(sorted(BEHAVIOURS))})"
        raise where.at("kind").error(message) if where is not None else ConfigError(message)
    params = {} if params is None else params
    check_params(cls, params, where)  # errors with the file and line when `where` is given
    return cls(**params)


def behaviours_from_config(entries: dict, where=None) -> dict:
    """card name -> behaviour from `{card: {kind: KIND, PARAM: VALUE, ...}}` (a `behaviours:` key)."""
    if not isinstance(entries, dict):
        message = f"behaviours: expected a mapping of card names, got {type(entries).__name__}"
        raise where.error(message) if where is not None else ConfigError(message)
    out = {}
    for card, entry in entries.items():
        at = where.at(card) if where is not None else None
        if not isinstance(entry, dict) or "kind" not in entry:
            message = f"{card}: expected a mapping with a 'kind' key, got {entry!r}"
            raise at.error(message) if at is not None else ConfigError(message)
        params = {k: v for k, v in entry.items() if k != "kind"}
        out[card] = behaviour_from_config(entry["kind"], params, at)
    return out
