"""Dynamic exchange limits (Energy TCP): per-card send windows within a period, from measured exports.

Static limits assume every node uses its full limit at once. Within a period the ISP measures what
cards actually export and recomputes, per card:

1. the bus's effective export margin, with the static sharing formula but with *measured* usage of
   the other nodes (their projected export above forecast, never above their static margin; nodes
   without measurements, and all imports, at their static margins):

       dP+dyn_b = min over rows l loaded by b of (h_l(dir) - sum_{j != b} |A_lj| u_j) / |A_lb|

   With every other node at its static margin this is exactly the static dP+_b, so the dynamic
   margin is never below the static one and the static guarantee still holds;
2. the card's effective period limit = static limit + its share of (dP+dyn_b - dP+_b) x period;
3. its window = remaining energy / remaining time x horizon_s, clamped to [0, static rate x horizon_s].

Windows shrink as a card uses up its own limit and grow back when other nodes use less of the shared
headroom than their static share.
"""

import numpy as np

from eip.isp.limits import EPS, LimitBasis, kw_to_bee
from eip.isp.model import IspError, StaticLimits


class DynamicLimits:
    """Send windows (BEE) for each card within one period, updated from measured exports."""

    def __init__(self, static: StaticLimits, basis: LimitBasis | None = None,
                 horizon_s: float = 10.0):  # fmt: skip
        if horizon_s <= 0:
            raise IspError(f"horizon_s must be > 0, got {horizon_s}")
        self.static = static
        self.basis = basis
        self.horizon_s = float(horizon_s)
        self.period_s = float(static.period_s)

    def static_window_bee(self, mac: str) -> int:
        return int(self.static.card_export_bee.get(mac, 0) / self.period_s * self.horizon_s)

    def update(self, measured_bee_so_far: dict, elapsed_s: float) -> dict:
        """mac -> window in BEE for the next `horizon_s`, given BEE exported so far this period."""
        elapsed = min(max(float(elapsed_s), 0.0), self.period_s)
        remaining_s = self.period_s - elapsed
        extra_bee = self._extra_bee(measured_bee_so_far, elapsed)
        out = {}
        for mac, limit_bee in self.static.card_export_bee.items():
            static_window = limit_bee / self.period_s * self.horizon_s
            if remaining_s <= 0:
                out[mac] = 0
                continue
            used = float(measured_bee_so_far.get(mac, 0))
            effective = limit_bee + extra_bee.get(mac, 0.0)
            rate = max(0.0, effective - used) / remaining_s
            out[mac] = int(min(static_window, rate * self.horizon_s))
        return out

    def _extra_bee(self, measured: dict, elapsed: float) -> dict:
        """Per card: BEE the period may add to its static limit because others use less headroom."""
        b = self.basis
        if b is None or elapsed <= 0 or not len(b.nodes):
            return {}
        nodes = list(b.nodes)
        # Measured average export per bus (kW), for buses whose every card reported.
        reported = {bus: True for bus in nodes}
        export_kw = dict.fromkeys(nodes, 0.0)
        base_kw = dict.fromkeys(nodes, 0.0)
        for mac, bus in b.card_bus.items():
            if bus not in export_kw:
                continue
            if mac not in measured:
                reported[bus] = False
                continue
            export_kw[bus] += float(measured[mac]) * 3.6 / elapsed  # BEE (Wh) over elapsed s -> kW
            base_kw[bus] += b.card_base_export_kw.get(mac, 0.0)
        dplus = np.where(np.isfinite(b.dplus_kw), b.dplus_kw, 0.0)
        dminus = np.where(np.isfinite(b.dminus_kw), b.dminus_kw, 0.0)
        use_exp = np.array([
            min(max(0.0, export_kw[bus] - base_kw[bus]), dplus[k]) if reported[bus] else dplus[k]
            for k, bus in enumerate(nodes)
        ])  # fmt: skip
        a = b.sens
        absa = np.abs(a)
        mask = absa > EPS
        dyn = np.array(b.dplus_kw, dtype=float)
        for k in range(len(nodes)):
            rows = np.flatnonzero(mask[:, k])
            if not len(rows):
                continue
            best = np.inf
            for r in rows:
                same = np.sign(a[r]) == np.sign(a[r, k])
                head = b.h_pos[r] if a[r, k] > 0 else b.h_neg[r]
                # others' exports in the same direction at measured use; importers (pushing the
                # same way when their sign is opposite) at their static margins
                load = np.where(mask[r] & same, absa[r] * use_exp, 0.0)
                load += np.where(mask[r] & ~same, absa[r] * dminus, 0.0)
                load[k] = 0.0
                best = min(best, (max(head, 0.0) - load.sum()) / absa[r, k])
            dyn[k] = max(b.dplus_kw[k], min(best, b.cap_kw[k] - b.p0_kw[k]))
        out = {}
        for mac, bus in b.card_bus.items():
            if bus not in nodes:
                continue
            k = nodes.index(bus)
            gain_kw = max(0.0, dyn[k] - b.dplus_kw[k]) if np.isfinite(dyn[k]) else 0.0
            out[mac] = kw_to_bee(b.card_export_weight.get(mac, 0.0) * gain_kw, self.period_s)
        return out
