"""The package's shape: imports of ``repro.*`` run one way, down the layers docs/architecture.md §2
lists, with no circle; and every ``docs/NAME.md §N`` reference in the code names a file and a heading
that exist.

Every import counts, at module level and inside functions (a lazy import is still a dependency), and
importing ``repro.a.b`` counts as importing the package ``repro.a`` too, since Python runs its
``__init__`` first (except from inside ``repro.a``, whose ``__init__`` is already running).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "repro"

# What may break the rules, each entry with its reason; the test fails once an entry is no longer
# needed, so the lists can only shrink (issue 17 emptied both).
ALLOWED_CIRCLE_PACKAGES: dict[str, str] = {}
ALLOWED_UPWARD_FROM: dict[str, str] = {}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the repro modules it imports anywhere in its file (parents included)."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
            for target in targets:
                for imported in _with_parents(target):
                    # a module's own packages are mid-import whenever it runs: not a dependency
                    if imported in modules and not (name + ".").startswith(imported + "."):
                        graph[name].add(imported)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def documented_layers() -> list[tuple[str, ...]]:
    """The layer table of docs/architecture.md §2, bottom first: each row's backticked modules."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## 2.", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    return [tuple(f"repro.{m}" if m != "repro" else m for m in re.findall(r"`([\w.]+)`", row.split("|")[3]))
            for row in rows]


def layer_of(module: str, layers: list[tuple[str, ...]]) -> int:
    best, level = "", -1
    for i, members in enumerate(layers):
        for member in members:
            inside = module == member or (member != "repro" and module.startswith(member + "."))
            if inside and len(member) > len(best):
                best, level = member, i
    return level


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets
            if layer_of(b, layers) > layer_of(a, layers)}


def test_every_module_has_a_documented_layer():
    layers = documented_layers()
    assert len(layers) >= 5, "docs/architecture.md §2 lost its layer table"
    missing = sorted(m for m in _modules() if layer_of(m, layers) < 0)
    assert not missing, f"modules in no layer of docs/architecture.md §2: {missing}"


def test_no_import_circle():
    found = circles(import_graph())

    def allowed(circle: frozenset[str]) -> str | None:
        return next((p for p in ALLOWED_CIRCLE_PACKAGES if all(_inside(m, p) for m in circle)), None)

    unexpected = [sorted(c) for c in found if allowed(c) is None]
    assert not unexpected, f"import circles: {unexpected}"
    healed = sorted(set(ALLOWED_CIRCLE_PACKAGES) - {allowed(c) for c in found})
    assert not healed, f"no circle left inside {healed}: drop them from ALLOWED_CIRCLE_PACKAGES"


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = upward_imports(import_graph(), documented_layers())
    unexpected = sorted((a, b) for a, b in upward if a not in ALLOWED_UPWARD_FROM)
    assert not unexpected, "imports up the layers of docs/architecture.md §2: " + ", ".join(
        f"{a} -> {b}" for a, b in unexpected)
    healed = sorted(set(ALLOWED_UPWARD_FROM) - {a for a, _ in upward})
    assert not healed, f"no upward import left from {healed}: drop them from ALLOWED_UPWARD_FROM"


def test_the_graph_sees_function_level_relative_and_package_imports(tmp_path):
    """The walker itself: a lazy import inside a function, a relative one, the parent package."""
    package = tmp_path / "repro"
    (package / "low").mkdir(parents=True)
    for name in ("__init__.py", "low/__init__.py", "low/leaf.py", "low/other.py"):
        (package / name).write_text("")
    (package / "top.py").write_text("def run():\n    from repro.low.leaf import thing\n")
    (package / "low" / "other.py").write_text("from . import leaf\n")
    graph = import_graph(package)
    assert graph["repro.top"] == {"repro.low", "repro.low.leaf"}
    assert graph["repro.low.other"] == {"repro.low.leaf"}  # its own package is mid-import already
    assert graph["repro.low.leaf"] == set()
    cycle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(cycle) == [frozenset({"a", "b", "c"})]
    layers = [("repro.x",), ("repro.y",)]
    assert upward_imports({"repro.x.m": {"repro.y"}, "repro.y": {"repro.x.m"}}, layers) == {
        ("repro.x.m", "repro.y")}


# ---- § references ------------------------------------------------------------------------------

SCANNED = ("repro", "tests", "bench", "benchmarks", "README.md")
# `docs/gigpo.md §4.2`, `docs/sgrpo.md §2.5-2.6`, `docs/gigpo.md §2.1/§2.2`, `docs/gigpo.md §1, §3`
REFERENCE = re.compile(r"(?P<file>[\w./-]+\.md)\W{0,3}\s*(?P<sections>§\s*\d+(?:\.\d+)*(?:\s*(?:[-/,]|and)\s*§?\s*\d+(?:\.\d+)*)*)")
SECTION = re.compile(r"§?\s*(\d+(?:\.\d+)*)")
# a § that belongs to a paper, not to our notes ("the paper's §5.5")
PAPER_SECTION = re.compile(r"paper(?:'s)?\s+§\s*\d")


def _headings(path: Path) -> set[str]:
    return set(re.findall(r"^#+\s+(\d+(?:\.\d+)*)\.?\s", path.read_text(), flags=re.M))


def reference_problems(root: Path = ROOT) -> list[str]:
    problems = []
    for top in SCANNED:
        for path in [root / top] if (root / top).is_file() else sorted((root / top).rglob("*")):
            if path.suffix not in {".py", ".yaml", ".yml", ".md", ".toml"} or not path.is_file():
                continue
            if path == Path(__file__).resolve():  # its examples of bad references are on purpose
                continue
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                if "§" not in line:
                    continue
                where = f"{path.relative_to(root)}:{lineno}"
                attributed = len(PAPER_SECTION.findall(line))
                for ref in REFERENCE.finditer(line):
                    attributed += ref[0].count("§")
                    target = root / ref["file"]
                    if not target.is_file():
                        problems.append(f"{where}: {ref['file']} is not a file of the repository "
                                        f"(notes live in docs/)")
                        continue
                    headings = _headings(target)
                    for section in SECTION.findall(ref["sections"]):
                        if section not in headings and not any(h.startswith(section + ".") for h in headings):
                            problems.append(f"{where}: {ref['file']} has no section {section}")
                if line.count("§") > attributed:
                    problems.append(f"{where}: a § without the file it is in (write docs/NAME.md §N)")
    return problems


def test_every_section_reference_resolves():
    problems = reference_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("line, ok", [
    ("see docs/gigpo.md §4.2 step 4", True),
    ("docs/sgrpo.md §2.5-2.6 and §9.9", True),  # the first § of a list is checked, later ones too
    ("gigpo.md §4.2", False),  # not a repository path
    ("docs/gigpo.md §42", False),
    ("(§2.8)", False),
    ("the paper's §5.5 figure", True),
])
def test_the_reference_checker_itself(tmp_path, line, ok):
    module = tmp_path / "repro" / "m.py"
    module.parent.mkdir()
    module.write_text(f"# {line}\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "gigpo.md").write_text("# t\n## 4. x\n### 4.2 y\n")
    (tmp_path / "docs" / "sgrpo.md").write_text("## 2. s\n### 2.5 a\n### 2.6 b\n### 9.9 c\n")
    assert (reference_problems(tmp_path) == []) is ok
