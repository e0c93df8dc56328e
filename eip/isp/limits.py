"""Static exchange limits (Energy IP): the largest export and import of every node, card and VPP uplink.

Method (docs/isp.md has the derivation). Around the OPF operating point, a change dP_j (kW) of the net
injection at node j changes the flow on branch l by PTDF_lj dP_j (DC PTDF, the change absorbed at the
slack bus). Branch l has headroom h+_l = (1 - margin) R_l - f_l for more flow in its own direction and
h-_l = (1 - margin) R_l + f_l for the opposite one (f_l signed, from the OPF's loading). Each row's
headroom is shared among the nodes that load it:

    dP+_i = min over l with |PTDF_li| > eps of  h(l, sign PTDF_li) / sum_j |PTDF_lj|     (export)
    dP-_i = min over l with |PTDF_li| > eps of  h(l, -sign PTDF_li) / sum_j |PTDF_lj|    (import)

Guarantee (linear model): for *every* combination of changes with -dP-_j <= dP_j <= dP+_j (all nodes at
their full limits at once, in any mix of directions) sum_j PTDF_lj dP_j stays within [-h-_l, h+_l], so
every branch stays within (1 - margin) of its rating. The sharing is conservative: a node only gets
1/(sum of the row's |PTDF|) of the headroom even if others do not use theirs (dynamic limits hand that
back within the period). A node with |PTDF| <= eps on a congested branch is not limited by it.

Voltage (AC results only): the sensitivity dV/dP of PQ buses is Re(Z) with Z the inverse of the
Ybus reduced to PQ buses (generator and slack buses hold their voltage). A voltage row takes part, with
the same sharing, only when it binds: when the line-based limits could move that bus's voltage past its
limit (+- v_tol_pu). A bus sits at the node's export limit `p0 + dP+` and import limit `dP- - p0`
(p0 the node's injection in the OPF), both >= 0 and capped by the node's connection rating (the sum of
its branch ratings).

Cards: a card with a known forecast f_c gets max(0, f_c) + w_c dP+ for export and max(0, -f_c) + w'_c
dP- for import, w the card's share of the bus's exporting (pv, wind, storage, ev) or importing (load,
storage, ev) nameplate; without forecasts the bus limits are split equally among those cards. A plant
card (ISP-dispatched, at the slack) may export its capacity. BEE per period = kW x period_s / 3600 x 1000
(1 BEE = 1 Wh). A VPP uplink gets the sum of its buses' exports bounded by its tie branches' headroom out.
"""

import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from eip.isp.grids import EXPORT_KINDS, IMPORT_KINDS, GridModel, line_rating_kw
from eip.isp.model import IspError, NodalInjections, OpfResult, StaticLimits

U32_MAX = 0xFFFFFFFF
EPS = 1e-3  # |PTDF| (and normalised voltage sensitivity) below which a node does not load a row


def kw_to_bee(kw: float, period_s: float) -> int:
    """Energy of `kw` held for `period_s` in BEE (1 BEE = 1 Wh): kW x s / 3600 x 1000, floored."""
    if not math.isfinite(kw):
        return U32_MAX
    return max(0, min(U32_MAX, math.floor(kw * period_s / 3.6 + 1e-9)))


@dataclass(frozen=True, eq=False)
class LimitBasis:
    """The numbers behind one period's limits, for checks and for dynamic limits (not for users)."""

    period_s: float
    nodes: tuple  # bus per column
    rows: tuple  # constraint labels: ("line", i), ("trafo", i), ("vm", bus)
    sens: np.ndarray  # rows x nodes: change of the row quantity per kW injected at the node
    h_pos: np.ndarray  # headroom of each row for an increase
    h_neg: np.ndarray  # headroom of each row for a decrease
    dplus_kw: np.ndarray  # per node: export margin above p0
    dminus_kw: np.ndarray  # per node: import margin below p0
    p0_kw: np.ndarray  # per node: injection in the OPF
    cap_kw: np.ndarray  # per node: connection rating
    card_bus: MappingProxyType  # MAC -> bus
    card_export_weight: MappingProxyType  # MAC -> share of its bus's export margin
    card_base_export_kw: MappingProxyType  # MAC -> forecast export kW (0 if unknown)
    extra: dict = field(default_factory=dict)


