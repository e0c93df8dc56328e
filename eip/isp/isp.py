"""The Energy ISP's period loop: OPF -> static limits -> reversal -> fees, with a fail-safe.

    isp = EnergyIsp(eip.cases.grid_for_plan(plan), plan, period_s=60, quantum_bee=10)
    result = isp.run_period(0, isp.forecast(0))      # an IspPeriod (frozen)
    table = isp.limit_table()                        # the LimitTable the controller enforces

Each period:

1. the OPF on the period's nodal injections (`run_opf`, AC with a DC fallback in eip/isp/opf.py);
2. static limits from it (`static_limits`): per bus kW, per card and VPP uplink BEE per period;
3. the reversal (eip/isp/reversal.py): where the injections still break a bus limit, the ISP adds its
   own exchanges at that bus; the OPF is re-run on the corrected injections for the losses and prices
   (if that second run fails, the first one's figures are kept);
4. the service fees (eip/isp/fees.py) for losses, reversal and the 10 % profit floor, shared by usage.

**Fail-safe.** When the OPF (or the limits computed from it) raises `IspError`, the error is logged and
the previous period's limits stay in force: the result is marked `fail_safe=True` and carries them.
With no previous period there is nothing to keep, and the `IspError` is raised.

The ISP sees nodal injections only: `measured_injections` turns metered BEE per card into kW per bus
with the plan's card -> bus map, and nothing pairwise goes further.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from eip.isp.fees import (
    MIN_PROFIT_RATE,
    Fees,
    fee_bills,
    lmp_settlement_cny,
    losses_cost_cny,
    service_fees,
)
from eip.isp.model import IspError, NodalInjections, OpfResult, StaticLimits
from eip.isp.reversal import Reversal, reversal_exchanges
from eip.sdn.limits import LimitsError, LimitTable

log = logging.getLogger(__name__)

BEE_PER_KWH = 1000  # 1 BEE = 1 Wh (seed 000, Fig. 2)
HISTORY = 12  # periods kept in the status: the card limits each one put in force
# The controller reads a dynamic window as BEE per second (meter rate = window / quantum pktps, an RTT
# of about 1 s: docs/controller.md), so the ISP asks DynamicLimits for windows over a 1 s horizon.
WINDOW_HORIZON_S = 1.0
# What a "published" record holds of a period's summary (the rest stays in the controller's status).
PUBLISHED = ("period", "method", "fail_safe", "cards", "vpps", "lmp_cny_per_kwh", "losses_kw",
             "line_loading_percent", "bus_export_kw", "bus_import_kw", "fees", "bills")  # fmt: skip


@dataclass(frozen=True)
class IspPeriod:
    """Everything the ISP decided for one period (frozen)."""

    period: int
    fail_safe: bool
    limits: StaticLimits  # in force for this period (the previous ones after a fail-safe)
    table: MappingProxyType  # the LimitTable mapping built from `limits`
    injections: NodalInjections  # what the ISP was given (forecast or measured)
    opf: OpfResult | None = None  # None after a fail-safe
    reversal: Reversal | None = None
    fees: Fees | None = None
    error: str = ""
    timings_s: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    usage_kwh: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # fee shares

    @property
    def method(self) -> str | None:
        return self.opf.method if self.opf is not None else None

    def bills(self) -> dict:
        """card MAC -> (usage BEE, rate) of the period's service-fee bills (R5.8, fees.fee_bills)."""
        return fee_bills(self.fees, self.usage_kwh) if self.fees else {}

    def summary(self) -> dict:
        """JSON-serialisable view (for the controller's status)."""
        opf, fees, rev = self.opf, self.fees, self.reversal
        return {
            "period": self.period,
            "method": self.method,
            "fail_safe": self.fail_safe,
            "error": self.error,
            "limits_period": self.limits.period,
            "injections_kw": {str(b): round(v, 3) for b, v in sorted(self.injections.p_kw.items())},
            "bus_export_kw": {str(b): v for b, v in sorted(self.limits.export_kw.items())},
            "bus_import_kw": {str(b): v for b, v in sorted(self.limits.import_kw.items())},
            "cards": {
                mac: {"export_bee": lim["export_bee"], "import_bee": lim["import_bee"]}
                for mac, lim in sorted(self.table.get("cards", {}).items())
            },
            "vpps": {v: lim["export_bee"] for v, lim in sorted(self.table.get("vpps", {}).items())},
            "lmp_cny_per_kwh": (
                {str(b): v for b, v in sorted(opf.lmp_cny_per_kwh.items())} if opf else {}
            ),
            "losses_kw": opf.losses_kw if opf else None,
            "cost_cny_per_h": opf.cost_cny_per_h if opf else None,
            "line_loading_percent": (
                {str(k): v for k, v in sorted(opf.line_loading_percent.items())} if opf else {}
            ),
            "reversal_kw": {str(b): v for b, v in sorted(rev.added_kw.items())} if rev else {},
            "reversal_cost_cny": rev.cost_cny if rev else 0.0,
            "fees": (
                {
                    "total_cny": fees.total_cny,
                    "losses_cny": fees.losses_cny,
                    "reversal_cny": fees.reversal_cny,
                    "surplus_cny": fees.surplus_cny,
                    "profit_rate": fees.profit_rate,
                    "by_card_cny": dict(sorted(fees.by_card_cny.items())),
                }
                if fees
                else None
            ),
            "bills": {mac: list(bill) for mac, bill in self.bills().items()},
            "timings_s": {k: round(v, 6) for k, v in self.timings_s.items()},
        }


