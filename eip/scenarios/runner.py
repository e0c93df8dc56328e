"""Run a scenario: prepare the output folder, run the experiment, check its expectations, report.

    result = run_scenario(load_scenario("scenarios/four_node_day.yaml"), mode="both")
    result.exit_code   # 0 every expectation held, 1 one failed (or the experiment failed), 130 Ctrl-C

The output folder (default `out/<name>/<UTC time>`, with `out/<name>/latest` pointing at it):

    results.json      scenario, mode, status, timings, metrics, expectations, ledgers, capture, isp,
                      versions
    report.md         the same for people, with the experiment's plots embedded
    *.png, ...        what the experiment wrote through `ctx.path(...)`
    capture.pcap      the Energy Internet packets of the run (ip proto 253), see eip.scenarios.capture
    ledgers/CARD.sqlite   a copy of every card's ledger, each verified
    controller.log    the Energy ISP controller's log
    run.log           the eip log of the run (INFO)
    state/            the emulation's working folder: plan, limits, keys, card configs and logs

Experiments needing the network get `ctx.emulation(topo=None, **kwargs)`: an `Emulation` (default:
the scenario's topology) whose state lives in `state/`, captured while it runs, and stopped whatever
happens: on return, on an exception, on Ctrl-C (SIGINT) and on SIGTERM.
"""

import json
import logging
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from eip import __version__
from eip.errors import EipError
from eip.scenarios.base import MODES, RunContext
from eip.scenarios.capture import Capture, lan_taps
from eip.scenarios.schema import Scenario

log = logging.getLogger(__name__)

DEFAULT_OUT_ROOT = Path("out")


class RunError(EipError):
    """The scenario cannot be run as asked (bad mode, machine not ready, output folder taken)."""


@dataclass
class RunResult:
    out_dir: Path
    results: dict
    exit_code: int

    @property
    def status(self) -> str:
        return self.results["status"]


# --- output folder ----------------------------------------------------------------------------
def default_out_dir(scenario: Scenario, root: Path = DEFAULT_OUT_ROOT) -> Path:
    """`out/<name>/<UTC timestamp>` (a suffix if that exists already)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / scenario.name
    out, n = base / stamp, 2
    while out.exists():
        out, n = base / f"{stamp}-{n}", n + 1
    return out


def _link_latest(out_dir: Path) -> None:
    latest = out_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out_dir.name)
    except OSError as exc:
        log.warning("cannot link %s: %s", latest, exc)


def preflight(scenario: Scenario, command: str = "") -> None:
    """RunError naming the fix when this machine cannot run the scenario's network."""
    if not scenario.experiment_def.needs_network:
        return
    command = command or f"eip run {scenario.path}"
    if os.geteuid() != 0:
        raise RunError(f"this scenario runs an emulated network: run as root: sudo {command}")
    from eip.net.build import check_environment

    try:
        check_environment()
    except EipError as exc:
        raise RunError(f"{exc} (`bash run.sh` sets up and starts what is missing)") from None


# --- progress ---------------------------------------------------------------------------------
class Progress:
    """`progress(what, done, total)`: a rich bar per `what` on a terminal, plain lines otherwise."""

    def __init__(self, interactive: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.bars = None
        self.tasks: dict[str, Any] = {}
        self.last: dict[str, int] = {}

    def __enter__(self) -> "Progress":
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bars

            self.bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=Console(file=self.stream))  # fmt: skip
            self.bars.start()
        return self

    def __exit__(self, *_exc) -> bool:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None
        return False

    def __call__(self, what: str, done: int, total: int) -> None:
        log.info("%s: %d/%d", what, done, total)
        if self.bars is not None:
            if what not in self.tasks:
                self.tasks[what] = self.bars.add_task(what, total=total)
            self.bars.update(self.tasks[what], completed=done, total=total)
        elif self.last.get(what) != done:
            self.last[what] = done
            print(f"{what}: {done}/{total}", file=self.stream, flush=True)


# --- the emulations of a run ------------------------------------------------------------------
class _Signals:
    """SIGTERM raises KeyboardInterrupt like SIGINT; `quiet()` ignores both while cleaning up."""

    def __init__(self):
        self.main = threading.current_thread() is threading.main_thread()
        self.saved: dict = {}

    def install(self) -> None:
        if self.main:
            self.saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, _raise_interrupt)

    def restore(self) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)

    def quiet(self):
        return _Quiet(self.main)


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


