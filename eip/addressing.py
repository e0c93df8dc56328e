"""The addressing conventions of an emulated Energy Internet (also in docs/network.md).

VPP number i has LAN 10.i.0.0/24, its router 10.i.0.254 and WAN address 10.0.0.i/24; card k of VPP i
has 10.i.0.(10+k) and MAC 02:00:00:00:ii:kk (hex); router i has MACs 02:00:00:fe:ii:01 (LAN) and
02:00:00:fe:ii:02 (WAN). Plain functions, imported by the network plan, the topologies, the study
systems (eip/cases) and the ISP's grid models alike; with the checks of VPP numbers and card names.
"""

import re

from eip.card.config import KINDS
from eip.errors import EipError

WAN_SUBNET = "10.0.0.0/24"
ISP_IP, ISP_MAC = "10.0.0.254", "02:00:00:00:00:fe"  # the controller's ISP endpoint (its notices)
ISP_DNS_NAME = "isp"  # the ISP's name in Energy DNS; a VPP's BEE pool is pool_dns_name(vpp)
WAN_DPID = 0x10000  # above every LAN switch's dpid (the VPP number)
MAX_CARDS_PER_VPP = 244  # card k has 10.i.0.(10+k); .254 is the router
MAX_VPPS = 254  # VPP i has 10.i.0.0/24 and WAN address 10.0.0.i
MAX_CARD_NAME = 10  # Linux interface names are <= 15 characters: NAME-eth0
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def pool_dns_name(vpp: str) -> str:
    """The name in Energy DNS of the BEE pool on a VPP's router."""
    return f"pool-{vpp}"


def lan_subnet(vpp_no: int) -> str:
    return f"10.{vpp_no}.0.0/24"


def card_ip(vpp_no: int, k: int) -> str:
    return f"10.{vpp_no}.0.{10 + k}"


def card_mac(vpp_no: int, k: int) -> str:
    return f"02:00:00:00:{vpp_no:02x}:{k:02x}"


def router_lan_mac(vpp_no: int) -> str:
    return f"02:00:00:fe:{vpp_no:02x}:01"


def router_wan_mac(vpp_no: int) -> str:
    return f"02:00:00:fe:{vpp_no:02x}:02"


def router_gateway(vpp_no: int) -> str:
    return f"10.{vpp_no}.0.254"


def router_wan_ip(vpp_no: int) -> str:
    return f"10.0.0.{vpp_no}"


def check_vpp_no(no: int) -> None:
    if not 1 <= no <= MAX_VPPS:
        raise EipError(f"VPP number {no} is taken or outside 1..{MAX_VPPS}")


def check_card(name: str, kind: str) -> None:
    """A card name fit for a host and its interface, and a known kind (EipError otherwise)."""
    if not _NAME_RE.match(name) or len(name) > MAX_CARD_NAME:
        raise EipError(f"card name {name!r}: use [a-z0-9-], at most {MAX_CARD_NAME} characters")
    if kind not in KINDS:
        raise EipError(f"card {name}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
