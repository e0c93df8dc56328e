"""Typed, strictly validated configuration of one card, from YAML and/or command-line values."""

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from eip.agents import Behaviour, behaviour_from_config
from eip.errors import EncodeError
from eip.protocol.identity import check_eic_mac
from eip.yamlconf import ConfigError, Where, load, load_text, mapping, typed

KINDS = ("load", "pv", "wind", "storage", "ev", "plant")
DEFAULT_STATE_ROOT = Path(os.environ.get("EIP_STATE_ROOT", "/var/lib/eip/cards"))
# What a card's own BEEs carry by default: plants 0.55 tCO2/MWh (seed 000 s.10), renewables green.
DEFAULT_CARBON = {"load": 0, "pv": 0, "wind": 0, "storage": 0, "ev": 0, "plant": 550}
DEFAULT_GREEN = {"load": 0, "pv": 10_000, "wind": 10_000, "storage": 0, "ev": 0, "plant": 0}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Peer:
    """A card known without DNS: name, address, identity and public key."""

    name: str
    ip: str
    mac: str
    key: bytes


@dataclass(frozen=True)
class BehaviourConfig:
    """The trading behaviour a card hosts (docs/agents.md): its kind, its parameters (checked by
    `eip.agents.behaviour_from_config`), the period length it decides for, in emulated seconds, the
    periods it trades (`first_period` to `last_period`, None: every period it hears of) and whether
    the ISP's price notices are its price signal (`isp_prices`)."""

    kind: str
    params: dict = field(default_factory=dict, hash=False)
    period_s: float = 7200.0
    first_period: int = 0
    last_period: int | None = None
    isp_prices: bool = True  # take the ISP's price notices (R5.7) as the price signal

    def trades_in(self, period: int) -> bool:
        """True when `period` is one of the periods this behaviour decides."""
        return period >= self.first_period and (
            self.last_period is None or period <= self.last_period
        )

    def build(self) -> Behaviour:
        """A new behaviour of this kind and parameters."""
        return behaviour_from_config(self.kind, dict(self.params))


# beside the behaviour's own parameters
BEHAVIOUR_HOST_KEYS = ("kind", "period_s", "first_period", "last_period", "isp_prices")
PERIOD_MAX = 0xFFFFFFFF  # the Energy-IP period field
PERIOD_S_MAX = 1e7


def parse_behaviour(value, where: Where) -> BehaviourConfig:
    """A `behaviour:` mapping (`kind`, optional `period_s`, `first_period`, `last_period`, the kind's
    parameters), validated."""
    if isinstance(value, BehaviourConfig):
        return value
    typed(value, where, dict, "a mapping with a 'kind' and the behaviour's parameters")
    if "kind" not in value:
        raise where.error("a behaviour needs a 'kind' (e.g. kind: pv)")
    period_s = positive_number(value.get("period_s", 7200.0), where.at("period_s"), PERIOD_S_MAX)
    first = _count(value.get("first_period", 0), where.at("first_period"), 0, PERIOD_MAX)
    last = value.get("last_period")
    if last is not None:
        last = _count(last, where.at("last_period"), first, PERIOD_MAX)
    isp_prices = value.get("isp_prices", True)
    typed(isp_prices, where.at("isp_prices"), bool, "true or false")
    params = {str(k): v for k, v in value.items() if k not in BEHAVIOUR_HOST_KEYS}
    behaviour_from_config(value["kind"], params, where)  # errors name the file, line and key
    return BehaviourConfig(value["kind"], params, period_s, first, last, isp_prices)