class _Quiet:
    def __init__(self, main: bool):
        self.main = main
        self.saved: dict = {}

    def __enter__(self):
        if self.main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, signal.SIG_IGN)

    def __exit__(self, *_exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False


class EmulationFactory:
    """`ctx.emulation`: makes Emulations whose state is in the run's folder, captured and tracked."""

    def __init__(self, scenario: Scenario, out_dir: Path, signals: _Signals, capture: bool = True):
        self.scenario = scenario
        self.out_dir = out_dir
        self.signals = signals
        self.capture = capture
        self.made: list = []  # every Emulation made, in order
        self.captures: list[dict] = []

    @property
    def topology(self):
        """A fresh Mininet Topo of the scenario's topology (graph only; nothing runs)."""
        from topologies import TOPOLOGIES

        s = self.scenario
        return TOPOLOGIES[s.topology](*s.topology_args, **s.topology_kwargs)

    def __call__(self, topo=None, **kwargs):
        from eip.net.emulation import Emulation

        factory = self
        n = len(self.made) + 1
        suffix = "" if n == 1 else f"-{n}"
        kwargs.pop("state_root", None)

        class RunEmulation(Emulation):
            """An Emulation with the run's capture, stopped by the runner if the experiment doesn't."""

            def start(self):
                super().start()
                if factory.capture:
                    self.capture = Capture(factory.out_dir / f"capture{suffix}.pcap")
                    try:
                        self.capture.start(lan_taps(self))
                    except Exception as exc:  # a capture problem must not stop the experiment
                        self.capture.info["error"] = f"{type(exc).__name__}: {exc}"
                return self

            def stop(self):
                with factory.signals.quiet():
                    cap = getattr(self, "capture", None)
                    if cap is not None:
                        self.capture = None
                        info = cap.stop()
                        info["emulation"] = n
                        factory.captures.append(info)
                    try:
                        super().stop()
                    finally:
                        _copy(self.state_root / "controller.log",
                              factory.out_dir / f"controller{suffix}.log")  # fmt: skip

        s = self.scenario
        kwargs.setdefault("isp", s.isp)
        kwargs.setdefault("isp_enforce", s.isp_enforce)
        if s.period_s and "limits" not in kwargs:
            kwargs.setdefault("period_s", s.period_s)
        kwargs.setdefault("isp_first_period", int(s.settings.get("first_period") or 0))
        topo = topo if topo is not None else self.topology
        emulation = RunEmulation(topo, state_root=self.out_dir / f"state{suffix}", **kwargs)
        self.made.append(emulation)
        return emulation

    def stop_all(self) -> None:
        for emu in self.made:
            try:
                emu.stop()
            except Exception as exc:  # go on with the others
                log.warning("stopping an emulation failed: %s", exc)


def _copy(src: Path, dst: Path) -> None:
    try:
        if src.exists():
            shutil.copyfile(src, dst)
    except OSError as exc:
        log.warning("cannot copy %s: %s", src, exc)


# --- ledgers ----------------------------------------------------------------------------------
def collect_ledgers(out_dir: Path) -> list[dict]:
    """Copy every card's ledger (state*/CARD/ledger.sqlite) to ledgers/ and verify each copy."""
    from eip.card.ledger import Ledger

    checks = []
    for state in sorted(out_dir.glob("state*")):
        if not state.is_dir():
            continue
        target_dir = out_dir / "ledgers" / ("" if state.name == "state" else state.name)
        for src in sorted(state.glob("*/ledger.sqlite")):
            card = src.parent.name
            dst = target_dir / f"{card}.sqlite"
            dst.parent.mkdir(parents=True, exist_ok=True)
            check = {"card": card, "file": str(dst.relative_to(out_dir))}
            try:
                _sqlite_copy(src, dst)
                ledger = Ledger.open(dst)
                try:
                    result = ledger.verify()
                finally:
                    ledger.close()
                check.update(ok=result.ok, records=result.records, first_bad=result.first_bad,
                             reason=result.reason)  # fmt: skip
            except Exception as exc:  # a broken ledger is a finding, not a crash
                check.update(ok=False, records=0, first_bad=None, reason=f"{exc}")
            checks.append(check)
    return checks


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy (the WAL included) through SQLite's backup API."""
    dst.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


# --- environment ------------------------------------------------------------------------------
def environment() -> dict:
    env = {"eip": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("pandapower", "os-ken", "mininet"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = None
    for key, cmd in (("ovs", ["ovs-vsctl", "--version"]), ("tshark", ["tshark", "--version"])):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            env[key] = done.stdout.splitlines()[0].strip() if done.stdout else None
        except (OSError, subprocess.TimeoutExpired, IndexError):
            env[key] = None
    return env


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "_asdict"):
        return value._asdict()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the run ----------------------------------------------------------------------------------
def run_scenario(scenario: Scenario, out_dir: str | Path | None = None, mode: str | None = None,
                 interactive: bool | None = None, command: str = "", capture: bool = True,
                 echo=None) -> RunResult:  # fmt: skip
    """Run `scenario` into `out_dir`; RunError before anything ran if it cannot be run as asked.

    The results are written whatever happens once the run started; KeyboardInterrupt (Ctrl-C or
    SIGTERM) is not re-raised: the result has status "interrupted" and exit code 130.
    """
    mode = mode or scenario.mode
    if mode not in MODES:
        raise RunError(f"unknown mode {mode!r} (valid: {', '.join(MODES)})")
    exp = scenario.experiment_def
    preflight(scenario, command)
    default = out_dir is None
    out = Path(out_dir) if out_dir is not None else default_out_dir(scenario)
    if (out / "results.json").exists():
        raise RunError(f"{out} already holds a run (results.json): choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if default:
        _link_latest(out)
    echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))

    signals = _Signals()
    factory = EmulationFactory(scenario, out, signals, capture) if exp.needs_network else None
    progress = Progress(interactive)
    ctx = RunContext(scenario_name=scenario.name, settings=dict(scenario.settings), mode=mode,
                     out_dir=out, short=scenario.short, progress=progress,
                     emulation=factory)  # fmt: skip
    ctx.scenario = (
        scenario  # the whole scenario (topology, periods, seed), for experiments wanting it
    )
    run_log = _RunLog(out / "run.log")
    status, error, metrics = "completed", None, {}
    started = time.time()
    t0 = time.perf_counter()
    signals.install()
    try:
        echo(f"running {scenario.name} ({exp.name}, {scenario.topology_label()}, mode {mode})"
             f" -> {out}")  # fmt: skip
        with progress:
            metrics = exp.run(ctx)
        if metrics is None:
            metrics = {}
        if not isinstance(metrics, dict):
            raise EipError(f"experiment {exp.name!r} returned {type(metrics).__name__}, not a dict")
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
    except Exception as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        (out / "error.txt").write_text(traceback.format_exc())
        log.error("experiment %s failed:\n%s", exp.name, traceback.format_exc())
    finally:
        with signals.quiet():
            if factory is not None:
                factory.stop_all()
        signals.restore()
    experiment_s = time.perf_counter() - t0
    try:
        results = _results(scenario, ctx, exp, factory, status, error, metrics, started,
                           experiment_s)  # fmt: skip
        from eip.scenarios.report import write_report

        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        write_report(results, ctx, out / "report.md")
    finally:
        run_log.close()
    return RunResult(out, results, _exit_code(results))


class _RunLog:
    """INFO and above of the run into run.log; the terminal keeps its own (--log-level) level."""

    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path)
        self.handler.setLevel(logging.INFO)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
        self.handler.setFormatter(logging.Formatter(fmt))
        self.root = logging.getLogger()
        self.level = self.root.level
        self.quietened = [h for h in self.root.handlers if h.level == logging.NOTSET]
        for h in self.quietened:
            h.setLevel(self.level)
        self.root.addHandler(self.handler)
        self.root.setLevel(min(self.level or logging.WARNING, logging.INFO))

    def close(self) -> None:
        self.root.removeHandler(self.handler)
        self.handler.close()
        self.root.setLevel(self.level)
        for h in self.quietened:
            h.setLevel(logging.NOTSET)


