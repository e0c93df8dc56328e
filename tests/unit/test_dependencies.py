"""The direction of imports between eip's packages, module sizes, and no use of another module's private names.

Read from the source with `ast`, so a forbidden import fails here even when it sits inside a function.
The picture these rules keep true is in docs/architecture.md.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("eip", "controllers", "topologies") for p in (ROOT / d).rglob("*.py"))
MAX_MODULE_LINES = 500
# Underscore attributes that are public API of the standard library (namedtuple, sys, os).
STDLIB_PRIVATE_API = {
    "_replace",
    "_asdict",
    "_fields",
    "_make",
    "_field_defaults",
    "_exit",
    "_getframe",
}
# pandapower keeps the internal case (ppc) and its bus lookup on the net; reading them is its documented way
# to map pandapower buses to the matrices the PTDF is built on.
THIRD_PARTY_PRIVATE_API = {"_ppc", "_pd2ppc_lookups"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(path: Path) -> str:
    return module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]


def imports(path: Path) -> set[str]:
    """Every module this file imports, relative imports resolved, anywhere in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = package_of(path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


IMPORTS = {module_name(p): imports(p) for p in SOURCES}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def offenders(importer_pkg: str, forbidden) -> list[str]:
    return sorted(
        f"{mod} imports {imp}"
        for mod, imps in IMPORTS.items()
        if within(mod, importer_pkg)
        for imp in imps
        if forbidden(imp)
    )


def test_protocol_imports_nothing_of_eip_but_errors():
    bad = offenders(
        "eip.protocol",
        lambda i: (
            within(i, "eip") and not within(i, "eip.protocol") and not within(i, "eip.errors")
        ),
    )
    assert bad == []


def test_etcp_imports_only_protocol():
    allowed = ("eip.etcp", "eip.protocol", "eip.errors")
    bad = offenders(
        "eip.etcp", lambda i: within(i, "eip") and not any(within(i, a) for a in allowed)
    )
    assert any(within(m, "eip.etcp") for m in IMPORTS), "eip/etcp/ is missing"
    assert bad == []


@pytest.mark.parametrize("package", ["eip.isp", "eip.markets"])
def test_isp_and_markets_never_need_mininet(package):
    forbidden = ("mininet", "eip.net", "topologies", "eip.cli", "eip.card.daemon")
    assert offenders(package, lambda i: any(within(i, f) for f in forbidden)) == []


def test_nothing_imports_cli_or_bench():
    """The command line is the top; benchmarks sit just under it (the CLI runs them)."""
    allowed_importers = {"eip.cli": ("eip.cli",), "eip.bench": ("eip.bench", "eip.cli")}
    bad = sorted(
        f"{mod} imports {imp}"
        for mod, imps in IMPORTS.items()
        for top, importers in allowed_importers.items()
        if not any(within(mod, i) for i in importers)
        for imp in imps
        if within(imp, top)
    )
    assert bad == []


def test_no_module_of_eip_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in SOURCES
        if within(module_name(p), "eip")
        and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def defined_names(path: Path) -> set[str]:
    """Names a module defines: functions, classes, assigned names and attributes."""
    own = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    return own


DEFINED_IN_PACKAGE: dict[Path, set[str]] = {}
for _p in SOURCES:
    DEFINED_IN_PACKAGE.setdefault(_p.parent, set()).update(defined_names(_p))


def private_uses(path: Path) -> list[str]:
    """`x._name` on anything but self/cls, unless `_name` is defined in this module's own package (its
    classes' private attributes), and `from m import _name` from another package."""
    own = DEFINED_IN_PACKAGE[path.parent]
    package = package_of(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if (
                name.startswith("_")
                and not name.startswith("__")
                and name not in STDLIB_PRIVATE_API | THIRD_PARTY_PRIVATE_API
                and name not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{name}")
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            source_pkg = node.module.rpartition(".")[0]
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and not within(package, source_pkg):
                    found.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}"
                    )
    return found


def test_no_module_uses_another_packages_private_names():
    assert [u for p in SOURCES for u in private_uses(p)] == []


@pytest.mark.parametrize(
    "package", ["eip.isp", "eip.markets", "eip.agents", "eip.etcp", "eip.card.node"]
)
def test_importing_the_logic_loads_no_mininet(package):
    """Transitively too: importing every module of the package in a fresh interpreter loads no Mininet,
    os-ken or eip.net."""
    import subprocess
    import sys

    mods = sorted(m for m in IMPORTS if within(m, package)) or [package]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mininet', 'os_ken')"
        " or m.startswith('eip.net') or m.startswith('eip.cli')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# The layers of docs/architecture.md, top to bottom: a module imports only its own layer or lower ones.
# Matching is by the longest prefix, so eip.net.plan (plain data the controller reads) sits below eip.sdn
# while the rest of eip.net (Mininet, processes) sits above it.
LAYERS = [
    ["eip.cli"],
    ["eip.bench"],
    ["eip.scenarios", "eip.reliability", "eip.conformance", "controllers", "topologies"],
    ["eip.net"],
    ["eip.cases"],
    ["eip.isp"],
    ["eip.sdn"],
    ["eip.net.plan", "eip.addressing"],
    ["eip.card", "eip.apps", "eip.sden"],
    ["eip.agents", "eip.dns", "eip.markets", "eip.etcp", "eip.sample", "eip.pcap"],
    ["eip.protocol", "eip.yamlconf", "eip.wireshark", "eip.proc", "eip.data", "eip.netns"],
    ["eip.errors", "eip"],
]


def layer_of(name: str) -> int | None:
    best = None
    for i, names in enumerate(LAYERS):
        for n in names:
            if within(name, n) and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return None if best is None else best[0]


def test_every_module_imports_only_its_layer_or_below():
    ours = ("eip", "controllers", "topologies")
    unplaced = sorted(m for m in IMPORTS if layer_of(m) is None)
    upward = sorted(
        f"{mod} (layer {layer_of(mod)}) imports {imp} (layer {layer_of(imp)})"
        for mod, imps in IMPORTS.items()
        for imp in imps
        if imp.split(".")[0] in ours and (layer_of(imp) or 0) < (layer_of(mod) or 0)
    )
    assert unplaced == []
    assert upward == []
