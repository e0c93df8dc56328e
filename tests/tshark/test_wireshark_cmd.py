"""`eip wireshark`: the dissector path, install into a folder, and tshark loading the installed copy."""

import argparse
import subprocess

import pytest
from tshark_helpers import TSHARK, requires_tshark

from eip.cli import wireshark_cmd


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="eip")
    wireshark_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_path_points_to_the_shipped_dissector(capsys):
    assert _run(["wireshark", "--path"]) == 0
    path = capsys.readouterr().out.strip()
    assert path.endswith("eip.lua")
    with open(path, encoding="utf-8") as f:
        assert 'DissectorTable.get("ip.proto")' in f.read()


def test_default_prints_path_and_usage(capsys):
    assert _run(["wireshark"]) == 0
    out = capsys.readouterr().out
    assert str(wireshark_cmd.dissector_path()) in out
    assert "-X lua_script:" in out and "--install" in out


def test_install_copies_into_dir(tmp_path, capsys):
    target_dir = tmp_path / "plugins" / "deeper"
    assert _run(["wireshark", "--install", "--dir", str(target_dir)]) == 0
    copy = target_dir / "eip.lua"
    assert copy.read_bytes() == wireshark_cmd.dissector_path().read_bytes()
    assert str(copy) in capsys.readouterr().out


def test_dir_without_install_is_a_user_error():
    from eip.errors import EipError

    with pytest.raises(EipError):
        _run(["wireshark", "--dir", "/tmp"])


@pytest.mark.tshark
@requires_tshark
def test_installed_copy_is_loaded_as_a_plugin(tmp_path):
    """A copy in the personal plugin folder (here under a fake HOME) registers the protocols."""
    home = tmp_path / "home"
    wireshark_cmd.install(home / ".local/lib/wireshark/plugins")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [TSHARK, "-G", "protocols"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    filter_names = {line.split("\t")[-1] for line in proc.stdout.splitlines()}
    assert {"energyip", "energytcp", "energyctl", "bee"} <= filter_names
