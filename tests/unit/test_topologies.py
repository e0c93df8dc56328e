"""Every topology follows plan.py's conventions; checked on the plan, without running Mininet."""

import ipaddress
import runpy
import warnings
from collections import Counter
from pathlib import Path

import pytest

from eip.errors import EipError
from eip.net.build import card_config, static_routes
from eip.net.nodes import EnergyTopo
from eip.net.plan import NetworkPlan, plan_from_topo
from topologies import TOPOLOGIES
from topologies.grid import GridTopo, feeder_zones, grid_elements

TOPO_DIR = Path(__file__).resolve().parents[2] / "topologies"
CASES = {
    "four_node": lambda: TOPOLOGIES["four_node"](),
    "vpp_lans_3x4": lambda: TOPOLOGIES["vpp_lans"](3, 4),
    "vpp_lans_10x20": lambda: TOPOLOGIES["vpp_lans"](n_vpp=10, cards_per_vpp=20),
    "cigre_lv": lambda: TOPOLOGIES["cigre_lv"](),
    "case33bw": lambda: TOPOLOGIES["case33bw"](),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def plan(request) -> NetworkPlan:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandapower's deprecation chatter
        return plan_from_topo(CASES[request.param](), request.param)


def test_names_macs_ips_and_dpids_are_unique(plan):
    names = (
        [c.name for c in plan.cards]
        + [r.name for r in plan.routers]
        + [s.name for s in plan.switches]
    )
    macs = [c.mac for c in plan.cards] + [p.mac for r in plan.routers for p in (r.lan, r.wan)]
    ips = [c.ip for c in plan.cards] + [
        p.ip.split("/")[0] for r in plan.routers for p in (r.lan, r.wan)
    ]
    for what, values in (("name", names), ("mac", macs), ("ip", ips),
                         ("dpid", [s.dpid for s in plan.switches])):  # fmt: skip
        dup = [v for v, n in Counter(values).items() if n > 1]
        assert not dup, f"duplicate {what}: {dup}"


def test_card_names_are_dns_labels_that_fit_interface_names(plan):
    for card in plan.cards:
        assert card.name.replace("-", "").isalnum() and card.name == card.name.lower()
        assert len(f"{card.name}-eth0") <= 15


def test_every_card_sits_on_its_vpps_lan_switch_port(plan):
    switches = {s.name: s for s in plan.switches}
    seen = set()
    for card in plan.cards:
        sw = switches[card.switch]
        assert (sw.role, sw.vpp) == ("lan", card.vpp)
        assert (card.switch, card.port) not in seen
        seen.add((card.switch, card.port))


def test_each_vpp_has_one_router_with_lan_and_wan_ports(plan):
    switches = {s.name: s for s in plan.switches}
    vpps = {c.vpp for c in plan.cards}
    assert Counter(r.vpp for r in plan.routers) == Counter(sorted(vpps))
    for router in plan.routers:
        assert switches[router.lan.switch].role == "lan"
        assert switches[router.lan.switch].vpp == router.vpp
        assert router.wan is not None and switches[router.wan.switch].role == "wan"
        assert ipaddress.ip_interface(router.wan.ip) in ipaddress.ip_network(plan.wan_subnet)
        assert router.lan.ifname.startswith(router.name) and router.wan.ifname.startswith(
            router.name
        )


def test_card_ips_are_inside_their_vpp_subnet_with_the_router_as_gateway(plan):
    for card in plan.cards:
        subnet = ipaddress.ip_network(plan.lans[card.vpp])
        assert ipaddress.ip_address(card.ip) in subnet
        assert card.gateway == plan.router_of(card.vpp).lan.ip.split("/")[0]


def test_plan_json_round_trips(plan):
    assert NetworkPlan.from_json(plan.to_json()) == plan


def test_static_routes_reach_every_other_lan(plan):
    routes = static_routes(plan)
    for router in plan.routers:
        assert {s for s, _via in routes[router.name]} == set(plan.lans.values()) - {
            plan.lans[router.vpp]
        }


def test_card_config_lists_every_other_card_as_peer(plan):
    keys = {c.name: "00" * 32 for c in plan.cards}
    card = plan.cards[0]
    settings = card_config(plan, card.name, Path("/tmp/x"), keys)
    assert {p["name"] for p in settings["peers"]} == {c.name for c in plan.cards} - {card.name}
    assert settings["vpp_subnets"] == plan.lans


def test_card_config_with_energy_dns_lists_only_the_extra_peers(plan):
    keys = {c.name: "00" * 32 for c in plan.cards}
    server = {"name": "server", "ip": "10.0.0.250", "mac": "02:00:00:00:00:fa", "key": "11" * 32}
    card = plan.cards[0]
    settings = card_config(plan, card.name, Path("/tmp/x"), keys, [server], ("10.1.0.254", 53),
                           static_peers=False)  # fmt: skip
    assert settings["peers"] == [server] and settings["dns"] == "10.1.0.254:53"
    assert "dns" not in card_config(plan, card.name, Path("/tmp/x"), keys)


def test_emulation_refuses_a_peers_mode_it_cannot_run():
    from eip.net.emulation import Emulation

    topo = TOPOLOGIES["four_node"]()
    with pytest.raises(EipError, match="peers must be"):
        Emulation(topo, "/tmp/x", peers="ldap")
    with pytest.raises(EipError, match="needs the emulation's Energy DNS"):
        Emulation(topo, "/tmp/x", peers="dns", dns=False)


def test_four_node_has_exactly_the_seed_resources():
    plan = plan_from_topo(TOPOLOGIES["four_node"]())
    got = {(c.vpp, c.bus, c.name, c.kind) for c in plan.cards}
    assert got == {
        ("vpp1", 1, "plant1", "plant"), ("vpp1", 1, "plant2", "plant"),
        ("vpp2", 2, "urban-load", "load"), ("vpp2", 2, "pv", "pv"), ("vpp2", 2, "ev", "ev"),
        ("vpp3", 3, "rural-load", "load"), ("vpp3", 3, "wind", "wind"),
        ("vpp4", 4, "storage", "storage"),
    }  # fmt: skip
    assert plan.card("pv").mac == "02:00:00:00:02:02" and plan.card("pv").ip == "10.2.0.12"


def test_vpp_lans_rotates_kinds_and_scales_to_200_cards():
    plan = plan_from_topo(TOPOLOGIES["vpp_lans"](10, 20))
    assert len(plan.cards) == 200 and len(plan.routers) == 10
    assert set(Counter(c.kind for c in plan.cards)) == {
        "load",
        "pv",
        "wind",
        "storage",
        "ev",
        "plant",
    }


def _grid_net(name):
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pn.create_cigre_network_lv() if name == "cigre_lv" else pn.case33bw()


@pytest.mark.parametrize("name", ["cigre_lv", "case33bw"])
def test_grid_topologies_have_one_card_per_element_with_its_bus(name):
    net = _grid_net(name)
    plan = plan_from_topo(TOPOLOGIES[name](net=net))
    elements = grid_elements(net)
    assert Counter((c.bus, c.kind) for c in plan.cards) == Counter(
        (e.bus, e.kind) for e in elements
    )
    load_buses = set(net.load.bus) | set(net.sgen.bus) | set(net.storage.bus)
    assert {c.bus for c in plan.cards} == {int(b) for b in load_buses}


def test_cigre_lv_feeders_are_the_three_vpps():
    plan = plan_from_topo(TOPOLOGIES["cigre_lv"]())
    by_vpp = Counter(c.vpp for c in plan.cards)
    assert by_vpp == {"vpp1": 6, "vpp2": 1, "vpp3": 8}  # residential, industrial, commercial
    assert plan.card("load-i2").bus == 22


def test_case33bw_zones_are_the_main_feeder_and_its_laterals():
    zones = dict(feeder_zones(_grid_net("case33bw")))
    assert zones["main"] == set(range(18))
    assert zones["lateral@1"] == {18, 19, 20, 21}
    assert zones["lateral@2"] == {22, 23, 24}
    assert zones["lateral@5"] == set(range(25, 33))


def test_sgens_and_storage_become_pv_wind_and_storage_cards():
    import pandapower as pp

    net = _grid_net("cigre_lv")
    pp.create_sgen(net, 16, p_mw=0.03, name="PV R15")
    pp.create_sgen(net, 16, p_mw=0.01, name="PV R15 roof")
    pp.create_sgen(net, 13, p_mw=0.035, name="Wind R12", type="WP")
    pp.create_storage(net, 35, p_mw=0.01, max_e_mwh=0.05, name="Battery C12")
    plan = plan_from_topo(TOPOLOGIES["cigre_lv"](net=net))
    kinds = {c.name: (c.kind, c.bus) for c in plan.cards}
    assert kinds["pv-r15"] == ("pv", 16) and kinds["pv-r15-2"] == ("pv", 16)
    assert kinds["wind-r12"] == ("wind", 13)
    assert kinds["stor-c12"] == ("storage", 35)


def test_grid_topo_refuses_elements_outside_every_zone():
    with pytest.raises(EipError, match="no zone"):
        GridTopo(net=_grid_net("case33bw"), zones=[("main", {0, 1, 2})])


def test_bad_cards_are_refused():
    class Bad(EnergyTopo):
        def build(self, name="x", kind="pv"):
            self.add_wan()
            self.add_vpp(1)
            self.add_card(1, name, kind)

    for name, kind in (("Has_Caps", "pv"), ("much-too-long-name", "pv"), ("ok", "kettle")):
        with pytest.raises(EipError):
            Bad(name=name, kind=kind)


@pytest.mark.parametrize("path", sorted(TOPO_DIR.glob("[!_]*.py")), ids=lambda p: p.name)
def test_each_file_defines_topos_for_mn_custom(path):
    # `mn --custom FILE` executes the file in a bare namespace and reads `topos`
    customs = runpy.run_path(str(path))
    assert customs["topos"] and all(callable(f) for f in customs["topos"].values())
    assert set(customs["topos"]) <= set(TOPOLOGIES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_plan_of_a_study_system_needs_no_mininet(name):
    """`plan_from_case` of an eip.cases description equals the plan of the Topo built from it."""
    from eip.cases import TOPOLOGIES as DESCRIPTIONS
    from eip.net.plan import plan_from_case

    topo_name, args, kwargs = {
        "four_node": ("four_node", (), {}),
        "vpp_lans_3x4": ("vpp_lans", (3, 4), {}),
        "vpp_lans_10x20": ("vpp_lans", (), {"n_vpp": 10, "cards_per_vpp": 20}),
        "cigre_lv": ("cigre_lv", (), {}),
        "case33bw": ("case33bw", (), {}),
    }[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = plan_from_topo(CASES[name](), name)
        got = plan_from_case(DESCRIPTIONS[topo_name](*args, **kwargs), name)
    assert got == want
    assert got.to_json() == want.to_json()
