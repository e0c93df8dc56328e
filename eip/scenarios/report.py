"""report.md of a run, readable on its own: what ran, the metrics, plots, expectations, checks.

Written from the results.json data (plus the experiment's own markdown section, when it has a
`report` function): title and description; what ran (experiment, topology, mode, settings, timings);
a table of every metric (nested metrics flattened to dotted names); the experiment's section; the PNG
plots of the output folder embedded; the expectations with pass/fail; the ledger checks; the capture
with the tshark command to open it; the artifacts.
"""

import json
import logging
import shlex
from pathlib import Path
from typing import Any

from eip.scenarios.base import RunContext

log = logging.getLogger(__name__)

MAX_METRIC_ROWS = 200  # a run with thousands of values keeps them in results.json only


def flatten(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted name, value) rows; lists of scalars stay one value."""
    if isinstance(metrics, dict):
        rows = []
        for key, value in metrics.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(metrics, list) and any(isinstance(v, dict | list) for v in metrics):
        rows = []
        for i, value in enumerate(metrics):
            rows += flatten(value, f"{prefix}.{i}")
        return rows
    return [(prefix, metrics)]


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list | dict):
        text = json.dumps(value)
        text = text if len(text) <= 80 else text[:77] + "..."
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render(results: dict, out_dir: Path, section: str | None = None) -> str:
    """The markdown of a run's report."""
    sc = results["scenario"]
    parts = [f"# {sc['name']}", ""]
    if sc["description"]:
        parts += [sc["description"].strip(), ""]
    status = results["status"]
    verdict = {"completed": "completed", "interrupted": "**interrupted**", "error": "**failed**"}
    held = results["expectations_held"]
    summary = f"Run {verdict.get(status, status)}"
    if results["expectations"]:
        n_ok = sum(c["held"] for c in results["expectations"])
        mark = "all held" if held else "**some failed**"
        summary += f"; expectations {n_ok}/{len(results['expectations'])} ({mark})"
    parts += [summary + ".", ""]
    if results.get("error"):
        parts += [f"Error: `{results['error']}`" + (" (traceback in error.txt)"
                  if (out_dir / "error.txt").exists() else ""), ""]  # fmt: skip

    t = results["timings"]
    topo = sc["topology"] + (f" {sc['topology_args']}" if sc["topology_args"] else "")
    if sc["topology_kwargs"]:
        topo += f" {sc['topology_kwargs']}"
    parts += ["## What ran", "", table(["", ""], [
        ["scenario file", f"`{sc['file']}`"], ["experiment", sc["experiment"]],
        ["topology", topo], ["mode", results["mode"]],
        ["periods", sc["periods"] if sc["periods"] is not None else "-"],
        ["period (wall s)", sc["period_s"] if sc["period_s"] is not None else "-"],
        ["seed", sc["seed"] if sc["seed"] is not None else "-"],
        ["short variant", "yes" if sc["short"] else "no"],
        ["started (UTC)", t["started_utc"]], ["wall time (s)", t["wall_s"]],
    ]), ""]  # fmt: skip
    if sc["settings"]:
        rows = [[f"`{k}`", v] for k, v in sc["settings"].items()]
        parts += ["Settings:", "", table(["setting", "value"], rows), ""]

    rows = [[f"`{name}`", value] for name, value in flatten(results["metrics"])]
    parts += ["## Metrics", ""]
    if not rows:
        parts += ["The experiment returned no metrics.", ""]
    else:
        parts += [table(["metric", "value"], rows[:MAX_METRIC_ROWS]), ""]
        if len(rows) > MAX_METRIC_ROWS:
            parts += [f"({len(rows) - MAX_METRIC_ROWS} more in results.json)", ""]

    if section:
        parts += [section.strip(), ""]

    plots = {p.name for p in out_dir.glob("*.png")}
    plots |= {a for a in results.get("artifacts", []) if a.endswith(".png")}
    plots = {name for name in plots if f"]({name})" not in (section or "")}  # not twice
    if plots:
        parts += ["## Plots", ""]
        for name in sorted(plots):
            parts += [f"![{Path(name).stem.replace('_', ' ')}]({name})", ""]

    parts += ["## Expectations", ""]
    if results["expectations"]:
        rows = [[f"`{c['metric']}`", c["condition"], c["actual"],
                 "pass" if c["held"] else "**FAIL**" + (f" ({c['note']})" if c["note"] else "")]
                for c in results["expectations"]]  # fmt: skip
        parts += [table(["metric", "expected", "actual", "result"], rows), ""]
    else:
        parts += ["The scenario states no expectations.", ""]

    if sc["needs_network"]:
        parts += _network_sections(results, out_dir)

    parts += ["## Artifacts", ""]
    parts += [f"- `{name}`" for name in artifacts(out_dir)]
    parts += ["", f"Machine: eip {results['environment'].get('eip')}, "
              + ", ".join(f"{k} {v}" for k, v in results["environment"].items()
                          if k != "eip" and v),  ""]  # fmt: skip
    return "\n".join(parts)


