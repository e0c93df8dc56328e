"""The card's control operations (plain logic): parse and check a request, then act on it.

A request is the JSON object of eip/card/control.py; the parse functions turn its arguments into typed
values, raising ControlError (or ValueError/TypeError from a bad number) with a message for the client.
`ControlOps` is the control half of `CardNode` (eip/card/node.py), mixed into it: every operation
returns the node's actions (an `Answer` now, or later when a transfer or an order completes).
"""

import json
import logging
import math
import os
import random
from pathlib import Path
from typing import NamedTuple

from eip.card.actions import Answer, Stop
from eip.card.control import ControlError
from eip.errors import EipError
from eip.etcp.connection import Connection
from eip.etcp.model import Endpoint
from eip.protocol import constants as c
from eip.protocol.seq import seq_sub

log = logging.getLogger(__name__)

TRANSFER_OPS = ("offer", "transfer", "ask")
ORDER_SIDES = {
    "send": 1,
    "sell": 1,
    "ask": 2,
    "buy": 2,
}  # pool order side by the words a client uses
ORDER_DEFAULT_S = 3600  # an order without end_s is good for an hour


class TransferRequest(NamedTuple):
    """An offer/transfer (this card delivers) or an ask (this card receives)."""

    op: str
    peer: str
    quantity: int
    bee_type: int
    priority: int
    emergency: int
    power_bee_per_s: float | None = None  # BEE per emulated second; None: as fast as windows allow
    start_s: int = 0  # the delivery's time frame (0: now)
    end_s: int = 0


class OrderRequest(NamedTuple):
    """A BEE pool order."""

    pool_ip: str
    side: int
    quantity: int
    price_micro_per_kbee: int
    bee_type: int
    start_s: int
    end_s: int


def parse_transfer(op: str, req: dict, now_s: int = 0) -> TransferRequest:
    """The arguments of an offer, transfer or ask request, checked; `now_s` (wall) starts a frame."""
    peer = str(req.get("to") or req.get("peer") or req.get("from") or "")
    quantity = int(req.get("quantity", 0))
    bee_type = int(req.get("bee_type", c.BEE_ELECTRICITY))
    priority = int(req.get("priority", 1))
    emergency = int(req.get("emergency", 0))
    if not peer:
        raise ControlError(f"{op} needs a peer (to=NAME)")
    if quantity < 1:
        raise ControlError(f"{op} needs quantity >= 1, got {quantity}")
    if bee_type not in c.BEE_TYPES:
        raise ControlError(f"bee_type {bee_type} is not 1..6")
    start_s, end_s = int(req.get("start_s", 0)), int(req.get("end_s", 0))
    power = None
    if op != "ask":  # a receiver cannot pace: its sender does
        power = parse_power(req)
        if power is None and "start_s" in req and "end_s" in req:
            power = frame_power(quantity, start_s, end_s)
    elif "power_bee_per_s" in req:
        raise ControlError("power_bee_per_s paces what this card delivers: offer, transfer, order")
    if power is not None and not end_s:  # the BEEs' time frame is the delivery's
        start_s = start_s or now_s
        end_s = start_s + math.ceil(quantity / power)
    return TransferRequest(op, peer, quantity, bee_type, priority, emergency, power, start_s, end_s)


def parse_power(req: dict) -> float | None:
    """An explicit `power_bee_per_s` (BEE per emulated second, > 0), or None if not given."""
    if "power_bee_per_s" not in req:
        return None
    power = float(req["power_bee_per_s"])
    if not 0 < power < math.inf:
        raise ControlError(f"power_bee_per_s must be a number > 0, got {req['power_bee_per_s']!r}")
    return power


def frame_power(quantity: int, start_s: int, end_s: int) -> float | None:
    """The power that delivers `quantity` BEE over [start_s, end_s): quantity / duration, or None."""
    return quantity / (end_s - start_s) if end_s > start_s else None


