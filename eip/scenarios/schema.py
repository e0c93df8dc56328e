"""Scenario files: strict YAML into a frozen `Scenario`, every error naming the file, line and key.

    scenario = load_scenario("scenarios/four_node_day.yaml", short=True)

A scenario names an `experiment` (registered with `@experiment` in an eip.scenarios module), a
`topology` from `eip.cases.TOPOLOGIES` (checked on its plain description, without Mininet), and the experiment's `settings`, checked against its schema:
unknown keys are rejected, types checked, defaults filled, REQUIRED settings enforced. `expect` holds
conditions on the metrics the experiment returns; the runner checks them after the run. The format is
described in docs/scenarios.md.
"""

import importlib
import logging
import math
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eip.scenarios.base import EXPERIMENTS, MODES, REQUIRED, Experiment
from eip.yamlconf import ConfigError, Where, load, mapping, typed

log = logging.getLogger(__name__)

TOP_KEYS = {"name", "description", "experiment", "topology", "periods", "period_s", "seed",
            "mode", "short", "expect", "settings", "isp"}  # fmt: skip
ISP_KEYS = {"enforce"}  # `isp: {enforce: false}`: the ISP measures and publishes, meters stay loose
TOP_REQUIRED = {"name", "experiment", "topology"}
SHORT_KEYS = {"periods", "period_s", "seed", "settings", "expect"}
# Top-level keys handed to the experiment as settings of the same name when its schema has them.
SHARED_SETTINGS = ("periods", "period_s", "seed")
OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "between")
# Modules of eip.scenarios that are machinery, not experiments.
NOT_EXPERIMENTS = {"base", "schema", "runner", "report", "capture"}


class CardName(str):
    """Schema type marker: a card name of the scenario's topology (checked against its plan)."""


class VppName(str):
    """Schema type marker: a VPP name of the scenario's topology (checked against its plan)."""


class Choice(tuple):
    """Schema type: one of these words, e.g. `Choice(("plan", "agents"))`."""


@dataclass(frozen=True)
class Expectation:
    """A condition on one metric: `metric` is a dotted path into the experiment's metrics."""

    metric: str
    op: str  # one of OPERATORS
    value: Any  # a number, or [low, high] for between
    line: int = 0

    def describe(self) -> str:
        if self.op == "between":
            return f"between {self.value[0]} and {self.value[1]}"
        symbol = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}[self.op]
        return f"{symbol} {self.value}"

    def check(self, metrics: dict) -> tuple[bool, Any, str]:
        """(held, actual value, note) for the metrics of a run."""
        actual = metric_value(metrics, self.metric)
        if actual is _MISSING:
            return False, None, "metric missing"
        if self.op in ("eq", "ne"):
            same = _close(actual, self.value)
            return same == (self.op == "eq"), actual, ""
        if isinstance(actual, bool) or not isinstance(actual, int | float) or math.isnan(actual):
            return False, actual, "not a number"
        held = {
            "lt": lambda: actual < self.value,
            "le": lambda: actual <= self.value,
            "gt": lambda: actual > self.value,
            "ge": lambda: actual >= self.value,
            "between": lambda: self.value[0] <= actual <= self.value[1],
        }[self.op]()
        return held, actual, ""


_MISSING = object()


