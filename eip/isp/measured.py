"""A power flow of what the switches measured: metered BEE per card -> kW per bus -> `runpp`.

The figures of an experiment (line loading, losses, overloads) come from what the network did:

    inj = measured_injections(grid, exported_bee_by_mac, imported_bee_by_mac, 6.0, time_scale=1200)
    flow = measured_power_flow(grid, inj)     # a MeasuredFlow (frozen); flow.overloads
    flows = flows_by_period(grid, isp_records, period_s=6.0, time_scale=1200.0)   # a day

Conversion (1 BEE = `bee_wh` Wh, 1.0 by the seed's Fig. 2): a period lasts `period_s` wall seconds,
i.e. period_s x time_scale emulated seconds, and each bus gets the average power over it:

    p_kw[bus] = sum over the bus's cards of (exported_bee - imported_bee) x bee_wh / 1000     (kWh)
                / (period_s x time_scale / 3600)                                             (h)
              = (exported_bee - imported_bee) x bee_wh x 3.6 / (period_s x time_scale)

Cards map to buses by the grid model's `bus_of_mac`. A "plant" card whose bus has no injection
element (the ISP's dispatchable plants, pandapower `gen`s) is not a nodal injection: its measured
export is returned by `measured_plant_kw` and may be given to `measured_power_flow` as the plants'
set points; the slack (external grid) balances the rest. Injections are applied exactly as the OPF
applies them (`eip.isp.opf.apply_injections`: one `inj@<bus>` load per bus, 0 kW where none is
given) on a deep copy of the grid's net, so the ISP's own net is never touched.
"""

import copy
import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from eip.isp.grids import GridModel, line_rating_kw, pandapower
from eip.isp.model import IspError, NodalInjections
from eip.isp.opf import apply_injections

log = logging.getLogger(__name__)
_frozen = MappingProxyType

MW_TO_KW = 1000.0
WH_PER_KWH = 1000.0
S_PER_H = 3600.0


@dataclass(frozen=True)
class Overload:
    """A line or transformer above its max_loading_percent in one period, and by how much."""

    element: str  # "line" or "trafo"
    index: int
    name: str
    loading_percent: float
    max_loading_percent: float
    excess_percent: float  # loading_percent - max_loading_percent (percentage points)
    excess_kw: float  # the excess as power at nominal voltage (percentage points x rating / 100)


