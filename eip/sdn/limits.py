"""Static exchange limits the Energy ISP sets per period: what the controller meters and counts.

The ISP (pandapower OPF, a later issue) fills a `LimitTable`; for now it is built from a plain mapping:

    {"period_s": 60, "quantum_bee": 10, "epoch_s": 0,
     "cards": {"02:00:00:00:01:00": {"export_bee": 6000, "import_bee": 6000}},
     "default": {"export_bee": 1000, "import_bee": 1000},      # optional, for cards not listed
     "vpps": {"vpp1": {"export_bee": 20000}}}                   # optional: uplink limits

Units: BEE per period; `period_s` wall seconds of one period (emulation may compress time);
`quantum_bee` the BEE every data segment carries, so packets/s x quantum = BEE/s = power.
"""

import math
from dataclasses import dataclass, field

from eip.errors import EipError

_TOP_KEYS = {"period_s", "quantum_bee", "epoch_s", "cards", "default", "vpps"}
_CARD_KEYS = {"export_bee", "import_bee"}
_VPP_KEYS = {"export_bee"}
U32_MAX = 0xFFFFFFFF


class LimitsError(EipError):
    """A limit table is malformed: names the key that is wrong."""


@dataclass(frozen=True)
class CardLimit:
    export_bee: int
    import_bee: int


@dataclass(frozen=True)
class LimitTable:
    period_s: float
    quantum_bee: int
    cards: dict = field(default_factory=dict)  # MAC (lower case) -> CardLimit
    vpps: dict = field(default_factory=dict)  # VPP name -> uplink export BEE per period
    default: CardLimit | None = None
    epoch_s: float = 0.0

    def card(self, mac: str) -> CardLimit | None:
        return self.cards.get(mac.lower(), self.default)

    def period(self, now: float) -> int:
        """The index of the period `now` falls in (0 before the epoch)."""
        return max(0, math.floor((now - self.epoch_s) / self.period_s))

    def period_start(self, period: int) -> float:
        return self.epoch_s + period * self.period_s

    def rate_pktps(self, limit_bee: int) -> int:
        """Packets per second that spread `limit_bee` over one period: max(1, ceil(limit/period/quantum))."""
        return max(1, math.ceil(limit_bee / self.period_s / self.quantum_bee))

    @classmethod
    def load(cls, path) -> "LimitTable":
        """Read a limits YAML file; errors name the file."""
        from eip.yamlconf import load

        data, where = load(path)
        try:
            return cls.from_mapping(data)
        except LimitsError as exc:
            raise LimitsError(f"{where.file}: {exc}") from None

    @classmethod
    def from_mapping(cls, d) -> "LimitTable":
        if not isinstance(d, dict):
            raise LimitsError(f"limits: expected a mapping, got {type(d).__name__}")
        _no_unknown("limits", d, _TOP_KEYS)
        for key in ("period_s", "quantum_bee"):
            if key not in d:
                raise LimitsError(f"limits.{key}: missing")
        period_s = _number("limits.period_s", d["period_s"])
        if period_s <= 0:
            raise LimitsError(f"limits.period_s: {period_s} must be > 0")
        quantum = _count("limits.quantum_bee", d["quantum_bee"])
        if quantum < 1:
            raise LimitsError("limits.quantum_bee: must be >= 1")
        cards = {}
        for mac, v in _mapping("limits.cards", d.get("cards", {})).items():
            cards[_mac(f"limits.cards[{mac!r}]", mac)] = _card(f"limits.cards[{mac!r}]", v)
        default = _card("limits.default", d["default"]) if d.get("default") is not None else None
        vpps = {}
        for vpp, v in _mapping("limits.vpps", d.get("vpps", {})).items():
            where = f"limits.vpps[{vpp!r}]"
            _no_unknown(where, _mapping(where, v), _VPP_KEYS)
            if "export_bee" not in v:
                raise LimitsError(f"{where}.export_bee: missing")
            vpps[str(vpp)] = _count(f"{where}.export_bee", v["export_bee"])
        epoch = _number("limits.epoch_s", d.get("epoch_s", 0))
        return cls(period_s, quantum, cards, vpps, default, epoch)


def _no_unknown(where: str, d: dict, known: set) -> None:
    unknown = sorted(str(k) for k in d.keys() - known)
    if unknown:
        raise LimitsError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _mapping(where: str, v) -> dict:
    if not isinstance(v, dict):
        raise LimitsError(f"{where}: expected a mapping, got {type(v).__name__}")
    return v


def _number(where: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise LimitsError(f"{where}: expected a finite number, got {v!r}")
    return float(v)


def _count(where: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= U32_MAX:
        raise LimitsError(f"{where}: expected an integer 0..{U32_MAX}, got {v!r}")
    return v


def _mac(where: str, v) -> str:
    parts = str(v).split(":")
    if len(parts) != 6 or not all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
    ):
        raise LimitsError(f"{where}: {v!r} is not a MAC address")
    return str(v).lower()


def _card(where: str, v) -> CardLimit:
    _no_unknown(where, _mapping(where, v), _CARD_KEYS)
    for key in _CARD_KEYS:
        if key not in v:
            raise LimitsError(f"{where}.{key}: missing")
    return CardLimit(
        _count(f"{where}.export_bee", v["export_bee"]),
        _count(f"{where}.import_bee", v["import_bee"]),
    )
