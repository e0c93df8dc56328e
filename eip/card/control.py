"""The card's control interface: JSON lines over a Unix socket, and the client `eip card ctl` uses.

Each request is one JSON object with "op" and its arguments; each answer one JSON object with "ok"
and either the result or "error" (a message naming what is wrong).
"""

import json
import socket
from pathlib import Path

from eip.errors import EipError

OPS = {
    "status": "identity, limits, open transfers and counters",
    "profile": "the owner's profile from the ledger",
    "totals": "BEE units received and sent, in all and per peer MAC (the conformance DUT hook)",
    "offer": "offer to deliver: to=PEER quantity=N [bee_type price priority wait power_bee_per_s "
    "start_s end_s]",
    "ask": "ask to receive: peer=PEER quantity=N [bee_type priority wait]",
    "transfer": "offer and wait until it is done: to=PEER quantity=N [power_bee_per_s start_s end_s]",
    "wait": "wait until a transfer closes: transfer_id=ID [timeout]",
    "cancel": "end an open transfer now (RST, reason cancelled); what was delivered stays: "
    "transfer_id=ID",
    "order": "BEE pool order: side=send|ask quantity=N price_micro_per_kbee=P [pool=IP bee_type "
    "power_bee_per_s or pace=frame]",
    "orders": "this card's pool orders and their fills",
    "events": "recent events (rejects, limits, unreachable, forged)",
    "stop": "stop the card",
}
MAX_LINE = 1 << 20


class ControlError(EipError):
    """The card refused or failed a control request; the message says why."""


def encode_message(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def decode_request(line: bytes) -> dict:
    """Parse one request line; ControlError names what is wrong."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ControlError(f"not a JSON line: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
        raise ControlError('a request is a JSON object with a string "op"')
    if obj["op"] not in OPS:
        raise ControlError(f"unknown op {obj['op']!r} (one of {', '.join(OPS)})")
    return obj


class ControlClient:
    """Talks to one card's control socket."""

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = str(path)
        self.timeout = timeout

    def call(self, op: str, **args) -> dict:
        """Send one request and return the result; ControlError if the card says no."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout + float(args.get("timeout", 0) or 0))
        try:
            try:
                sock.connect(self.path)
            except (FileNotFoundError, ConnectionRefusedError):
                raise ControlError(
                    f"no card is listening on {self.path} (is it running?)"
                ) from None
            sock.sendall(encode_message({"op": op, **args}))
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(f"the card closed {self.path} without answering")
                buf += chunk
                if len(buf) > MAX_LINE:
                    raise ControlError("answer too long")
        except TimeoutError:
            raise ControlError(f"no answer from the card on {self.path} in time") from None
        finally:
            sock.close()
        answer = json.loads(buf)
        if not answer.get("ok"):
            raise ControlError(answer.get("error", "request failed"))
        return answer.get("result", {})