def metric_value(metrics: dict, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`) in nested dicts and lists; _MISSING if absent."""
    value: Any = metrics
    if path in metrics:  # a flat key that itself contains dots
        return metrics[path]
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):  # fmt: skip
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file (with the `short` overrides applied when loaded short)."""

    path: Path
    name: str
    description: str
    experiment: str
    topology: str
    topology_args: tuple = ()
    topology_kwargs: dict = field(default_factory=dict)
    periods: int | None = None
    period_s: float | None = None
    seed: int | None = None
    mode: str = "energy-internet"
    settings: dict = field(default_factory=dict)
    expect: tuple[Expectation, ...] = ()
    short: bool = False
    isp: bool = True  # the Energy ISP in the loop (`isp: off` turns it off)
    isp_enforce: bool = True  # its limits in the meters and quotas (`isp: {enforce: false}`: not)

    def case_topology(self):
        """The plain description of this scenario's topology (`eip.cases.model.CaseTopology`)."""
        from eip.cases import TOPOLOGIES

        return TOPOLOGIES[self.topology](*self.topology_args, **self.topology_kwargs)

    def topology_label(self) -> str:
        args = [str(a) for a in self.topology_args]
        args += [f"{k}={v}" for k, v in self.topology_kwargs.items()]
        return f"{self.topology}({', '.join(args)})" if args else self.topology

    @property
    def experiment_def(self) -> Experiment:
        return EXPERIMENTS[self.experiment]


# --- experiments ------------------------------------------------------------------------------
_IMPORT_ERRORS: dict[str, str] = {}


def import_experiments() -> dict[str, str]:
    """Import every experiment module of eip.scenarios; return {module: error} of those that failed."""
    import eip.scenarios as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name in NOT_EXPERIMENTS or info.name.startswith("_"):
            continue
        name = f"{package.__name__}.{info.name}"
        if name in _IMPORT_ERRORS:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken experiment must not stop the others from loading
            _IMPORT_ERRORS[name] = f"{type(exc).__name__}: {exc}"
            log.warning("cannot import %s: %s", name, exc)
    return dict(_IMPORT_ERRORS)


# --- loading ----------------------------------------------------------------------------------
def load_scenario(path: str | Path, short: bool = False) -> Scenario:
    """Read and validate a scenario file; ConfigError("FILE:LINE: KEY: what is wrong") if bad."""
    data, root = load(path)
    doc = mapping(data, root, TOP_KEYS, TOP_REQUIRED)
    name = _text(doc["name"], root.at("name"), label=True)
    description = _text(doc.get("description", ""), root.at("description"))
    experiment = _experiment(doc["experiment"], root.at("experiment"))
    topo_name, topo_args, topo_kwargs = _topology(doc["topology"], root.at("topology"))
    values = {k: doc[k] for k in ("periods", "period_s", "seed") if k in doc}
    wheres = {k: root.at(k) for k in values}
    settings = dict(_settings_mapping(doc.get("settings", {}), root.at("settings")))
    settings_where = {k: root.at("settings").at(k) for k in settings}
    expect = dict(_expect_mapping(doc.get("expect", {}), root.at("expect")))
    expect_where = {k: root.at("expect").at(k) for k in expect}
    if short and "short" in doc:
        w = root.at("short")
        overrides = mapping(doc["short"], w, SHORT_KEYS)
        for key in ("periods", "period_s", "seed"):
            if key in overrides:
                values[key], wheres[key] = overrides[key], w.at(key)
        for key, value in _settings_mapping(overrides.get("settings", {}), w.at("settings")):
            settings[key], settings_where[key] = value, w.at("settings").at(key)
        for key, value in _expect_mapping(overrides.get("expect", {}), w.at("expect")):
            expect[key], expect_where[key] = value, w.at("expect").at(key)
    elif "short" in doc:  # still validated, so a typo shows up before the CI run
        w = root.at("short")
        overrides = mapping(doc["short"], w, SHORT_KEYS)
        _settings_mapping(overrides.get("settings", {}), w.at("settings"))
        _expect_mapping(overrides.get("expect", {}), w.at("expect"))
    periods = _positive(values.get("periods"), wheres.get("periods"), int, "a positive integer")
    period_s = _positive(values.get("period_s"), wheres.get("period_s"), (int, float),
                         "a positive number of seconds")  # fmt: skip
    seed = values.get("seed")
    if seed is not None:
        typed(seed, wheres["seed"], int, "an integer")
    isp, isp_enforce = _isp(doc.get("isp", True), root.at("isp"))
    mode = doc.get("mode", "energy-internet")
    if mode not in MODES:
        raise root.at("mode").error(f"unknown mode {mode!r} (valid: {', '.join(MODES)})")
    exp = EXPERIMENTS[experiment]
    top = {"periods": periods, "period_s": period_s, "seed": seed}
    for key in SHARED_SETTINGS:
        if key not in exp.schema or top[key] is None:
            continue
        if key not in settings:
            settings[key], settings_where[key] = top[key], wheres[key]
            continue
        settings[key] = _check_value(settings[key], exp.schema[key][0], settings_where[key], {})
        top_short = wheres[key].path.startswith("short.")
        set_short = settings_where[key].path.startswith("short.")
        if settings[key] == top[key] or (set_short and not top_short):
            continue
        if top_short and not set_short:
            settings[key], settings_where[key] = top[key], wheres[key]
            continue
        raise settings_where[key].error(f"conflicts with the top-level {key}: {top[key]!r}")
    expectations = []
    for metric, cond in expect.items():
        expectations.extend(_expectation(metric, cond, expect_where[metric]))
    topo = _build_topology(topo_name, topo_args, topo_kwargs, root.at("topology"))
    checked = check_settings(exp, settings, settings_where, root.at("settings"), topo)
    for key, value in (("periods", periods), ("period_s", period_s), ("seed", seed)):
        if key in exp.schema and checked.get(key) is not None:
            top[key] = checked[key]
        else:
            top[key] = value
    return Scenario(
        path=Path(path), name=name, description=description, experiment=experiment,
        topology=topo_name, topology_args=topo_args, topology_kwargs=topo_kwargs,
        periods=top["periods"], period_s=float(top["period_s"]) if top["period_s"] else None,
        seed=top["seed"], mode=mode, settings=checked, expect=tuple(expectations), short=short,
        isp=isp, isp_enforce=isp_enforce,
    )  # fmt: skip


def _isp(value: Any, where: Where) -> tuple[bool, bool]:
    """(in the loop, enforcing) from `isp: on|off|true|false|{enforce: true|false}`."""
    if isinstance(value, bool):
        return value, value
    if isinstance(value, dict):
        mapping(value, where, ISP_KEYS)
        enforce = typed(value.get("enforce", True), where.at("enforce"), bool, "true or false")
        return True, enforce
    raise where.error(f"expected on, off or {{enforce: true|false}}, got {value!r}")


def _text(value: Any, where: Where, label: bool = False) -> str:
    typed(value, where, str, "a string")
    if label and (not value or "/" in value or value.startswith(".")):
        raise where.error(f"expected a name usable as a folder name, got {value!r}")
    return value


def _experiment(value: Any, where: Where) -> str:
    typed(value, where, str, "an experiment name")
    errors = import_experiments()
    if value not in EXPERIMENTS:
        valid = ", ".join(sorted(EXPERIMENTS)) or "none registered"
        hint = "".join(f"; {m} failed to import: {e}" for m, e in sorted(errors.items()))
        raise where.error(f"unknown experiment {value!r} (valid: {valid}){hint}")
    return value


def _topology(value: Any, where: Where) -> tuple[str, tuple, dict]:
    from eip.cases import TOPOLOGIES

    valid = ", ".join(sorted(TOPOLOGIES))
    if isinstance(value, str):
        name, args, kwargs = value, [], {}
    elif isinstance(value, dict):
        mapping(value, where, {"name", "args", "kwargs"}, {"name"})
        name = typed(value["name"], where.at("name"), str, "a topology name")
        args = typed(value.get("args", []), where.at("args"), list, "a list of arguments")
        kwargs = typed(value.get("kwargs", {}), where.at("kwargs"), dict, "a mapping of arguments")
        where = where.at("name")
    else:
        raise where.error(f"expected a topology name or {{name: ..., args: [...]}}, got {value!r}")
    if name not in TOPOLOGIES:
        raise where.error(f"unknown topology {name!r} (valid: {valid})")
    return name, tuple(args), dict(kwargs)


def _build_topology(name: str, args: tuple, kwargs: dict, where: Where):
    from eip.cases import TOPOLOGIES

    try:
        return TOPOLOGIES[name](*args, **kwargs)
    except Exception as exc:  # wrong arguments, or the topology's own check (too many VPPs)
        raise where.error(
            f"cannot build topology {name} with {list(args)} {kwargs}: {exc}"
        ) from None


def _settings_mapping(value: Any, where: Where):
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping of settings, got {value!r}")
    return value.items()


def _expect_mapping(value: Any, where: Where):
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping of metric: {{operator: value}}, got {value!r}")
    return value.items()


def _positive(value: Any, where: Where | None, kind, what: str):
    if value is None:
        return None
    typed(value, where, kind, what)
    if value <= 0:
        raise where.error(f"expected {what}, got {value!r}")
    return value


def _number(value: Any, where: Where) -> float:
    return typed(value, where, (int, float), "a number")


def _expectation(metric: str, cond: Any, where: Where) -> list[Expectation]:
    if not isinstance(cond, dict) or not cond:
        raise where.error(
            f"expected a condition like {{lt: 0}}, {{gt: 0}}, {{between: [a, b]}} or {{eq: x}}, "
            f"got {cond!r}"
        )
    out = []
    for op, value in cond.items():
        w = where.at(op)
        if op not in OPERATORS:
            raise w.error(f"unknown operator {op!r} (valid: {', '.join(OPERATORS)})")
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise w.error(f"expected [low, high], got {value!r}")
            low, high = (_number(v, w.at(i)) for i, v in enumerate(value))
            if low > high:
                raise w.error(f"low {low} is above high {high}")
            value = (low, high)
        elif op in ("lt", "le", "gt", "ge"):
            _number(value, w)
        elif isinstance(value, dict | list):
            raise w.error(f"expected a single value, got {value!r}")
        out.append(Expectation(str(metric), op, value, w.line))
    return out


# --- settings ---------------------------------------------------------------------------------
def _kinds(kind) -> tuple:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and int not in kinds:
        kinds += (int,)  # 5 is a fine value for a float setting
    return kinds


def check_settings(exp: Experiment, settings: dict, wheres: dict, where: Where, topo=None) -> dict:
    """The settings checked against the experiment's schema, with defaults filled in."""
    allowed = set(exp.schema)
    for key in settings:
        if key not in allowed:
            valid = ", ".join(sorted(allowed)) or "none"
            raise wheres[key].error(f"unknown setting {key!r} for experiment {exp.name!r} "
                                    f"(allowed: {valid})")  # fmt: skip
    names = _resource_names(topo)
    out = {}
    for key, spec in exp.schema.items():
        kind, default = spec[0], spec[1]
        if key not in settings:
            if default is REQUIRED:
                raise where.error(f"missing required setting {key!r} of experiment {exp.name!r}"
                                  f" ({spec[2] if len(spec) > 2 else 'no help'})")  # fmt: skip
            out[key] = default
            continue
        out[key] = _check_value(settings[key], kind, wheres[key], names)
    return out


def _check_value(value: Any, kind, where: Where, names: dict) -> Any:
    if isinstance(kind, Choice):
        typed(value, where, str, f"one of {', '.join(kind)}")
        if value not in kind:
            raise where.error(f"unknown value {value!r} (valid: {', '.join(kind)})")
        return value
    kinds = _kinds(kind)
    markers = [k for k in kinds if k in (CardName, VppName)]
    if markers:
        typed(value, where, str, f"a {'card' if CardName in markers else 'VPP'} name")
        valid = names.get(markers[0], ())
        if valid and value not in valid:
            what = "card" if markers[0] is CardName else "VPP"
            raise where.error(f"unknown {what} {value!r} (valid: {', '.join(valid)})")
        return value
    if value is None and type(None) in kinds:
        return None
    plain = tuple(k for k in kinds if isinstance(k, type))
    names_of = " or ".join(_type_name(k) for k in plain)
    typed(value, where, plain, names_of)
    if float in plain and isinstance(value, int) and int not in _declared(kind):
        return float(value)
    return value


def _declared(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            list: "a list", dict: "a mapping", type(None): "null"}.get(kind, kind.__name__)  # fmt: skip


def _resource_names(topo) -> dict:
    """Card and VPP names of a topology description, in the order of its network plan."""
    if topo is None:
        return {}
    from eip.net.plan import plan_from_case

    plan = plan_from_case(topo)
    return {CardName: tuple(c.name for c in plan.cards), VppName: tuple(sorted(plan.lans))}


def describe(scenario: Scenario) -> str:
    """One line: 'NAME (experiment, topology, N periods)'."""
    periods = f"{scenario.periods} periods" if scenario.periods else "no periods"
    return f"{scenario.name} ({scenario.experiment}, {scenario.topology_label()}, {periods})"


__all__ = ["CardName", "ConfigError", "Expectation", "Scenario", "VppName", "describe",
           "import_experiments", "load_scenario", "metric_value"]  # fmt: skip