def share_margins(sens: np.ndarray, h_pos: np.ndarray, h_neg: np.ndarray, eps: float = EPS):
    """The shared-headroom formula: per node (export margin, import margin) in kW."""
    n_rows, n_nodes = sens.shape
    if n_rows == 0:
        return np.full(n_nodes, np.inf), np.full(n_nodes, np.inf)
    absa = np.abs(sens)
    mask = absa > eps
    s = np.where(mask, absa, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(s > 0, np.maximum(h_pos, 0.0) / s, np.inf)[:, None]
        down = np.where(s > 0, np.maximum(h_neg, 0.0) / s, np.inf)[:, None]
    pos = sens > 0
    exp = np.where(mask, np.where(pos, up, down), np.inf).min(axis=0)
    imp = np.where(mask, np.where(pos, down, up), np.inf).min(axis=0)
    return exp, imp


def _topology_key(net) -> tuple:
    parts = [net.line.in_service.values.tobytes(), net.bus.in_service.values.tobytes()]
    if len(net.trafo):
        parts.append(net.trafo.in_service.values.tobytes())
    if len(net.switch):
        parts.append(net.switch.closed.values.tobytes())
    return tuple(parts)


def _matrices(grid: GridModel) -> dict:
    """PTDF and voltage sensitivities of the grid's nodes, cached while the topology is unchanged."""
    net = grid.net
    key = _topology_key(net)
    cached = grid.cache.get("matrices")
    if cached is not None and cached["key"] == key:
        return cached
    from pandapower.pypower.makePTDF import makePTDF
    from pandapower.pypower.makeYbus import makeYbus

    ppc = net._ppc
    if ppc is None:
        raise IspError(f"grid {grid.name!r}: run the OPF before deriving limits")
    bus_lookup = net._pd2ppc_lookups["bus"]
    base_mva = float(ppc["baseMVA"])
    bus, branch = ppc["bus"], ppc["branch"]
    ref = np.flatnonzero(bus[:, 1] == 3)
    if not len(ref):
        raise IspError(f"grid {grid.name!r}: no slack bus")
    ptdf = makePTDF(base_mva, bus, branch, slack=int(ref[0]))
    rows, branch_rows = [], []
    for element in ("line", "trafo"):
        span = net._pd2ppc_lookups["branch"].get(element)
        if span is None:
            continue
        table = getattr(net, element)
        for k, idx in enumerate(table.index):
            if bool(table.at[idx, "in_service"]):
                rows.append((element, int(idx)))
                branch_rows.append(span[0] + k)
    nodes = grid.buses
    node_ppc = np.array([bus_lookup[b] for b in nodes], dtype=int)
    branch_ptdf = ptdf[np.ix_(branch_rows, node_ppc)]  # dimensionless: kW of flow per kW injected
    # Voltage sensitivity: Re(inv(Ybus restricted to PQ buses)), pu per pu -> pu per kW.
    pq = np.flatnonzero(bus[:, 1] == 1)
    ybus, _, _ = makeYbus(base_mva, bus, branch)
    zpq = np.linalg.inv(ybus[np.ix_(pq, pq)].toarray())
    pos_in_pq = {int(b): k for k, b in enumerate(pq)}
    vsens = np.zeros((len(pq), len(nodes)))
    for j, b in enumerate(node_ppc):
        if int(b) in pos_in_pq:
            vsens[:, j] = zpq[:, pos_in_pq[int(b)]].real / (base_mva * 1000.0)
    ppc_to_pp = {}
    for pp_bus in net.bus.index:
        ppc_to_pp.setdefault(int(bus_lookup[pp_bus]), int(pp_bus))
    ratings = line_rating_kw(net)
    adjacent = {b: 0.0 for b in nodes}
    for element, idx in rows:
        table = getattr(net, element)
        ends = ("from_bus", "to_bus") if element == "line" else ("hv_bus", "lv_bus")
        for end in ends:
            b = int(table.at[idx, end])
            if b in adjacent:
                adjacent[b] += ratings[(element, idx)]
    out = {
        "key": key, "rows": rows, "ptdf": branch_ptdf, "ratings": ratings,
        "vm_buses": [ppc_to_pp[int(b)] for b in pq], "vsens": vsens,
        "cap_kw": np.array([adjacent[b] or np.inf for b in nodes]),
    }  # fmt: skip
    grid.cache["matrices"] = out
    return out


def _branch_headroom(grid: GridModel, m: dict, margin: float):
    net = grid.net
    flows, limits = [], []
    res = {"line": (net.res_line, "p_from_mw"), "trafo": (net.res_trafo, "p_hv_mw")}
    for element, idx in m["rows"]:
        table, pcol = res[element]
        loading = float(table.at[idx, "loading_percent"])
        pct = float(getattr(net, element).at[idx, "max_loading_percent"])
        limit = m["ratings"][(element, idx)]
        nominal = limit * 100.0 / pct
        sign = 1.0 if float(table.at[idx, pcol]) >= 0 else -1.0
        flows.append(sign * nominal * loading / 100.0)
        limits.append(limit * (1.0 - margin))
    flows, limits = np.array(flows), np.array(limits)
    return limits - flows, limits + flows


def derive_limits(
    grid: GridModel, opf: OpfResult, injections: NodalInjections, period_s: float, plan=None,
    margin: float = 0.03, v_tol_pu: float = 0.002,
) -> tuple[StaticLimits, LimitBasis]:  # fmt: skip
    """`static_limits` and the numbers behind them (see the module docstring)."""
    if period_s <= 0:
        raise IspError(f"period_s must be > 0, got {period_s}")
    m = _matrices(grid)
    nodes = grid.buses
    sens = m["ptdf"]
    h_pos, h_neg = _branch_headroom(grid, m, margin)
    rows = list(m["rows"])
    dplus, dminus = share_margins(sens, h_pos, h_neg)
    if opf.method == "ac" and len(m["vm_buses"]):
        vm = grid.net.res_bus.vm_pu
        vb = m["vm_buses"]
        v = vm.loc[vb].values
        vmax = grid.net.bus.max_vm_pu.loc[vb].values
        vmin = grid.net.bus.min_vm_pu.loc[vb].values
        vs = m["vsens"]
        hv_pos = np.maximum(vmax - v, 0.0) + v_tol_pu
        hv_neg = np.maximum(v - vmin, 0.0) + v_tol_pu
        # Worst change of each voltage under the line-based box.
        dp = np.where(np.isfinite(dplus), dplus, m["cap_kw"])
        dm = np.where(np.isfinite(dminus), dminus, m["cap_kw"])
        rise = np.where(vs > 0, vs * dp, -vs * dm).sum(axis=1)
        fall = np.where(vs > 0, vs * dm, -vs * dp).sum(axis=1)
        binding = (rise > hv_pos) | (fall > hv_neg)
        if binding.any():
            scale = np.abs(vs[binding]).max(axis=1)
            scale[scale == 0] = 1.0
            vrows = vs[binding] / scale[:, None]
            sens = np.vstack([sens, vrows])
            h_pos = np.concatenate([h_pos, hv_pos[binding] / scale])
            h_neg = np.concatenate([h_neg, hv_neg[binding] / scale])
            rows += [("vm", vb[k]) for k in np.flatnonzero(binding)]
            dplus, dminus = share_margins(sens, h_pos, h_neg)
    p0 = np.array([injections.p_kw.get(b, 0.0) for b in nodes])
    cap = m["cap_kw"]
    dplus = np.minimum(dplus, np.maximum(cap - p0, 0.0))  # p0 + dP+ <= connection rating
    dminus = np.minimum(dminus, np.maximum(cap + p0, 0.0))  # dP- - p0 <= connection rating
    export_kw = np.clip(p0 + dplus, 0.0, cap)
    import_kw = np.clip(dminus - p0, 0.0, cap)
    export_map = {b: float(export_kw[k]) for k, b in enumerate(nodes)}
    import_map = {b: float(import_kw[k]) for k, b in enumerate(nodes)}
    dplus_map = {b: float(dplus[k]) for k, b in enumerate(nodes)}
    dminus_map = {b: float(dminus[k]) for k, b in enumerate(nodes)}

    cards = _cards(grid, plan)
    forecast = grid.card_forecast_kw(injections.period)
    card_exp, card_imp, weight, base_exp, card_bus = {}, {}, {}, {}, {}
    by_bus: dict[int, list] = {}
    for c in cards:
        by_bus.setdefault(c.bus, []).append(c)
    gen_cap_kw = {
        name: float(grid.net.gen.at[g, "max_p_mw"]) * 1000 for name, g in grid.dispatchable.items()
    }
    for bus, members in by_bus.items():
        if bus not in export_map:
            for c in members:
                card_exp[c.mac] = gen_cap_kw.get(c.name, 0.0) if c.kind == "plant" else 0.0
                card_imp[c.mac] = 0.0
                card_bus[c.mac], weight[c.mac], base_exp[c.mac] = bus, 0.0, 0.0
            continue
        with_forecast = all(c.name in forecast for c in members)
        we = _weights(members, EXPORT_KINDS, forecast)
        wi = _weights(members, IMPORT_KINDS, forecast)
        for c in members:
            card_bus[c.mac] = bus
            if with_forecast:
                f = forecast[c.name]
                exp_kw = max(0.0, f) + we[c.name] * dplus_map[bus]
                imp_kw = max(0.0, -f) + wi[c.name] * dminus_map[bus]
                base_exp[c.mac] = max(0.0, f)
                bus_cap = float(cap[nodes.index(bus)])
                exp_kw, imp_kw = min(exp_kw, bus_cap), min(imp_kw, bus_cap)
            else:
                exp_kw = we[c.name] * export_map[bus]
                imp_kw = wi[c.name] * import_map[bus]
                base_exp[c.mac] = we[c.name] * max(0.0, export_map[bus] - dplus_map[bus])
            weight[c.mac] = we[c.name]
            card_exp[c.mac], card_imp[c.mac] = exp_kw, imp_kw

    vpp_exp = _vpp_exports(grid, m, cards, export_map, card_exp, h_pos[: len(m["rows"])],
                           h_neg[: len(m["rows"])])  # fmt: skip
    limits = StaticLimits(
        period=injections.period,
        period_s=float(period_s),
        export_kw=MappingProxyType(export_map),
        import_kw=MappingProxyType(import_map),
        card_export_bee=MappingProxyType({k: kw_to_bee(v, period_s) for k, v in card_exp.items()}),
        card_import_bee=MappingProxyType({k: kw_to_bee(v, period_s) for k, v in card_imp.items()}),
        vpp_export_bee=MappingProxyType({k: kw_to_bee(v, period_s) for k, v in vpp_exp.items()}),
        method="ptdf+voltage" if any(r[0] == "vm" for r in rows) else "ptdf",
    )
    basis = LimitBasis(
        float(period_s), tuple(nodes), tuple(rows), sens, h_pos, h_neg,
        np.array([dplus_map[b] for b in nodes]), np.array([dminus_map[b] for b in nodes]), p0, cap,
        MappingProxyType(card_bus), MappingProxyType(weight), MappingProxyType(base_exp),
    )  # fmt: skip
    return limits, basis


def static_limits(
    grid: GridModel, opf: OpfResult, injections: NodalInjections, period_s: float, plan=None,
) -> StaticLimits:  # fmt: skip
    """The period's static limits for every node, card and VPP uplink (module docstring: method)."""
    return derive_limits(grid, opf, injections, period_s, plan)[0]


def _cards(grid: GridModel, plan) -> tuple:
    if plan is None:
        return grid.cards
    from eip.isp.grids import plan_cards

    return tuple(plan_cards(grid, plan))


def _weights(members, kinds, forecast) -> dict:
    """Each card's share of a bus margin: by nameplate (largest |forecast|) among capable kinds."""
    able = [c for c in members if c.kind in kinds] or list(members)
    size = {c.name: max((abs(x) for x in c.profile_kw), default=0.0) for c in able}
    total = sum(size.values())
    out = {c.name: 0.0 for c in members}
    for c in able:
        out[c.name] = size[c.name] / total if total > 0 else 1.0 / len(able)
    return out


def _vpp_exports(grid, m, cards, export_map, card_exp, h_pos, h_neg) -> dict:
    buses_of: dict[str, set] = {}
    for c in cards:
        buses_of.setdefault(c.vpp, set()).add(c.bus)
    net = grid.net
    out = {}
    for vpp, buses in buses_of.items():
        total = sum(card_exp[c.mac] for c in cards if c.vpp == vpp)
        tie = 0.0
        has_tie = False
        for k, (element, idx) in enumerate(m["rows"]):
            table = getattr(net, element)
            a, b = ("from_bus", "to_bus") if element == "line" else ("hv_bus", "lv_bus")
            fa, fb = int(table.at[idx, a]) in buses, int(table.at[idx, b]) in buses
            if fa != fb:
                has_tie = True
                tie += max(0.0, h_pos[k] if fa else h_neg[k])
        out[vpp] = min(total, tie) if has_tie else total
    return out


def limits_to_table(limits: StaticLimits, quantum_bee: int, period_s: float | None = None) -> dict:
    """The mapping `eip.sdn.limits.LimitTable.from_mapping` takes (period_s: wall seconds if given)."""
    if isinstance(quantum_bee, bool) or not isinstance(quantum_bee, int) or quantum_bee < 1:
        raise IspError(f"quantum_bee must be a positive integer, got {quantum_bee!r}")
    macs = sorted(set(limits.card_export_bee) | set(limits.card_import_bee))
    return {
        "period_s": float(period_s if period_s is not None else limits.period_s),
        "quantum_bee": quantum_bee,
        "cards": {
            mac: {
                "export_bee": int(limits.card_export_bee.get(mac, 0)),
                "import_bee": int(limits.card_import_bee.get(mac, 0)),
            }
            for mac in macs
        },
        "vpps": {vpp: {"export_bee": int(v)} for vpp, v in sorted(limits.vpp_export_bee.items())},
    }