def order_pacing(req: dict) -> float | str | None:
    """How the fills of a sell order are delivered: at `power_bee_per_s`, over each fill's time frame
    (`pace=frame`), or (None) as fast as the windows allow."""
    power = parse_power(req)
    if power is not None:
        return power
    pace = str(req.get("pace", ""))
    if pace not in ("", "frame"):
        raise ControlError(f"pace must be 'frame', got {pace!r}")
    return pace or None


def fill_power(pacing: float | str | None, fill) -> float | None:
    """The power (BEE per emulated second) a fill of an order with `pacing` is delivered at."""
    if pacing == "frame":
        return frame_power(fill.quantity, fill.start_s, fill.end_s)
    return pacing


def parse_order(req: dict, default_pool: str, default_price: int, now_s: int) -> OrderRequest:
    """The arguments of an order request, checked; `now_s` (wall clock) is the default start."""
    pool_ip = str(req.get("pool") or default_pool)
    side = ORDER_SIDES.get(str(req.get("side", "")), 0)
    quantity = int(req.get("quantity", 0))
    price = int(req.get("price_micro_per_kbee", default_price))
    bee_type = int(req.get("bee_type", c.BEE_ELECTRICITY))
    start_s = int(req.get("start_s", now_s))
    end_s = int(req.get("end_s", start_s + ORDER_DEFAULT_S))
    if not side:
        raise ControlError("order needs side=send or side=ask")
    if quantity < 1 or bee_type not in c.BEE_TYPES or end_s <= start_s:
        raise ControlError("order needs quantity >= 1, bee_type 1..6 and end_s > start_s")
    return OrderRequest(pool_ip, side, quantity, price, bee_type, start_s, end_s)


def ledger_totals(profile: dict) -> dict:
    """BEE units received and sent, in all and per peer MAC: what `eip conformance` asks a DUT."""
    by_peer: dict = {}
    for t in profile["trades"].values():
        side = "received_bee" if t["role"] == "receive" else "sent_bee"
        peer = by_peer.setdefault(t["peer_mac"], {"received_bee": 0, "sent_bee": 0})
        peer[side] += int(t["quantity_done"])
    return {
        "received_bee": sum(p["received_bee"] for p in by_peer.values()),
        "sent_bee": sum(p["sent_bee"] for p in by_peer.values()),
        "by_peer": by_peer,
    }


def transfer_dscp(priority: int, emergency: int) -> int:
    """The DSCP of a transfer this card opens: EF for an emergency, else its priority class (R3.3)."""
    return c.DSCP_EMERGENCY if emergency else c.PRIORITY_CLASSES.get(priority, 0)


def transfer_result(transfer_id: str, reason: str, info) -> dict:
    """What a client waiting on a transfer hears when it closes; `info` is the ledger's TransferInfo."""
    result = {"transfer_id": transfer_id, "reason": reason}
    if info is not None:
        done = seq_sub(info.next_seq, info.isn + 1)
        result.update(role=info.role, quantity_total=info.quantity_total, delivered=done)
    return result


