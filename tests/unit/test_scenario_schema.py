"""Scenario files: strict loading with file:line:key errors, defaults, --short, and `eip check`.

A dummy experiment is registered here; `eip check` runs in a subprocess that imports this module first
so the dummy is known there too.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eip.scenarios.base import REQUIRED, experiment
from eip.scenarios.schema import CardName, describe, load_scenario
from eip.yamlconf import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DUMMY = "dummy-schema"


@experiment(
    DUMMY,
    {
        "periods": (int, 4, "number of periods"),
        "load_kw": (float, 1.5, "load per card"),
        "label": (str, REQUIRED, "a label"),
        "card": (CardName, "v1c1", "the card that sells"),
        "flag": (bool, False, "a switch"),
    },
    needs_network=False,
)
def dummy(ctx):
    return {}


GOOD = f"""\
name: good
description: a good scenario
experiment: {DUMMY}
topology: {{name: vpp_lans, args: [1, 2]}}
periods: 6
period_s: 0.5
seed: 7
short:
  periods: 2
  settings:
    load_kw: 0.5
expect:
  cost.total: {{lt: 0}}
  served: {{between: [0.9, 1.0], ge: 0.95}}
settings:
  label: day
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def eip_check(*args) -> subprocess.CompletedProcess:
    code = (
        "import sys, tests.unit.test_scenario_schema; from eip.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run([sys.executable, "-c", code, "check", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_good_file_validates_and_fills_defaults(tmp_path):
    s = load_scenario(write(tmp_path, GOOD))
    assert (s.name, s.experiment, s.topology) == ("good", DUMMY, "vpp_lans")
    assert s.topology_args == (1, 2)
    want = {"periods": 6, "load_kw": 1.5, "label": "day", "card": "v1c1", "flag": False}
    assert s.settings == want
    assert (s.periods, s.period_s, s.seed, s.short, s.mode) == (6, 0.5, 7, False, "energy-internet")
    assert [(e.metric, e.op, e.value) for e in s.expect] == [
        ("cost.total", "lt", 0), ("served", "between", (0.9, 1.0)), ("served", "ge", 0.95)
    ]  # fmt: skip
    assert describe(s) == f"good ({DUMMY}, vpp_lans(1, 2), 6 periods)"


@pytest.mark.parametrize(("text", "isp", "enforce"), [
    ("", True, True), ("isp: {enforce: false}\n", True, False), ("isp: {enforce: true}\n", True, True),
    ("isp: {}\n", True, True), ("isp: off\n", False, False), ("isp: on\n", True, True),
])  # fmt: skip
def test_the_isp_is_in_the_loop_and_enforcing_unless_the_scenario_says(
    tmp_path, text, isp, enforce
):
    s = load_scenario(write(tmp_path, GOOD + text))
    assert (s.isp, s.isp_enforce) == (isp, enforce)


def test_short_overrides_apply(tmp_path):
    s = load_scenario(write(tmp_path, GOOD), short=True)
    assert s.short and s.periods == 2
    assert s.settings["periods"] == 2 and s.settings["load_kw"] == 0.5


def test_int_accepted_for_float_setting(tmp_path):
    s = load_scenario(write(tmp_path, GOOD.replace("label: day", "label: day\n  load_kw: 2")))
    assert s.settings["load_kw"] == 2.0 and isinstance(s.settings["load_kw"], float)


BAD = [
    ("syntax", "name: x\nexperiment: [unclosed\n", ":3: not valid YAML"),
    ("top key", GOOD + "colour: red\n", ":17: colour: unknown key 'colour'"),
    ("setting", GOOD + "  speed: 3\n", ":17: settings.speed: unknown setting 'speed'"),
    ("type", GOOD + "  periods: twelve\n", ":17: settings.periods: expected an integer, got 'twelve'"),
    ("required", GOOD.replace("  label: day\n", "  flag: true\n"),
     ":15: settings: missing required setting 'label'"),
    ("topology", GOOD.replace("vpp_lans", "ring"),
     ":4: topology.name: unknown topology 'ring' (valid: case33bw, cigre_lv, four_node, vpp_lans)"),
    ("experiment", GOOD.replace(f"experiment: {DUMMY}", "experiment: nope"),
     ":3: experiment: unknown experiment 'nope' (valid: "),
    ("operator", GOOD.replace("{lt: 0}", "{below: 0}"),
     ":13: expect.cost.total.below: unknown operator 'below' (valid: lt, le, gt, ge, eq, ne, between)"),
    ("card", GOOD + "  card: v9c9\n", ":17: settings.card: unknown card 'v9c9' (valid: v1c1, v1c2)"),
    ("periods", GOOD.replace("periods: 6", "periods: -1"),
     ":5: periods: expected a positive integer, got -1"),
    ("conflict", GOOD + "  periods: 5\n", ":17: settings.periods: conflicts with the top-level"),
    ("short key", GOOD.replace("  periods: 2", "  rounds: 2"), ":9: short.rounds: unknown key"),
    ("topology args", GOOD.replace("args: [1, 2]", "args: [1, 2, 3, 4]"),
     ":4: topology: cannot build topology vpp_lans"),
    ("isp enforce", GOOD + "isp: {enforce: maybe}\n",
     ":17: isp.enforce: expected true or false, got 'maybe'"),
    ("isp key", GOOD + "isp: {speed: 1}\n", ":17: isp.speed: unknown key 'speed' (allowed: enforce)"),
    ("isp value", GOOD + "isp: 3\n", ":17: isp: expected on, off or {enforce: true|false}, got 3"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_file_names_file_line_and_key(tmp_path, case, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}:"), str(err.value)
    assert message in str(err.value), str(err.value)


def test_eip_check_exit_codes_without_traceback(tmp_path):
    good = write(tmp_path, GOOD, "good.yaml")
    bad = [write(tmp_path, text, f"bad-{case.replace(' ', '-')}.yaml") for case, text, _ in BAD]
    ok = eip_check(good)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"ok: good ({DUMMY}, vpp_lans(1, 2), 6 periods)"
    for path, (_case, _text, message) in zip(bad, BAD, strict=True):
        done = eip_check(path)
        assert done.returncode == 1, (path, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert f"{path}:" in done.stderr and message in done.stderr, done.stderr
    both = eip_check(good, bad[0])
    assert both.returncode == 1 and "ok: good" in both.stdout


def test_missing_file(tmp_path):
    done = eip_check(tmp_path / "nowhere.yaml")
    assert done.returncode == 1 and "nowhere.yaml: no such file" in done.stderr
