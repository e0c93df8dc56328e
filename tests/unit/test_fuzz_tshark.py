"""tshark with eip.lua reads fuzzed captures (editcap -E 0.02 and mutated frames): no Lua Error."""

import shutil

import pytest

from eip.reliability import fuzz

pytestmark = pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("editcap") is None,
    reason="tshark/editcap not installed",
)


def test_tshark_reads_fuzzed_captures_without_lua_errors(tmp_path):
    out = fuzz.tshark_fuzz(tmp_path, n_frames=1500, copies=10)
    for label, cap in out["captures"].items():
        assert cap["returncode"] == 0, (label, cap["stderr"])
        assert cap["lua_errors"] == 0, label
    assert out["ok"] and out["frames"] > 1500
