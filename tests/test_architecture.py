"""The shape of the code that docs/architecture.md describes, checked on the imports as Python reads them: the
top-level packages import one way, the environment is read at the edge, and project imports sit at the top of
a module (where a reader looks for them) except where a comment says why not."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "knowledge", "signals", "replies", "policy", "handoff", "bot", "supportbot")

# what each package may import; everything not listed is forbidden (docs/architecture.md, "Packages")
ALLOWED = {
    "protocol": set(),
    "knowledge": set(),
    "signals": {"protocol", "knowledge"},
    "replies": {"protocol"},
    "policy": {"protocol", "knowledge"},
    "handoff": {"protocol", "knowledge", "signals", "replies"},
    "bot": {"protocol", "knowledge", "signals", "replies", "policy"},
    "supportbot": set(PACKAGES),
}
ENVIRONMENT_READERS = {"supportbot/settings.py"}  # the one module that knows every variable
MAX_ENVIRONMENT_READERS = 2
MAX_LATE_IMPORTERS = 2
LATE_IMPORTS_REASON = re.compile(r"^# late imports: \S", re.M)  # one comment per module saying why


def modules() -> Iterator[Tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imported_packages(node: ast.AST) -> Set[str]:
    names: List[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        names = [node.module]
    return {name.split(".")[0] for name in names} & set(PACKAGES)


def package_edges() -> Dict[str, Set[Tuple[str, str]]]:
    edges: Dict[str, Set[Tuple[str, str]]] = {}
    for path, tree in modules():
        package = path.split("/")[0]
        for node in ast.walk(tree):
            for target in imported_packages(node) - {package}:
                edges.setdefault(package, set()).add((target, path))
    return edges


def late_project_imports(tree: ast.Module) -> List[int]:
    """Lines of project imports made inside a function."""
    lines = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines += [node.lineno for node in ast.walk(function) if imported_packages(node)]
    return lines


def reads_environment(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "getenv") for alias in node.names):
            return True
    return False


def test_each_package_imports_only_the_packages_below_it():
    wrong = sorted(f"{path} imports {target}" for package, edges in package_edges().items()
                   for target, path in edges if target not in ALLOWED[package])
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_packages():
    graph = {package: {target for target, _ in edges} for package, edges in package_edges().items()}

    def reaches(start: str, goal: str, seen: Set[str]) -> bool:
        for step in graph.get(start, ()):
            if step == goal or (step not in seen and reaches(step, goal, seen | {step})):
                return True
        return False

    assert not [package for package in graph if reaches(package, package, set())]


def test_the_environment_is_read_in_one_place():
    readers = {path for path, tree in modules() if reads_environment(tree)}
    assert readers <= ENVIRONMENT_READERS and len(readers) <= MAX_ENVIRONMENT_READERS, sorted(readers)


def test_imports_inside_functions_are_rare_and_explained():
    late = {path: lines for path, tree in modules() if (lines := late_project_imports(tree))}
    assert len(late) <= MAX_LATE_IMPORTERS, sorted(late)
    for path in late:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert LATE_IMPORTS_REASON.search(source), f"{path}: imports inside functions without a '# late imports: why' comment"


def test_the_checks_see_a_wrong_import():
    tree = ast.parse("def f():\n    from supportbot.settings import Settings\nimport os\nos.environ.get('X')\n")
    assert late_project_imports(tree) == [2] and reads_environment(tree)
    assert not reads_environment(ast.parse("import os\nos.path.join('a')\n"))
