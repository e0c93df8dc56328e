"""Topologies derived from a pandapower grid: one card per load, static generator and storage unit.

Each zone of the grid becomes a VPP (an Energy LAN behind its router); a card's `bus` is the
pandapower bus index of its element. Element to card kind: load -> load; sgen -> wind if its `type` is
WP/wind or its name says wind, else pv; storage -> storage. Card names are `<kind>-<bus>` (`stor` for
storage), e.g. `load-r11` or `pv-b7`, with `-2`, `-3`, ... for a second element of a kind on one bus.

CIGRE LV (`CigreLvTopo`, `pandapower.networks.create_cigre_network_lv()`): its three feeders, told
apart by bus name (Bus R.., Bus I.., Bus C..; the `zone` column is the same for all buses):

                                   +-------+
                  +----------------|  wan  |----------------+
                  |                +-------+                |
                [r1]                  [r2]                 [r3]
                  |                    |                    |
                 (s1)                 (s2)                 (s3)
           vpp1 residential      vpp2 industrial      vpp3 commercial
           load-r1 .. load-r18   load-i2              load-c1 .. load-c20
           (6 loads)             (1 load)             (8 loads)

IEEE 33-bus (`Case33bwTopo`, `pandapower.networks.case33bw()`), split by `feeder_zones`: the main
feeder (the longest path from the external grid over in-service branches) is one zone, and every lateral
branching off it is a zone of its own, numbered in the order of its branch bus:

      bus 0 (ext grid) - 1 - 2 - 3 - 4 - 5 - ... - 17      vpp1 main:       loads at buses 1..17
                         |   |           |
                         |   |           +- 25 .. 32      vpp4 lateral@5:  loads at 25..32
                         |   +- 22 - 23 - 24              vpp3 lateral@2:  loads at 22..24
                         +- 18 - 19 - 20 - 21             vpp2 lateral@1:  loads at 18..21

    each VPP: (s{i}) LAN switch with its cards, [r{i}] router, all routers on the (wan) switch.

Usable as `mn --custom topologies/grid.py --topo cigre_lv --switch ovs,datapath=user`.
"""

from dataclasses import dataclass

from eip.errors import EipError
from eip.net.nodes import EnergyTopo

CIGRE_FEEDERS = {"R": "residential", "I": "industrial", "C": "commercial"}
_PREFIX = {"load": "load", "pv": "pv", "wind": "wind", "storage": "stor"}


@dataclass(frozen=True)
class GridElement:
    """A grid element that gets a card."""

    bus: int
    kind: str
    table: str  # pandapower table: load, sgen or storage
    index: int
    name: str


def sgen_kind(name: str, sgen_type: str) -> str:
    text = f"{name} {sgen_type}".lower()
    return "wind" if "wind" in text or sgen_type.strip().upper() == "WP" else "pv"


def grid_elements(net) -> list[GridElement]:
    """Every in-service load, sgen and storage unit of `net`, by bus then table."""
    out = []
    for table in ("load", "sgen", "storage"):
        df = getattr(net, table)
        for idx, row in df.iterrows():
            if "in_service" in df and not bool(row["in_service"]):
                continue
            name = str(row.get("name") or "")
            if table == "sgen":
                kind = sgen_kind(name, str(row.get("type") or ""))
            else:
                kind = "load" if table == "load" else "storage"
            out.append(GridElement(int(row["bus"]), kind, table, int(idx), name))
    return sorted(out, key=lambda e: (e.bus, ("load", "sgen", "storage").index(e.table), e.index))


def cigre_lv_zones(net) -> list[tuple[str, set[int]]]:
    """CIGRE LV's feeders by bus name letter: residential (R), industrial (I), commercial (C)."""
    zones = {letter: set() for letter in CIGRE_FEEDERS}
    for idx, name in net.bus["name"].items():
        parts = str(name).split()
        letter = parts[-1][:1] if parts else ""
        if letter in zones:
            zones[letter].add(int(idx))
    return [(label, zones[letter]) for letter, label in CIGRE_FEEDERS.items()]


def feeder_zones(net) -> list[tuple[str, set[int]]]:
    """Zones of a radial grid: the main feeder and one zone per lateral branching off it.

    The main feeder is the longest path (in branches) from the external grid's bus over in-service
    lines, transformers and closed switches; each subtree hanging off a main-feeder bus is a lateral,
    named `lateral@BUS` and ordered by that bus's place on the main feeder.
    """
    import networkx as nx
    from pandapower.topology import create_nxgraph

    graph = create_nxgraph(net, respect_switches=True, multi=False)
    root = int(net.ext_grid.bus.iloc[0])
    if not nx.is_tree(graph.subgraph(nx.node_connected_component(graph, root))):
        raise EipError("feeder_zones needs a radial grid (open the tie switches/lines first)")
    depth = nx.single_source_shortest_path_length(graph, root)
    far = max(sorted(depth), key=lambda b: depth[b])
    main = nx.shortest_path(graph, root, far)
    on_main = set(main)
    zones = [("main", set(main))]
    for bus in main:
        for child in sorted(graph.neighbors(bus)):
            if child in on_main:
                continue
            sub = graph.copy()
            sub.remove_edge(bus, child)
            zones.append((f"lateral@{bus}", set(nx.node_connected_component(sub, child))))
    return zones


class GridTopo(EnergyTopo):
    """A VPP per zone of a pandapower grid and a card per load/sgen/storage element.

    `zones` is a list of (label, set of bus indices); zones without elements get no VPP.
    """

    def build(self, net=None, zones=None, name_of_bus=None):
        if net is None or zones is None:
            raise EipError("GridTopo needs a pandapower net and its zones")
        elements = grid_elements(net)
        zone_of = {bus: i for i, (_label, buses) in enumerate(zones) for bus in buses}
        orphans = sorted({e.bus for e in elements if e.bus not in zone_of})
        if orphans:
            raise EipError(f"buses {orphans} have loads/generators but belong to no zone")
        used = sorted({zone_of[e.bus] for e in elements})
        vpp_no = {z: n for n, z in enumerate(used, start=1)}
        self.add_wan()
        for z in used:
            self.add_vpp(vpp_no[z], zones[z][0])
        label = name_of_bus or (lambda bus: f"b{bus}")
        taken: set[str] = set()
        for e in elements:
            base = f"{_PREFIX[e.kind]}-{label(e.bus)}"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
            self.add_card(vpp_no[zone_of[e.bus]], name, e.kind, bus=e.bus)


def _cigre_bus_label(net):
    names = net.bus["name"]
    return lambda bus: str(names.loc[bus]).split()[-1].lower()


class CigreLvTopo(GridTopo):
    """CIGRE LV benchmark: residential, industrial and commercial feeders as three VPPs."""

    def build(self, net=None):
        if net is None:
            from pandapower.networks import create_cigre_network_lv

            net = create_cigre_network_lv()
        super().build(net, cigre_lv_zones(net), _cigre_bus_label(net))


class Case33bwTopo(GridTopo):
    """IEEE 33-bus distribution feeder (Baran & Wu): the main feeder and its three laterals as VPPs."""

    def build(self, net=None):
        if net is None:
            from pandapower.networks import case33bw

            net = case33bw()
        super().build(net, feeder_zones(net))


topos = {"cigre_lv": CigreLvTopo, "case33bw": Case33bwTopo}
