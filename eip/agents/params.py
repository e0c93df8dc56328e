"""Strict parameters of a behaviour: each kind declares `PARAMS = {name: Param(...)}`, checked here.

A scenario's `behaviours:` entry or a Python call gives plain values; `check_params` rejects unknown
names, missing required ones, wrong types and values out of range with a `ConfigError` naming the
parameter (and the file and line when a `Where` is given), and returns the values, defaults filled in,
as a read-only mapping (series as tuples).
"""

import math
from types import MappingProxyType
from typing import NamedTuple

from eip.yamlconf import ConfigError

REQUIRED = object()  # the default of a parameter that has none
FORMS = ("number", "int", "optional_number", "series", "optional_series", "periods")


class Param(NamedTuple):
    """One parameter: its default (or REQUIRED), a line of doc with units, its form and range.

    Forms: `number` (int or float), `int`, `optional_number` (a number or None), `series` (a number,
    or a list of numbers per period, used cyclically), `optional_series` (a series or None),
    `periods` (a list of period indexes >= 0).
    `minimum`/`maximum` bound every number; `strict` makes both bounds exclusive.
    """

    default: object
    doc: str
    form: str = "number"
    minimum: float | None = None
    maximum: float | None = None
    strict: bool = False


def _fail(kind: str, name: str, message: str, where=None) -> ConfigError:
    if where is not None:
        return where.at(name).error(message)
    return ConfigError(f"behaviour {kind!r}: parameter {name!r}: {message}")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _in_range(spec: Param, value: float) -> str | None:
    low, high = spec.minimum, spec.maximum
    if low is not None and (value <= low if spec.strict else value < low):
        return f"{value} is {'not above' if spec.strict else 'below'} its minimum {low}"
    if high is not None and (value >= high if spec.strict else value > high):
        return f"{value} is {'not below' if spec.strict else 'above'} its maximum {high}"
    return None


def check_value(spec: Param, value) -> tuple[object, str | None]:
    """(the value in its checked form, None) or (None, what is wrong)."""
    if spec.form in ("optional_number", "optional_series") and value is None:
        return None, None
    if spec.form in ("number", "optional_number"):
        if not _number(value):
            return None, f"expected a number, got {value!r}"
        return float(value), _in_range(spec, value)
    if spec.form == "int":
        if type(value) is not int:
            return None, f"expected an int, got {value!r}"
        return value, _in_range(spec, value)
    if spec.form in ("series", "optional_series"):
        values = [value] if _number(value) else value
        if not isinstance(values, list | tuple) or not values or not all(map(_number, values)):
            return None, f"expected a number or a non-empty list of numbers, got {value!r}"
        problems = [p for v in values if (p := _in_range(spec, v))]
        return tuple(float(v) for v in values), (problems[0] if problems else None)
    if spec.form == "periods":
        ok = isinstance(value, list | tuple) and all(type(v) is int and v >= 0 for v in value)
        if not ok:
            return None, f"expected a list of period indexes >= 0, got {value!r}"
        return tuple(value), None
    raise ValueError(f"unknown parameter form {spec.form!r} (forms: {', '.join(FORMS)})")


def check_params(cls, params: dict, where=None) -> MappingProxyType:
    """The checked parameters of behaviour class `cls` (its `kind`, `PARAMS`, `cross_check`)."""
    kind, specs = cls.kind, cls.PARAMS
    if not isinstance(params, dict):
        raise _fail(kind, "(parameters)", f"expected a mapping, got {type(params).__name__}", where)
    for name in params:
        if name not in specs:
            allowed = ", ".join(sorted(specs)) or "none"
            raise _fail(kind, name, f"unknown parameter (parameters of {kind}: {allowed})", where)
    out = {}
    for name, spec in specs.items():
        if name not in params:
            if spec.default is REQUIRED:
                raise _fail(kind, name, f"missing (required: {spec.doc})", where)
            out[name] = spec.default
            continue
        value, problem = check_value(spec, params[name])
        if problem:
            raise _fail(kind, name, problem, where)
        out[name] = value
    bad = cls.cross_check(out)
    if bad is not None:
        raise _fail(kind, bad[0], bad[1], where)
    return MappingProxyType(out)
