"""The contract between the scenario runner and the experiments it runs.

A scenario file names an `experiment` (a registered kind) and its typed settings. The runner
(eip/scenarios/runner.py) validates the file, prepares the output folder, and calls the experiment
with a `RunContext`; the experiment returns its metrics (JSON-serialisable) and writes its plots and
tables through the context. Experiments needing the emulated network start it with
`ctx.emulation(...)`, which the runner tears down on any exit, Ctrl-C included.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("energy-internet", "traditional", "both")


@dataclass
class RunContext:
    scenario_name: str
    settings: dict[str, Any]  # the validated `settings` mapping of the scenario file
    mode: str  # energy-internet | traditional | both
    out_dir: Path
    short: bool = False  # a shortened variant (CI): fewer periods / orders, same assertions
    progress: Callable[[str, int, int], None] = lambda _what, _done, _total: None
    emulation: Callable[..., Any] | None = None  # (topo, **kwargs) -> Emulation context manager
    artifacts: list = field(default_factory=list)  # files written, for the report
    scenario: Any = (
        None  # the loaded Scenario (topology, periods, period_s, seed), set by the runner
    )

    def path(self, name: str) -> Path:
        """A file in the output folder, recorded as an artifact."""
        p = self.out_dir / name
        self.artifacts.append(p)
        return p


@dataclass(frozen=True)
class Experiment:
    """A registered kind of scenario: its settings schema and its run function."""

    name: str
    schema: dict  # setting name -> (type or tuple of types, default or REQUIRED, help)
    run: Callable[[RunContext], dict]
    needs_network: bool = True
    report: Callable[[dict, RunContext], str] | None = None  # markdown for report.md


REQUIRED = object()
EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, schema: dict, needs_network: bool = True, report=None):
    """Decorator registering an experiment's run function under `name`."""

    def register(fn):
        EXPERIMENTS[name] = Experiment(name, schema, fn, needs_network, report)
        return fn

    return register