def _exit_code(results: dict) -> int:
    if results["status"] == "interrupted":
        return 130
    if results["status"] != "completed":
        return 1
    return 0 if results["expectations_held"] else 1


def _results(scenario, ctx, exp, factory, status, error, metrics, started, experiment_s) -> dict:
    out = ctx.out_dir
    metrics = _jsonable(metrics)
    checks = []
    for e in scenario.expect:
        held, actual, note = e.check(metrics) if status == "completed" else (False, None, status)
        checks.append({"metric": e.metric, "condition": e.describe(), "op": e.op,
                       "value": _jsonable(e.value), "actual": _jsonable(actual), "held": held,
                       "note": note, "line": e.line})  # fmt: skip
    ledgers = collect_ledgers(out) if factory is not None else []
    captures = factory.captures if factory is not None else []
    emulations = [dict(e.timings) for e in factory.made] if factory is not None else []
    isp = [e.isp_summary() for e in factory.made] if factory is not None else []
    artifacts = sorted({str(Path(p).relative_to(out)) if Path(p).is_absolute() and
                        Path(p).is_relative_to(out) else str(p) for p in ctx.artifacts})  # fmt: skip
    scenario_info = {
        "name": scenario.name, "description": scenario.description,
        "file": str(scenario.path), "experiment": scenario.experiment,
        "topology": scenario.topology, "topology_args": list(scenario.topology_args),
        "topology_kwargs": scenario.topology_kwargs, "periods": scenario.periods,
        "period_s": scenario.period_s, "seed": scenario.seed, "short": scenario.short,
        "settings": _jsonable(scenario.settings), "needs_network": exp.needs_network,
        "isp": {"in_loop": scenario.isp, "enforce": scenario.isp_enforce},
    }  # fmt: skip
    finished = time.time()
    timings = {
        "started_utc": _utc(started), "finished_utc": _utc(finished),
        "wall_s": round(finished - started, 3), "experiment_s": round(experiment_s, 3),
        "emulations": emulations,
    }  # fmt: skip
    return {
        "scenario": scenario_info,
        "mode": ctx.mode,
        "status": status,
        "error": error,
        "timings": timings,
        "metrics": metrics,
        "expectations": checks,
        "expectations_held": all(c["held"] for c in checks),
        "ledgers": ledgers,
        "ledgers_ok": all(c["ok"] for c in ledgers),
        "capture": captures[0] if len(captures) == 1 else (captures or None),
        "isp": _jsonable(isp[0] if len(isp) == 1 else (isp or None)),
        "controller_log": "controller.log" if (out / "controller.log").exists() else None,
        "artifacts": artifacts,
        "environment": environment(),
    }
