"""Card configuration and the control protocol: strict validation with file, line and key in errors."""

import pytest

from eip.card.config import config_from_args, load_config
from eip.card.control import ControlClient, ControlError, decode_request, encode_message
from eip.yamlconf import ConfigError

GOOD = """\
name: pv1
kind: pv
mac: 02:00:00:00:01:01
state_dir: {state}
vpp: vpp1
dns: 10.0.0.53:5353
window_bee: 4000
peers:
  - name: load1
    ip: 10.2.0.21
    mac: 02:00:00:00:02:01
    key: {key}
"""


def write(tmp_path, text):
    path = tmp_path / "card.yaml"
    path.write_text(text)
    return path


def test_good_config_is_typed(tmp_path):
    cfg = load_config(write(tmp_path, GOOD.format(state=tmp_path, key="ab" * 32)))
    assert cfg.name == "pv1" and cfg.kind == "pv" and cfg.vpp == cfg.home_vpp == "vpp1"
    assert cfg.dns == ("10.0.0.53", 5353) and cfg.window_bee == 4000
    assert cfg.peers[0].key == bytes.fromhex("ab" * 32)
    assert cfg.ledger_path == tmp_path / "ledger.sqlite"
    assert cfg.green == 10_000 and cfg.carbon == 0  # a PV card sells green, carbon-free BEEs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("window_bee: 4000", "window_bee: lots"), "card.yaml:7: window_bee: expected an integer"),
        (("window_bee: 4000", "window_bee: 0"), "window_bee: 0 is out of range"),
        (("kind: pv", "kind: solar"), "card.yaml:2: kind: unknown kind 'solar'"),
        (("vpp: vpp1", "vpp: vpp1\ncolour: red"), "card.yaml:6: colour: unknown key 'colour'"),
        (("mac: 02:00:00:00:01:01", "mac: 01:00:5e:00:00:01"), "card.yaml:3: mac: "),
        (("dns: 10.0.0.53:5353", "dns: ten"), "dns: expected IPv4[:port]"),
        (("    ip: 10.2.0.21", "    ip: 10.2.0"), "card.yaml:10: peers.0.ip: not an IPv4"),
        (("name: pv1", "name: PV 1"), "name: 'PV 1' is not a name"),
        (("kind: pv\n", ""), "missing required key 'kind'"),
        (("window_bee: 4000", "window_bee: [1"), "not valid YAML"),
        (("vpp: vpp1", "vpp: vpp1\ntime_scale: 0"), "card.yaml:6: time_scale: 0 is out of range"),
        (("vpp: vpp1", "vpp: vpp1\ntime_scale: -2.5"), "time_scale: -2.5 is out of range"),
        (("vpp: vpp1", "vpp: vpp1\ntime_scale: .nan"), "time_scale: nan is out of range"),
        (("vpp: vpp1", "vpp: vpp1\ntime_scale: fast"), "time_scale: expected a number"),
        (("vpp: vpp1", "vpp: vpp1\ntime_scale: true"), "time_scale: expected a number"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, change, message):
    text = GOOD.format(state=tmp_path, key="ab" * 32).replace(*change)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_missing_file_and_command_line_values(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    cfg = config_from_args({"name": "ev1", "kind": "ev", "mac": "02:00:00:00:03:01",
                            "state_dir": str(tmp_path), "window_bee": None})  # fmt: skip
    assert cfg.window_bee == 100_000 and cfg.kind == "ev"
    assert cfg.time_scale == 1.0  # real time unless the scenario says otherwise


def test_time_scale_is_a_number(tmp_path):
    text = GOOD.format(state=tmp_path, key="ab" * 32) + "time_scale: 60\n"
    assert load_config(write(tmp_path, text)).time_scale == 60.0
    assert load_config(write(tmp_path, text), {"time_scale": 0.5}).time_scale == 0.5


def test_control_lines_are_strict():
    assert decode_request(encode_message({"op": "status"})) == {"op": "status"}
    for bad, msg in ((b"{", "not a JSON line"), (b"[1]", "string \"op\""),
                     (b'{"op": "fly"}', "unknown op 'fly'")):  # fmt: skip
        with pytest.raises(ControlError, match=msg):
            decode_request(bad)


def test_control_client_without_card_is_a_clear_error(tmp_path):
    with pytest.raises(ControlError, match="no card is listening"):
        ControlClient(tmp_path / "ctl.sock", timeout=1).call("status")
