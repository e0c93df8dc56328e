"""Study systems from a pandapower grid: one card per load, static generator and storage unit.

Each zone of the grid becomes a VPP (an Energy LAN behind its router); a card's `bus` is the
pandapower bus index of its element. Element to card kind: load -> load; sgen -> wind if its `type` is
WP/wind or its name says wind, else pv; storage -> storage. Card names are `<kind>-<bus>` (`stor` for
storage), e.g. `load-r11` or `pv-b7`, with `-2`, `-3`, ... for a second element of a kind on one bus.
Plain functions of the net: no Mininet (`topologies/grid.py` turns the result into a Topo).
"""

from dataclasses import dataclass

from eip.cases.model import CaseCard, CaseTopology, CaseVpp
from eip.errors import EipError

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


def grid_topology(net, zones, name_of_bus=None, name: str = "grid") -> CaseTopology:
    """A VPP per zone of `net` and a card per load/sgen/storage element.

    `zones` is a list of (label, set of bus indices); zones without elements get no VPP, the others
    are numbered from 1 in their order.
    """
    if net is None or zones is None:
        raise EipError("GridTopo needs a pandapower net and its zones")
    elements = grid_elements(net)
    zone_of = {bus: i for i, (_label, buses) in enumerate(zones) for bus in buses}
    orphans = sorted({e.bus for e in elements if e.bus not in zone_of})
    if orphans:
        raise EipError(f"buses {orphans} have loads/generators but belong to no zone")
    used = sorted({zone_of[e.bus] for e in elements})
    vpp_no = {z: n for n, z in enumerate(used, start=1)}
    vpps = tuple(CaseVpp(vpp_no[z], zones[z][0]) for z in used)
    label = name_of_bus or (lambda bus: f"b{bus}")
    taken: set[str] = set()
    cards = []
    for e in elements:
        base = f"{_PREFIX[e.kind]}-{label(e.bus)}"
        card, n = base, 1
        while card in taken:
            n += 1
            card = f"{base}-{n}"
        taken.add(card)
        cards.append(CaseCard(card, e.kind, vpp_no[zone_of[e.bus]], e.bus))
    return CaseTopology(name, vpps, tuple(cards))