class PowerStore:
    """The powers of this card's paced transfers ({transfer id: BEE per emulated s}) in a JSON file
    beside the ledger, so a transfer resumed after a restart keeps its pace (written atomically)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.powers = {str(k): float(v) for k, v in json.loads(self.path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            self.powers = {}

    def put(self, transfer_id: str, power_bee_per_s: float) -> None:
        self.powers[transfer_id] = power_bee_per_s
        self._save()

    def drop(self, transfer_id: str) -> None:
        if self.powers.pop(transfer_id, None) is not None:
            self._save()

    def keep_only(self, transfer_ids) -> None:
        """Forget the powers of transfers that are no longer open."""
        keep = set(transfer_ids)
        if set(self.powers) - keep:
            self.powers = {k: v for k, v in self.powers.items() if k in keep}
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.powers, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:  # pacing after a restart is lost, the transfer is not
            log.warning("cannot save transfer powers to %s: %s", self.path, exc)


class ControlOps:
    """The control operations of a `CardNode` (status, transfers, pool orders, wait, stop)."""

    # --- control ------------------------------------------------------------------------------
    def on_control(self, req: dict, now: float, client=None) -> list:
        """One decoded control request (eip/card/control.py) from `client`; errors are answered."""
        try:
            return self._on_control(req, now, client)
        except EipError as exc:
            return [Answer(client, False, str(exc))]
        except Exception as exc:
            self.stats["errors"] += 1
            log.exception("error handling control request %s", req.get("op"))
            return [Answer(client, False, f"internal error: {exc}")]

    def _on_control(self, req: dict, now: float, client) -> list:
        op = req["op"]
        if op == "status":
            return [Answer(client, True, self.status())]
        if op == "profile":
            return [Answer(client, True, self.ledger.profile())]
        if op == "totals":
            return [Answer(client, True, ledger_totals(self.ledger.profile()))]
        if op == "events":
            return [Answer(client, True, {"events": list(self.events)})]
        if op in TRANSFER_OPS:
            return self._open_transfer(op, req, client, now)
        if op == "order":
            return self._place_order(req, client, now)
        if op == "orders":
            return [Answer(client, True, {"orders": list(self.pool.orders.values())})]
        if op == "wait":
            tid = str(req.get("transfer_id", ""))
            if tid in self.by_id:
                self.waiters.setdefault(tid, []).append(client)
                return []
            info = self.ledger.transfer(tid)
            if info is not None:
                return [Answer(client, True, self._transfer_result(tid, info.close_reason))]
            return [Answer(client, False, f"unknown transfer {tid!r}")]
        if op == "cancel":  # e.g. a trade whose period is over: what was delivered stays
            tid = str(req.get("transfer_id", ""))
            conn = self.by_id.get(tid)
            if conn is None:
                return [Answer(client, False, f"no open transfer {tid!r}")]
            self._run(conn, conn.close(now))
            return [Answer(client, True, {"cancelled": tid})]
        if op == "stop":
            return [Answer(client, True, {"stopping": self.config.name}), Stop()]
        return []

    def _open_transfer(self, op: str, req: dict, client, now: float) -> list:
        try:
            t = parse_transfer(op, req, int(self.wall()))
            ip, mac, key = self.peers.resolve(t.peer)
        except (ControlError, EipError, ValueError, TypeError) as exc:
            return [Answer(client, False, str(exc))]
        local = Endpoint(self.config.mac, self.energy_ip, self._free_port())
        remote = Endpoint(mac, ip, int(req.get("port", self.config.delivery_port)))
        isn = random.getrandbits(32)
        dscp = transfer_dscp(t.priority, t.emergency)
        if op == "ask":
            window = {k: int(req.get(k, 0)) for k in ("start_s", "end_s", "deadline_s")}
            conn, effects = Connection.open_request(
                now, local, remote, t.bee_type, t.quantity, isn, self.key.sign, key,
                self.config.window_bee, priority=t.priority, emergency=t.emergency, dscp=dscp,
                **window,
            )  # fmt: skip
        else:
            template = self._template(t.bee_type, t.start_s, t.end_s)
            if "price_micro_per_kbee" in req:
                template = template._replace(price_micro_per_kbee=int(req["price_micro_per_kbee"]))
            conn, effects = Connection.open_offer(
                now, local, remote, template, t.quantity, self.config.quantum_bee, isn,
                self.key.sign, key, self.config.window_bee, priority=t.priority,
                emergency=t.emergency, dscp=dscp,
            )  # fmt: skip
            self.set_power(conn, t.power_bee_per_s, now)
        self._add(conn, now)
        out = []
        if op == "transfer" or req.get("wait"):
            self.waiters.setdefault(conn.transfer_id, []).append(client)
        else:
            out.append(Answer(client, True, {"transfer_id": conn.transfer_id}))
        self._run(conn, effects)
        return out

    # --- the BEE pool -------------------------------------------------------------------------
    def _place_order(self, req: dict, client, now: float) -> list:
        try:
            pool = self.pool_address(req["pool"]) if req.get("pool") else self.default_pool()
            o = parse_order({**req, "pool": pool}, pool, self.config.price_micro_per_kbee,
                            int(self.wall()))  # fmt: skip
            pacing = order_pacing(req)
        except (ControlError, ValueError, TypeError) as exc:
            return [Answer(client, False, str(exc))]
        order_id, out = self.place_order(o, pacing, now)
        if req.get("wait", 1):
            self.order_waiters[order_id] = client
        else:
            out.append(Answer(client, True, self.pool.orders[order_id]))
        return out

    def place_order(self, o: OrderRequest, pacing, now: float) -> tuple[int, list]:
        """Place `o` with the pool (the `order` op and the hosted behaviour): its id and the actions;
        a sell's fills are delivered with `pacing` (see order_pacing)."""
        order_id, seg = self.pool.place(now, o.pool_ip, o.side, o.quantity, o.price_micro_per_kbee,
                                        o.bee_type, o.start_s, o.end_s)  # fmt: skip
        if pacing is not None and o.side == ORDER_SIDES["send"]:
            self.order_pacing[order_id] = pacing
        return order_id, self._send(seg, o.pool_ip)

    def cancel_order(self, order_id: int, now: float) -> list:
        """Withdraw what is left of one of the card's pool orders (nothing if it is over)."""
        out = self.pool.cancel(now, order_id)
        return [] if out is None else self._send(out[1], out[0])

    def default_pool(self) -> str:
        """The configured pool (an address, or a name found in Energy DNS at first use), else the
        pool of the card's own Energy LAN: its VPP router (.254)."""
        if not self.config.pool:
            return self.energy_ip.rsplit(".", 1)[0] + ".254"
        return self.pool_address(self.config.pool)

    def pool_address(self, pool: str) -> str:
        """A pool's address: `pool` itself if it is IPv4, else its address in Energy DNS (looked
        up once); ControlError naming it when it is neither."""
        pool = str(pool)
        if pool.count(".") == 3 and pool.replace(".", "").isdigit():  # DNS labels have no dot
            return pool
        if pool not in self.pool_ips:
            self.pool_ips[pool] = self.peers.address_of(pool, "the BEE pool")
        return self.pool_ips[pool]

    def status(self) -> dict:
        ident = self.ledger.identity
        return {
            "name": self.config.name, "kind": self.config.kind, "mac": self.config.mac,
            "energy_ip": self.energy_ip, "vpp": self.vpp, "home_vpp": self.home_vpp,
            "public_key": self.key.public_bytes.hex(), "ledger": str(self.config.ledger_path),
            "node_id": self.node_id, "period": self.period,
            "static_limit": self.notice._asdict() if self.notice else None,
            "price": self.price._asdict() if self.price else None,
            "isp_window": self.isp_window,  # the ISP's aggregate rate, BEE per second
            "isp_ip": self.isp_ip, "pool": self.config.pool,
            "pool_ips": dict(self.pool_ips),  # the pools found by name in Energy DNS
            "quantum_bee": self.config.quantum_bee, "time_scale": self.config.time_scale,
            "transfers": [
                {"transfer_id": conn.transfer_id, "state": conn.state, "role": conn.info.role,
                 "peer": conn.remote.ip, "next_seq": conn.info.next_seq,
                 "quantity_total": conn.info.quantity_total, "stats": dict(conn.stats),
                 "power_bee_per_s": conn.power_bee_per_s, "rate_bee_per_s": conn.rate_bee_per_s}
                for conn in self.by_id.values()
            ],
            "counters": dict(self.stats), "ledger_counts": self.ledger.counts(),
            "event_counts": dict(self.event_counts),
            "identity_name": ident.name,
            "agent": self.agent.status() if getattr(self, "agent", None) else None,
        }  # fmt: skip