def _freeze(value):
    """A read-only deep copy of a mapping of mappings."""
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _thaw(value):
    """Plain dicts again (LimitTable.from_mapping wants dicts)."""
    if isinstance(value, dict | MappingProxyType):
        return {k: _thaw(v) for k, v in value.items()}
    return value


class EnergyIsp:
    """One ISP over one grid and one network plan. Not thread-safe; the controller calls it."""

    def __init__(
        self,
        grid,
        plan,
        period_s: float,
        quantum_bee: int,
        *,
        epoch_s: float = 0.0,
        run_opf: Callable | None = None,
        static_limits: Callable | None = None,
        limits_to_table: Callable | None = None,
        dynamic_limits: Callable | None = None,
    ):
        if period_s <= 0 or quantum_bee < 1:
            raise IspError(f"need period_s > 0 and quantum_bee >= 1, got {period_s}, {quantum_bee}")
        self.grid, self.plan = grid, plan
        self.period_s, self.quantum_bee, self.epoch_s = float(period_s), int(quantum_bee), epoch_s
        # The grid code (eip/isp/opf.py, limits.py, dynamic.py) is imported here, not at module level,
        # so it can be replaced (tests) and this module imports without it.
        if run_opf is None:
            from eip.isp.opf import run_opf
        if static_limits is None or limits_to_table is None:
            from eip.isp import limits as _limits

            # derive_limits = static_limits plus the numbers behind them, which DynamicLimits uses
            static_limits = static_limits or _limits.derive_limits
            limits_to_table = limits_to_table or _limits.limits_to_table
        if dynamic_limits is None:
            from eip.isp.dynamic import DynamicLimits as dynamic_limits
        self._run_opf, self._static_limits = run_opf, static_limits
        self._limits_to_table, self._dynamic_cls = limits_to_table, dynamic_limits
        # The grid's bus of each card where it has one (vpp_lans: the plan says 0, the grid VPP i).
        grid_bus = {str(m).lower(): b for m, b in (getattr(grid, "bus_of_mac", None) or {}).items()}
        self.card_bus = {c.mac.lower(): int(grid_bus.get(c.mac.lower(), c.bus)) for c in plan.cards}
        self.last: IspPeriod | None = None  # the latest period (fail-safe or not)
        self.in_force: IspPeriod | None = None  # the latest period that computed its limits
        self.dynamic = None
        self._basis = (
            None  # the LimitBasis of the limits in force (None from a plain static_limits)
        )
        self.fail_safes = 0
        self.periods_run = 0
        self.history: dict[int, dict] = {}  # period -> method, fail_safe, card export BEE in force
        self.records: list[dict] = []  # published / measured per period, for take_records()

    # ------------------------------------------------------------------------------- injections

    def measured_injections(
        self, period: int, exported_bee_by_mac: dict, imported_bee_by_mac: dict, elapsed_s: float
    ) -> NodalInjections:
        """Metered BEE per card -> kW per bus: (export - import) / 1000 kWh over elapsed_s hours.

        Only buses where some card moved BEE appear (the rest is not measured). Unknown MACs are
        ignored; nothing about who traded with whom survives the sum.
        """
        hours = max(float(elapsed_s), 1e-9) / 3600.0
        net_bee: dict[int, float] = {}
        for sign, counts in ((1.0, exported_bee_by_mac), (-1.0, imported_bee_by_mac)):
            for mac, bee in (counts or {}).items():
                bus = self.card_bus.get(str(mac).lower())
                if bus is None:
                    log.debug("metered BEE of unknown card %s ignored", mac)
                    continue
                if bee:
                    net_bee[bus] = net_bee.get(bus, 0.0) + sign * float(bee)
        return NodalInjections(period, {b: v / BEE_PER_KWH / hours for b, v in net_bee.items()})

    def forecast(
        self, period: int, measured: NodalInjections | None = None, measured_macs=None
    ) -> NodalInjections:
        """The grid's base injections, with the measured cards' share replaced by what was metered.

        At a measured bus b: base[b] - (forecast of its measured cards) + measured[b]. The measured
        cards are `measured_macs`, or by default every card at a measured bus (then a bus whose base
        is its cards' forecasts simply takes the measured value). Cards that moved no BEE keep their
        forecast. Only the grid's injection buses (`grid.buses`, if it has them) take measurements: a
        bus with nothing but the ISP's dispatchable plants is the OPF's to decide.
        """
        base = self.grid.base_injections_kw(period)
        p_kw = dict(getattr(base, "p_kw", base))
        if measured is None:
            return NodalInjections(period, p_kw)
        buses = getattr(self.grid, "buses", None)
        buses = set(buses) if buses is not None else None
        if measured_macs is None:
            measured_macs = {m for m, b in self.card_bus.items() if b in measured.p_kw}
        card_kw = self._card_forecast_kw(period)
        for bus, kw in measured.p_kw.items():
            if buses is not None and bus not in buses:
                continue
            forecast_measured = sum(
                card_kw.get(m, 0.0)
                for m in measured_macs
                if self.card_bus.get(str(m).lower()) == bus
            )
            p_kw[bus] = p_kw.get(bus, 0.0) - forecast_measured + kw
        return NodalInjections(period, p_kw)

    def _card_forecast_kw(self, period: int) -> dict:
        """MAC -> the grid's forecast kW of that card for the period ({} if the grid has none)."""
        by_name = getattr(self.grid, "card_forecast_kw", None)
        if by_name is None:
            return {}
        kw = by_name(period)
        mac_of = {c.name: c.mac.lower() for c in self.plan.cards}
        return {mac_of[n]: v for n, v in kw.items() if n in mac_of}

    # ------------------------------------------------------------------------------------ period

    def run_period(
        self,
        period: int,
        injections: NodalInjections,
        usage_kwh_by_card: dict | None = None,
        grid_revenue_cny: float | None = None,
    ) -> IspPeriod:
        """OPF -> static limits -> reversal -> fees for one period; fail-safe on IspError.

        `usage_kwh_by_card` shares the fees (the latest metered usage; every plan card at 0 if None).
        `grid_revenue_cny` defaults to the LMP settlement of the corrected injections.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        period_h = self.period_s / 3600.0
        try:
            opf = self._run_opf(self.grid, injections)
            timings["opf_s"] = time.perf_counter() - t0
            t = time.perf_counter()
            limits = self._static_limits(self.grid, opf, injections, self.period_s, self.plan)
            basis = None
            if isinstance(limits, tuple):  # derive_limits: (StaticLimits, LimitBasis)
                limits, basis = limits
            table = self._table(limits)
            timings["limits_s"] = time.perf_counter() - t
        except (IspError, LimitsError) as exc:
            return self._fail_safe(period, injections, exc, timings, t0)
        t = time.perf_counter()
        reversal = reversal_exchanges(limits, injections, opf.lmp_cny_per_kwh, period_h)
        settled = opf
        if not reversal.empty:
            try:
                settled = self._run_opf(self.grid, reversal.corrected)
            except IspError as exc:
                log.warning(
                    "ISP period %d: OPF after the reversal failed (%s): first OPF kept", period, exc
                )
        timings["reversal_s"] = time.perf_counter() - t
        t = time.perf_counter()
        usage = (
            usage_kwh_by_card
            if usage_kwh_by_card is not None
            else {mac: 0.0 for mac in self.card_bus}
        )
        revenue = (
            grid_revenue_cny
            if grid_revenue_cny is not None
            else lmp_settlement_cny(settled, reversal.corrected, period_h)
        )
        fees = service_fees(
            settled, period_h, losses_cost_cny(settled, period_h), reversal.cost_cny, revenue, usage
        )
        timings["fees_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t0
        result = IspPeriod(
            period, False, limits, table, injections, settled, reversal, fees, "",
            MappingProxyType(timings), MappingProxyType({str(m).lower(): float(v) for m, v in usage.items()}),
        )  # fmt: skip
        self.last = self.in_force = result
        self._basis = basis
        self.dynamic = self._dynamic_cls(limits, basis, horizon_s=WINDOW_HORIZON_S)
        self._remember(result)
        self.periods_run += 1
        log.info(
            "ISP period %d: %s OPF, losses %.3f kW, reversal %.3f kWh, fees %.4f CNY (%.1f ms)",
            period, opf.method, settled.losses_kw, reversal.total_kwh, fees.total_cny,
            timings["total_s"] * 1000,
        )  # fmt: skip
        return result

    def _fail_safe(self, period, injections, exc, timings, t0) -> IspPeriod:
        self.periods_run += 1
        if self.in_force is None:
            log.error("ISP period %d: %s; no previous limits to keep", period, exc)
            raise IspError(f"period {period}: {exc} (and no previous limits to keep)") from exc
        self.fail_safes += 1
        old = self.in_force
        log.error(
            "ISP period %d: %s -- FAIL-SAFE: the limits of period %d stay in force",
            period, exc, old.limits.period,
        )  # fmt: skip
        timings["total_s"] = time.perf_counter() - t0
        result = IspPeriod(
            period, True, old.limits, old.table, injections, error=str(exc),
            timings_s=MappingProxyType(timings),
        )  # fmt: skip
        self.last = result
        self.dynamic = self._dynamic_cls(old.limits, self._basis, horizon_s=WINDOW_HORIZON_S)
        self._remember(result)
        return result

    def _remember(self, result: IspPeriod) -> None:
        summary = result.summary()
        self.records.append({"kind": "published"} | {k: summary[k] for k in PUBLISHED})
        cards = result.table.get("cards", {})
        self.history[result.period] = {
            "method": result.method,
            "fail_safe": result.fail_safe,
            "export_bee": {mac: lim["export_bee"] for mac, lim in sorted(cards.items())},
        }
        for old in sorted(self.history)[:-HISTORY]:
            del self.history[old]

    def _table(self, limits: StaticLimits) -> MappingProxyType:
        d = dict(self._limits_to_table(limits, self.quantum_bee))
        d["period_s"] = self.period_s
        d["quantum_bee"] = self.quantum_bee
        d["epoch_s"] = self.epoch_s
        LimitTable.from_mapping(_thaw(d))  # strict: a bad table fails here, not in the controller
        return _freeze(d)

    # ---------------------------------------------------------------------------- for the controller

    def limit_table(self) -> LimitTable:
        """The limits in force, as the controller's LimitTable."""
        if self.last is None:
            raise IspError("no period has been run yet")
        return LimitTable.from_mapping(_thaw(self.last.table))

    def period_boundary(
        self,
        period: int,
        exported_bee_by_mac: dict,
        imported_bee_by_mac: dict,
        elapsed_s: float,
    ) -> IspPeriod:
        """What the controller calls when a period starts: metering of the last period -> next limits."""
        measured = None
        if elapsed_s > 0:
            measured = self.measured_injections(
                period, exported_bee_by_mac, imported_bee_by_mac, elapsed_s
            )
        usage = {
            mac: (exported_bee_by_mac.get(mac, 0) + imported_bee_by_mac.get(mac, 0)) / BEE_PER_KWH
            for mac in self.card_bus
        }
        moved = {mac for mac, kwh in usage.items() if kwh > 0}
        if self.last is not None:  # what the switches measured in the period that just ended
            self.records.append({
                "kind": "measured", "period": self.last.period, "elapsed_s": round(elapsed_s, 3),
                "exported_bee": {str(m).lower(): int(v) for m, v in sorted(exported_bee_by_mac.items())},
                "imported_bee": {str(m).lower(): int(v) for m, v in sorted(imported_bee_by_mac.items())},
            })  # fmt: skip
        return self.run_period(period, self.forecast(period, measured, moved), usage)

    def dynamic_windows(self, exported_bee_by_mac: dict, elapsed_s: float) -> dict:
        """Within a period: the dynamic windows (BEE) per card MAC from what each card exported so far."""
        if self.dynamic is None:
            return {}
        return dict(self.dynamic.update(exported_bee_by_mac, elapsed_s) or {})

    def node_prices(self) -> dict:
        """card MAC -> (buy, sell) CNY/kWh at its bus in the latest period, the public price signal
        (R5.7): the grid pays the LMP for energy fed in and charges LMP x (1 + MIN_PROFIT_RATE)
        for energy taken, its 10 % profit rate (seed 000 s.10); empty before an OPF ran."""
        opf = self.last.opf if self.last is not None else None
        if opf is None:
            opf = self.in_force.opf if self.in_force is not None else None
        if opf is None:
            return {}
        lmp = opf.lmp_cny_per_kwh
        up = 1.0 + MIN_PROFIT_RATE
        return {mac: (lmp[b] * up, lmp[b]) for mac, b in self.card_bus.items() if b in lmp}

    def take_records(self) -> list[dict]:
        """The published and measured records since the last call (the controller app logs them)."""
        out, self.records = self.records, []
        return out

    def start_clock(self, now: float, first_period: int) -> float:
        """Restart the period clock: period `first_period` begins at `now`; the new epoch_s."""
        self.epoch_s = now - first_period * self.period_s
        self.records.append(
            {"kind": "clock", "epoch_s": self.epoch_s, "first_period": first_period}
        )
        return self.epoch_s

    def status(self) -> dict:
        out = {
            "periods_run": self.periods_run,
            "fail_safes": self.fail_safes,
            "period_s": self.period_s,
            "quantum_bee": self.quantum_bee,
            "epoch_s": self.epoch_s,
            "history": {str(p): h for p, h in sorted(self.history.items())},
        }
        if self.last is not None:
            out |= self.last.summary()
        return out


