"""Line loading per period in the power flow of the measured injections (issue 12 item 6).

    plot_line_loading({"enforced": flows_a, "measurement only": flows_b}, "line_loading.png")

One panel per run (side by side, same y axis): the loading of every line (and transformer) in each
period, the limit (max_loading_percent, 100 % by default) as a dashed red line, points above it
circled.
On grids with many lines the MAX_LABELLED most loaded ones are labelled by name and the rest drawn
thin and grey as "other lines". matplotlib with the Agg backend (no display needed).
"""

import logging
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LABELLED = 10


def _series(flows) -> dict:
    """(element, index) -> (label, [(period, loading %)], limit %) over a run's flows."""
    out: dict = {}
    for f in flows:
        for kind, loading, limits in (
            ("line", f.line_loading_percent, f.line_max_loading_percent),
            ("trafo", f.trafo_loading_percent, f.trafo_max_loading_percent),
        ):
            for i, pct in loading.items():
                names = f.line_name if kind == "line" else f.trafo_name
                name = names.get(i) or f"{kind} {i}"
                if kind == "trafo" and not name.lower().startswith("trafo"):
                    name = f"trafo {name}"
                label, points, _ = out.setdefault((kind, i), (name, [], 0.0))
                points.append((f.period, pct))
                out[(kind, i)] = (label, points, limits.get(i, 100.0))
    return out


def plot_line_loading(runs: dict, path) -> Path:
    """Line loading (%) per period of each run ({label: [MeasuredFlow, ...]}) as a PNG; its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not runs:
        raise ValueError("plot_line_loading needs at least one run")
    path = Path(path)
    series = {label: _series(flows) for label, flows in runs.items()}
    peak: dict = {}
    for s in series.values():
        for key, (_label, points, _lim) in s.items():
            peak[key] = max(peak.get(key, 0.0), *(p for _t, p in points))
    labelled = set(sorted(peak, key=lambda k: -peak[k])[:MAX_LABELLED])
    order = sorted(peak)
    colours = {key: plt.cm.tab10(n % 10) for n, key in enumerate(k for k in order if k in labelled)}
    fig, axes = plt.subplots(
        1, len(runs), figsize=(6.5 * len(runs), 4.8), sharey=True, squeeze=False
    )
    for ax, (run, s) in zip(axes[0], series.items(), strict=True):
        limits = sorted({lim for _l, _p, lim in s.values()}) or [100.0]
        other_done = False
        for key in sorted(order, key=lambda k: k in labelled):  # grey ones first, underneath
            if key not in s:
                continue
            label, points, limit = s[key]
            points.sort()
            xs, ys = [t for t, _p in points], [p for _t, p in points]
            if key in labelled:
                ax.plot(xs, ys, marker="o", ms=3, lw=1.6, color=colours[key], label=label)
            else:
                ax.plot(xs, ys, lw=0.7, color="0.7", label=None if other_done else "other lines")
                other_done = True
            over = [(x, y) for x, y in zip(xs, ys, strict=True) if y > limit]
            if over:
                ax.scatter(
                    *zip(*over, strict=True), s=40, facecolors="none", edgecolors="red", zorder=5
                )
        for n, lim in enumerate(limits):
            ax.axhline(
                lim, color="red", ls="--", lw=1.2, label=f"limit ({lim:g} %)" if n == 0 else None
            )
        n_over = sum(1 for _l, points, lim in s.values() for _t, p in points if p > lim)
        ax.set_title(f"{run}: {n_over} overloaded line-periods")
        ax.set_xlabel("period (index of the ISP's clock)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # periods are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel("loading (% of rating)")
    fig.suptitle("Line loading in the power flow of the measured injections")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("line loading plot of %d run(s) written to %s", len(runs), path)
    return path