@dataclass(frozen=True)
class MeasuredFlow:
    """The AC power flow of one period's measured injections (frozen); units in every name."""

    period: int
    injections_kw: MappingProxyType  # bus -> kW applied (+ into the grid)
    plant_kw: MappingProxyType  # plant (gen) name -> kW in the power flow
    line_name: MappingProxyType  # line index -> name
    line_loading_percent: MappingProxyType  # in-service line index -> % of its current rating
    line_p_from_kw: MappingProxyType  # line index -> kW entering at its from bus
    line_max_loading_percent: MappingProxyType
    trafo_name: MappingProxyType  # trafo index -> name (empty when the grid has none)
    trafo_loading_percent: MappingProxyType  # trafo index -> % of its rating
    trafo_max_loading_percent: MappingProxyType
    bus_vm_pu: MappingProxyType  # bus -> voltage magnitude
    losses_kw: float  # lines + trafos
    slack_import_kw: float  # what the external grid(s) supply (+) or take (-)
    overloads: tuple = ()  # Overload, ... (lines first, then trafos, by index)

    @property
    def max_line_loading_percent(self) -> float:
        return max(self.line_loading_percent.values(), default=0.0)

    def as_dict(self) -> dict:
        """JSON-ready (string keys), for results.json."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k, v in out.items():
            if isinstance(v, MappingProxyType):
                out[k] = {str(i): round(x, 6) if isinstance(x, float) else x for i, x in v.items()}
        return out | {"overloads": [dataclasses.asdict(o) for o in self.overloads]}


def _measured(grid: GridModel, exported, imported, period_s, bee_wh, time_scale):
    """Metered BEE per card -> (kW per injection bus, kW per dispatchable plant); see the header."""
    for label, v in (("period_s", period_s), ("time_scale", time_scale), ("bee_wh", bee_wh)):
        if not math.isfinite(v) or v <= 0:
            raise IspError(f"{label} must be a positive number, got {v!r}")
    kw_per_bee = bee_wh / WH_PER_KWH / (float(period_s) * float(time_scale) / S_PER_H)
    cards = {str(c.mac).lower(): c for c in grid.cards}
    bus_kw, plant_kw, unknown = dict.fromkeys(grid.buses, 0.0), {}, set()
    for c in cards.values():
        if c.kind == "plant" and c.bus not in grid.injection_load and c.name in grid.dispatchable:
            plant_kw[c.name] = 0.0
    for sign, counts in ((1.0, exported), (-1.0, imported)):
        for mac, bee in (counts or {}).items():
            card = cards.get(str(mac).lower())
            if card is None:
                unknown.add(str(mac))
                continue
            if isinstance(bee, bool) or not isinstance(bee, (int, float)) or bee < 0:
                raise IspError(f"metered BEE of card {mac} must be a non-negative number: {bee!r}")
            if card.bus in grid.injection_load:
                bus_kw[card.bus] += sign * float(bee) * kw_per_bee
            elif card.name in plant_kw:
                plant_kw[card.name] += sign * float(bee) * kw_per_bee
            else:
                raise IspError(f"card {mac}: bus {card.bus} has no injection in grid {grid.name!r}")
    if unknown:
        raise IspError(f"metered BEE of cards unknown to grid {grid.name!r}: {sorted(unknown)}")
    return bus_kw, plant_kw


def measured_injections(
    grid: GridModel,
    exported_bee_by_mac: Mapping,
    imported_bee_by_mac: Mapping,
    period_s: float,
    bee_wh: float = 1.0,
    time_scale: float = 1.0,
    period: int = 0,
) -> NodalInjections:
    """One period's metered BEE per card -> mean kW per bus over period_s x time_scale emulated s.

    p_kw = (exported - imported) BEE x bee_wh x 3.6 / (period_s x time_scale), summed per bus; every
    injection bus of the grid appears (0 kW where nothing was metered). Unknown MACs are an IspError
    naming them; dispatchable plants are left out (see `measured_plant_kw`).
    """
    counts = (exported_bee_by_mac, imported_bee_by_mac)
    return NodalInjections(period, _measured(grid, *counts, period_s, bee_wh, time_scale)[0])


def measured_plant_kw(
    grid: GridModel,
    exported_bee_by_mac: Mapping,
    imported_bee_by_mac: Mapping,
    period_s: float,
    bee_wh: float = 1.0,
    time_scale: float = 1.0,
) -> dict:
    """The measured output (kW, same conversion) of each dispatchable plant card: name -> kW."""
    counts = (exported_bee_by_mac, imported_bee_by_mac)
    return _measured(grid, *counts, period_s, bee_wh, time_scale)[1]


def _working_grid(grid: GridModel) -> GridModel:
    """The same grid model over a deep copy of its net (the ISP's net stays as it is)."""
    return dataclasses.replace(grid, net=copy.deepcopy(grid.net), cache={})


def _column(table, res, col: str, scale: float = 1.0) -> MappingProxyType:
    """In-service element index -> a result column (NaN rows, e.g. isolated lines, left out)."""
    out = {int(i): float(res.at[i, col]) * scale for i in table.index if table.at[i, "in_service"]}
    return MappingProxyType({i: v for i, v in out.items() if not math.isnan(v)})


def _overloads(net, kind: str, loading: Mapping) -> list:
    table, rating_kw = getattr(net, kind), line_rating_kw(net)
    out = []
    for i in sorted(loading):
        limit = float(table.at[i, "max_loading_percent"])
        if loading[i] > limit:
            rated_kw = rating_kw[(kind, i)] * 100.0 / limit if limit > 0 else math.inf
            excess = loading[i] - limit
            out.append(Overload(kind, i, str(table.at[i, "name"]), loading[i], limit, excess,
                                excess / 100.0 * rated_kw))  # fmt: skip
    return out


def _run(work: GridModel, injections: NodalInjections, plant_kw: Mapping | None) -> MeasuredFlow:
    pp = pandapower()
    apply_injections(work, injections)
    net, period = work.net, injections.period
    unknown = sorted(set(plant_kw or {}) - set(work.dispatchable))
    if unknown:
        raise IspError(f"plants {unknown} are not dispatchable plants of grid {work.name!r}")
    for name, kw in (plant_kw or {}).items():
        net.gen.at[work.dispatchable[name], "p_mw"] = float(kw) / MW_TO_KW
    try:
        pp.runpp(net, calculate_voltage_angles=True)
    except Exception as exc:
        total_kw = sum(injections.p_kw.values())
        raise IspError(
            f"period {period}: the power flow of the measured injections did not converge on grid "
            f"{work.name!r} (net injection {total_kw:.1f} kW): {type(exc).__name__}: {exc}".strip()
        ) from None
    line_load = _column(net.line, net.res_line, "loading_percent")
    has_trafo = bool(len(net.trafo))
    trafo_load = _column(net.trafo, net.res_trafo, "loading_percent") if has_trafo else _frozen({})
    losses_kw = float(net.res_line.pl_mw.sum()) * MW_TO_KW
    if has_trafo:
        losses_kw += float(net.res_trafo.pl_mw.sum()) * MW_TO_KW
    flow = MeasuredFlow(
        period=period,
        injections_kw=_frozen(dict(injections.p_kw)),
        plant_kw=_frozen({name: float(net.res_gen.at[g, "p_mw"]) * MW_TO_KW
                          for name, g in work.dispatchable.items()}),
        line_name=_frozen({i: str(net.line.at[i, "name"]) for i in line_load}),
        line_loading_percent=line_load,
        line_p_from_kw=_column(net.line, net.res_line, "p_from_mw", MW_TO_KW),
        line_max_loading_percent=_frozen({i: float(net.line.at[i, "max_loading_percent"])
                                          for i in line_load}),
        trafo_name=_frozen({i: str(net.trafo.at[i, "name"]) for i in trafo_load}),
        trafo_loading_percent=trafo_load,
        trafo_max_loading_percent=_frozen({i: float(net.trafo.at[i, "max_loading_percent"])
                                           for i in trafo_load}),
        bus_vm_pu=_frozen({int(b): float(v) for b, v in net.res_bus.vm_pu.items()}),
        losses_kw=losses_kw,
        slack_import_kw=float(net.res_ext_grid.p_mw.sum()) * MW_TO_KW,
        overloads=tuple(_overloads(net, "line", line_load) + _overloads(net, "trafo", trafo_load)),
    )  # fmt: skip
    for o in flow.overloads:
        log.info("period %d: %s %d (%s) at %.1f %% > %.1f %%", period, o.element, o.index, o.name,
                 o.loading_percent, o.max_loading_percent)  # fmt: skip
    return flow


def measured_power_flow(
    grid: GridModel, injections: NodalInjections, plant_kw: Mapping | None = None
) -> MeasuredFlow:
    """The AC power flow (`runpp`) of `injections` on a copy of the grid's net; IspError if failed.

    `plant_kw` (name -> kW, e.g. from `measured_plant_kw`) sets dispatchable plants' outputs; plants
    not given keep their set point in the grid's net. The external grid is the slack.
    """
    return _run(_working_grid(grid), injections, plant_kw)


def _counts(period, entry) -> tuple[Mapping, Mapping]:
    if isinstance(entry, Mapping):
        if "exported_bee" not in entry or "imported_bee" not in entry:
            raise IspError(f"period {period}: counts need exported_bee and imported_bee")
        return entry["exported_bee"], entry["imported_bee"]
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
        raise IspError(f"period {period}: counts are (exported, imported), got {entry!r}")
    return entry[0], entry[1]


def _by_mac(grid: GridModel, period, cards: Mapping) -> tuple[dict, dict]:
    """A summary row's {card name: {exported_bee, imported_bee}} -> (exported, imported) by MAC."""
    mac_of = {c.name: c.mac for c in grid.cards}
    unknown = sorted(set(cards) - set(mac_of))
    if unknown:
        raise IspError(f"period {period}: cards unknown to grid {grid.name!r}: {unknown}")
    exported = {mac_of[n]: c.get("exported_bee", 0) for n, c in cards.items()}
    return exported, {mac_of[n]: c.get("imported_bee", 0) for n, c in cards.items()}


def _items(grid: GridModel, counts) -> list:
    """(period, exported, imported, elapsed_s or None) of every metered period given."""
    if isinstance(counts, Mapping):
        return [(int(p), *_counts(p, e), None) for p, e in counts.items()]
    out = []
    for rec in counts:
        if "measured" in rec and "kind" not in rec:  # a row of eip.net.isp_records.summarize
            m = rec["measured"]
            if m is not None:
                by_mac = _by_mac(grid, rec["period"], m.get("cards", {}))
                out.append((int(rec["period"]), *by_mac, m.get("elapsed_s")))
        elif rec.get("kind", "measured") == "measured":
            out.append((int(rec["period"]), *_counts(rec["period"], rec), rec.get("elapsed_s")))
    return out


def flows_by_period(
    grid: GridModel,
    per_period_counts: Mapping | Iterable,
    period_s: float,
    bee_wh: float = 1.0,
    time_scale: float = 1.0,
    plants: bool = True,
    use_elapsed: bool = False,
) -> list:
    """A day of metered counts -> one MeasuredFlow per period, in period order.

    `per_period_counts` is {period: (exported_bee_by_mac, imported_bee_by_mac)} (or {period:
    {"exported_bee": ..., "imported_bee": ...}}), or the ISP's records (isp-records.jsonl, kind
    "measured" used, the others skipped), or the rows of `eip.net.isp_records.summarize` (by card
    name). The counts are each period's own (not cumulative). With `use_elapsed`, a record's
    elapsed_s (wall s, when given) replaces period_s for its period. With `plants`, metered plant
    exports set the plants.
    """
    items = _items(grid, per_period_counts)
    seen = [it[0] for it in items]
    dupes = sorted({p for p in seen if seen.count(p) > 1})
    if dupes:
        raise IspError(f"periods {dupes} were metered more than once")
    work = _working_grid(grid)
    flows = []
    for period, exported, imported, elapsed_s in sorted(items, key=lambda it: it[0]):
        wall_s = elapsed_s if use_elapsed and elapsed_s else period_s
        bus_kw, plant_kw = _measured(grid, exported, imported, wall_s, bee_wh, time_scale)
        flows.append(_run(work, NodalInjections(period, bus_kw), plant_kw if plants else None))
    return flows