class MeasuringIsp:
    """The ISP in measurement-only mode (a scenario's `isp: {enforce: false}`): it runs every period
    on the metered injections and publishes its limits and prices (status, records), but the table
    the controller enforces stays `fixed` (on the ISP's clock) and it sends no dynamic windows."""

    enforce = False

    def __init__(self, isp: EnergyIsp, fixed: LimitTable):
        self.isp, self.fixed = isp, fixed

    def __getattr__(self, name: str):
        return getattr(self.isp, name)

    def limit_table(self) -> LimitTable:
        import dataclasses

        return dataclasses.replace(self.fixed, period_s=self.isp.period_s, epoch_s=self.isp.epoch_s)

    def dynamic_windows(self, exported_bee_by_mac: dict, elapsed_s: float) -> dict:
        return {}

    def status(self) -> dict:
        return self.isp.status() | {"enforce": False}


def restart_clock(isp, table: LimitTable, start_s: float, first_period: int) -> LimitTable:
    """The ISP's period `first_period` begins at `start_s` (e.g. when the scenario's first period
    does); the controller's `table` on the new clock, so its next tick is a period boundary."""
    import dataclasses

    return dataclasses.replace(table, epoch_s=isp.start_clock(start_s, first_period))


def start_isp(
    grid, plan, limits: LimitTable, now: float, first_period: int = 0, enforce: bool = True
) -> tuple[EnergyIsp, LimitTable]:
    """The ISP for a plan on its grid (`eip.cases.grid_for_plan(plan)`) and the limits of its first period.

    Period `first_period` (e.g. 8: the seed's day starts at 16:00, the evening peak) begins at `now`:
    the epoch is `now - first_period x period_s`. `limits` gives period_s and quantum_bee; if the
    first OPF fails it is also what stays in force, and the ISP tries again at the next period.
    With `enforce=False` the ISP is a `MeasuringIsp`: `limits` stays in force, on the ISP's clock.
    """
    import dataclasses

    epoch_s = now - first_period * limits.period_s
    isp = EnergyIsp(grid, plan, limits.period_s, limits.quantum_bee, epoch_s=epoch_s)
    outer = isp if enforce else MeasuringIsp(isp, limits)
    try:
        isp.run_period(first_period, isp.forecast(first_period))
    except IspError as exc:
        log.error("ISP period %d failed (%s): the limits file stays in force", first_period, exc)
        return outer, dataclasses.replace(limits, epoch_s=epoch_s)
    return outer, outer.limit_table()