def _network_sections(results: dict, out_dir: Path) -> list[str]:
    parts = ["## Ledgers", ""]
    if results["ledgers"]:
        rows = [[c["card"], f"`{c['file']}`", c["records"], "ok" if c["ok"] else "**BAD**",
                 "" if c["ok"] else (f"first bad #{c['first_bad']}: " if c["first_bad"] else "") + c["reason"]]
                for c in results["ledgers"]]  # fmt: skip
        parts += [table(["card", "copy", "records", "chain", "detail"], rows), ""]
        parts += ["Each copy verifies again with `eip ledger verify FILE`.", ""]
    else:
        parts += ["No card ledger was found.", ""]

    parts += _isp_section(results.get("isp"))
    parts += ["## Capture", ""]
    captures = results["capture"]
    captures = [] if captures is None else captures if isinstance(captures, list) else [captures]
    if not captures:
        parts += ["No capture was taken (no emulation was started).", ""]
    for cap in captures:
        name = cap.get("file", "capture.pcap")
        if cap.get("error"):
            parts += [f"`{name}`: no capture: {cap['error']}", ""]
            continue
        if not cap.get("packets"):
            parts += [f"`{name}`: nothing was captured (filter `{cap.get('filter')}` on "
                      f"{len(cap.get('interfaces', []))} switch ports).", ""]  # fmt: skip
            continue
        from eip.scenarios.capture import tshark_command

        cmd = shlex.join([*tshark_command(out_dir / name)[:-1], name])
        parts += [
            f"`{name}`: {cap['packets']} packets of the Energy Internet (`{cap.get('filter')}`), "
            f"{cap.get('eip_packets', 0)} decoded by the eip dissector, "
            f"{cap.get('malformed', 0)} malformed; taken on {len(cap.get('interfaces', []))} "
            "Energy LAN switch ports (each card's and each VPP router's), every frame once per "
            "LAN it crosses. Open it from this folder with:",
            "",
            f"    {cmd} -Y energytcp",
            "",
        ]
    if results.get("controller_log"):
        parts += ["The controller's log is `controller.log`.", ""]
    return parts


def _isp_section(isp) -> list[str]:
    """The Energy ISP of the run: mode and clock, then per period what it published and measured."""
    parts = ["## Energy ISP", ""]
    isps = [] if isp is None else isp if isinstance(isp, list) else [isp]
    if not isps:
        return [*parts, "No emulation was started.", ""]
    for n, one in enumerate(isps, start=1):
        if len(isps) > 1:
            parts += [f"Emulation {n}:", ""]
        if one.get("error"):
            parts += [f"No ISP summary: {one['error']}", ""]
            continue
        mode = "enforcing" if one.get("enforce") else "measuring and publishing only"
        parts += [table(["", ""], [
            ["in the loop", "yes" if one.get("in_loop") else "no"],
            ["mode", mode if one.get("in_loop") else "-"],
            ["period (wall s)", one.get("period_s")], ["first period", one.get("first_period")],
            ["periods run / fail-safes / errors",
             f"{one.get('periods_run')} / {one.get('fail_safes')} / {one.get('errors')}"],
        ]), ""]  # fmt: skip
        rows = []
        for p in one.get("periods", []):
            pub, meas = p.get("published") or {}, p.get("measured") or {}
            lim, got = pub.get("limits_bee", {}), meas.get("cards", {})
            lmp = pub.get("lmp_cny_per_kwh", {})
            prices = ", ".join(f"{b}: {v:.3f}" for b, v in lmp.items()) if lmp else "-"
            for card in sorted(set(lim) | set(got)):
                lc, mc = lim.get(card, {}), got.get(card, {})
                rows.append([p["period"], pub.get("method") or "-", card, lc.get("export_bee", "-"),
                             lc.get("import_bee", "-"), mc.get("exported_bee", "-"),
                             mc.get("imported_bee", "-"), prices])  # fmt: skip
                prices = ""  # once per period
        if rows:
            parts += ["Per period, the static limits the ISP published (BEE per period), the BEE "
                      "the switches measured, and the LMPs per bus (CNY/kWh):", "",
                      table(["period", "OPF", "card", "export limit", "import limit", "exported",
                             "imported", "LMP by bus"], rows), ""]  # fmt: skip
    return parts


def artifacts(out_dir: Path) -> list[str]:
    """The files of the output folder (the emulation's working folders as one entry each)."""
    names = []
    for p in sorted(out_dir.iterdir()):
        if p.is_dir() and p.name.startswith("state"):
            names.append(f"{p.name}/ (the emulation's working folder: keys, configs, card logs)")
        elif p.is_dir():
            names += [str(f.relative_to(out_dir)) for f in sorted(p.rglob("*")) if f.is_file()]
        else:
            names.append(p.name)
    if "report.md" not in names:
        names.append("report.md")
    return sorted(names)


def write_report(results: dict, ctx: RunContext, path: Path) -> None:
    """Write report.md; the experiment's own section, if it fails, becomes a note (not a crash)."""
    from eip.scenarios.base import EXPERIMENTS

    section = None
    exp = EXPERIMENTS.get(results["scenario"]["experiment"])
    if exp is not None and exp.report is not None and results["status"] == "completed":
        try:
            section = exp.report(results["metrics"], ctx)
        except Exception as exc:  # the report must still be written
            log.exception("the experiment's report section failed")
            section = f"(the experiment's report section failed: {type(exc).__name__}: {exc})"
    path.write_text(render(results, ctx.out_dir, section))