@dataclass(frozen=True)
class CardConfig:
    """Everything a card daemon needs; see docs/card.md."""

    name: str
    kind: str
    mac: str
    state_dir: Path
    energy_ip: str = ""  # empty: read from the interface
    interface: str = ""
    vpp: str = ""
    home_vpp: str = ""
    dns: tuple[str, int] | None = None
    window_bee: int = 100_000  # receive window: this card's own dynamic limit
    quantum_bee: int = 10  # BEE units per record (seed 004 packets of 10 Wh)
    delivery_port: int = 10
    max_grant_bee: int = 10_000_000  # largest transfer it accepts
    price_micro_per_kbee: int = 500_000  # the price of the BEEs it delivers (0.5 per kWh)
    carbon_mg_per_unit: int = -1  # -1: the default of its kind (DEFAULT_CARBON)
    green_ratio_bp: int = -1  # -1: the default of its kind (DEFAULT_GREEN)
    peers: tuple[Peer, ...] = field(default=())
    vpp_subnets: tuple[tuple[str, str], ...] = ()  # (VPP name, CIDR): the VPP follows the address
    isp_ip: str = "10.0.0.254"  # notices and window updates are taken only from this address
    isp: str = ""  # the ISP's name in Energy DNS: when set (with dns:), its address replaces isp_ip
    # Emulated seconds per wall second: a transfer at P BEE per emulated second goes out at
    # P x time_scale BEE per wall second (docs/card.md, pacing).
    time_scale: float = 1.0
    pool: str = ""  # the BEE pool: IPv4, or a name in Energy DNS; empty: the VPP router (x.y.z.254)
    behaviour: BehaviourConfig | None = None  # what it trades by (eip/card/agent_host.py)

    def vpp_of(self, ip: str) -> str:
        """The VPP whose subnet holds `ip`, or '' if none is configured for it."""
        addr = ipaddress.IPv4Address(ip)
        for name, cidr in self.vpp_subnets:
            if addr in ipaddress.IPv4Network(cidr):
                return name
        return ""

    @property
    def carbon(self) -> int:
        return DEFAULT_CARBON[self.kind] if self.carbon_mg_per_unit < 0 else self.carbon_mg_per_unit

    @property
    def green(self) -> int:
        return DEFAULT_GREEN[self.kind] if self.green_ratio_bp < 0 else self.green_ratio_bp

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.sqlite"

    @property
    def key_path(self) -> Path:
        return self.state_dir / "key.pem"

    @property
    def control_path(self) -> Path:
        return self.state_dir / "ctl.sock"


_KEYS = {
    "name", "kind", "mac", "state_dir", "energy_ip", "interface", "vpp", "home_vpp", "dns",
    "window_bee", "quantum_bee", "delivery_port", "max_grant_bee", "peers",
    "price_micro_per_kbee", "carbon_mg_per_unit", "green_ratio_bp", "vpp_subnets", "isp_ip",
    "time_scale", "pool", "behaviour", "isp",
}  # fmt: skip
TIME_SCALE_MAX = 1e6


def _subnets(value, where: Where) -> tuple[tuple[str, str], ...]:
    typed(value, where, dict, "a mapping of VPP name to subnet")
    out = []
    for name, cidr in value.items():
        typed(cidr, where.at(name), str, "a subnet like 10.1.0.0/24")
        try:
            out.append((str(name), str(ipaddress.IPv4Network(cidr))))
        except ValueError:
            raise where.at(name).error(f"not a subnet: {cidr!r}") from None
    return tuple(out)


def parse_server(text: str, where: Where | None = None, default_port: int = 53) -> tuple[str, int]:
    """'10.0.0.53' or '10.0.0.53:5353' as (ip, port)."""
    host, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(host)
        port_no = int(port) if port else default_port
        if not 0 < port_no < 65536:
            raise ValueError(port)
    except ValueError:
        msg = f"expected IPv4[:port], got {text!r}"
        raise (where.error(msg) if where else ConfigError(msg)) from None
    return host, port_no


def _ipv4(value, where: Where) -> str:
    typed(value, where, str, "an IPv4 address")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise where.error(f"not an IPv4 address: {value!r}") from None


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # a DNS label (eip/dns/records.py)


def _dns_name(value, where: Where) -> str:
    """A name in Energy DNS (a DNS label, as eip/dns/records.py checks it)."""
    typed(value, where, str, "a DNS name")
    if not _LABEL.fullmatch(value):
        raise where.error(f"not a DNS label ([a-z0-9-], at most 63): {value!r}")
    return value


def _ipv4_or_name(value, where: Where) -> str:
    """An IPv4 address, or a name to look up in Energy DNS."""
    typed(value, where, str, "an IPv4 address or a DNS name")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        if _LABEL.fullmatch(value):
            return value
    raise where.error(f"not an IPv4 address or a DNS label ([a-z0-9-]): {value!r}")


def _mac(value, where: Where) -> str:
    typed(value, where, str, "a MAC address")
    try:
        return check_eic_mac(value)
    except EncodeError as exc:
        raise where.error(exc.reason) from None


def _count(value, where: Where, low: int, high: int) -> int:
    typed(value, where, int, "an integer")
    if not low <= value <= high:
        raise where.error(f"{value} is out of range {low}..{high}")
    return value


def positive_number(value, where: Where, high: float) -> float:
    """A finite number in (0, high]; an integer is taken as a float, a bool is refused."""
    typed(value, where, (int, float), "a number")
    if not 0 < value <= high:  # NaN fails both comparisons
        raise where.error(f"{value} is out of range (0, {high:g}]")
    return float(value)


def _peer(value, where: Where) -> Peer:
    mapping(value, where, {"name", "ip", "mac", "key"}, {"name", "ip", "mac", "key"})
    key = typed(value["key"], where.at("key"), str, "a hex public key")
    try:
        key_bytes = bytes.fromhex(key)
    except ValueError:
        key_bytes = b""
    if len(key_bytes) != 32:
        raise where.at("key").error("expected 64 hex digits (an Ed25519 public key)")
    return Peer(
        typed(value["name"], where.at("name"), str), _ipv4(value["ip"], where.at("ip")),
        _mac(value["mac"], where.at("mac")), key_bytes,
    )  # fmt: skip


def from_mapping(data, where: Where) -> CardConfig:
    """Validate a mapping (from YAML or the command line) into a CardConfig."""
    mapping(data, where, _KEYS, {"name", "kind", "mac"})
    name = typed(data["name"], where.at("name"), str)
    if not _NAME_RE.match(name):
        raise where.at("name").error(f"{name!r} is not a name like pv1 ([a-z0-9-], max 63)")
    kind = typed(data["kind"], where.at("kind"), str)
    if kind not in KINDS:
        raise where.at("kind").error(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    state_dir = Path(typed(data.get("state_dir", str(DEFAULT_STATE_ROOT / name)), where, str))
    vpp = typed(data.get("vpp", ""), where.at("vpp"), str)
    dns = data.get("dns")
    peers = data.get("peers", [])
    typed(peers, where.at("peers"), list, "a list of peers")
    return CardConfig(
        name=name,
        kind=kind,
        mac=_mac(data["mac"], where.at("mac")),
        state_dir=state_dir,
        energy_ip=_ipv4(data["energy_ip"], where.at("energy_ip")) if data.get("energy_ip") else "",
        interface=typed(data.get("interface", ""), where.at("interface"), str),
        vpp=vpp,
        home_vpp=typed(data.get("home_vpp", vpp), where.at("home_vpp"), str),
        dns=parse_server(typed(dns, where.at("dns"), str), where.at("dns")) if dns else None,
        window_bee=_count(data.get("window_bee", 100_000), where.at("window_bee"), 1, 2**32 - 1),
        quantum_bee=_count(data.get("quantum_bee", 10), where.at("quantum_bee"), 1, 2**31),
        delivery_port=_count(data.get("delivery_port", 10), where.at("delivery_port"), 1, 65535),
        max_grant_bee=_count(
            data.get("max_grant_bee", 10_000_000), where.at("max_grant_bee"), 0, 2**32 - 1
        ),
        price_micro_per_kbee=_count(
            data.get("price_micro_per_kbee", 500_000),
            where.at("price_micro_per_kbee"),
            -(2**31),
            2**31 - 1,
        ),
        carbon_mg_per_unit=_count(
            data.get("carbon_mg_per_unit", -1), where.at("carbon_mg_per_unit"), -1, 2**32 - 1
        ),
        green_ratio_bp=_count(
            data.get("green_ratio_bp", -1), where.at("green_ratio_bp"), -1, 10_000
        ),
        peers=tuple(_peer(p, where.at(f"peers.{i}")) for i, p in enumerate(peers)),
        vpp_subnets=_subnets(data.get("vpp_subnets", {}), where.at("vpp_subnets")),
        isp_ip=_ipv4(data.get("isp_ip", "10.0.0.254"), where.at("isp_ip")),
        time_scale=positive_number(
            data.get("time_scale", 1.0), where.at("time_scale"), TIME_SCALE_MAX
        ),
        pool=_ipv4_or_name(data["pool"], where.at("pool")) if data.get("pool") else "",
        isp=_dns_name(data["isp"], where.at("isp")) if data.get("isp") else "",
        behaviour=(
            parse_behaviour(data["behaviour"], where.at("behaviour"))
            if data.get("behaviour") is not None
            else None
        ),
    )


def load_config(path: str | Path, overrides: dict | None = None) -> CardConfig:
    """Load a card's YAML file; `overrides` (from the command line) replace its keys."""
    data, where = load(path)
    if not isinstance(data, dict):
        raise where.error("expected a mapping of card settings")
    return from_mapping({**data, **(overrides or {})}, where)


def config_from_args(values: dict) -> CardConfig:
    """A CardConfig from command-line values only."""
    _, where = load_text("{}", "<command line>")
    return from_mapping({k: v for k, v in values.items() if v is not None}, where)
