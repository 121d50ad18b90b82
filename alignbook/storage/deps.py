"""The code a cached computation depends on, read from the package's import graph.

A cached result must be computed again when code it runs through changes, and only then.
`dependencies(module)` is the set of the package's source files reachable from `module` by its imports, read
statically from the sources (`ast`), imports inside functions included (a lazy import is still a dependency),
those under `if TYPE_CHECKING:` excluded (they never run). An import reaches the module that *defines* the
imported name: `from alignbook.info import pid` reaches `info/exact.py`, where `pid` is defined, not the
package `info` and every module its `__init__` re-exports; so an import made for one job does not widen the
key of another. Importing a subpackage as a whole (`from alignbook import metrics`) reaches its `__init__` and
everything that re-exports. `code_hash(*modules)` hashes the path and source of every dependency: the code
part of a cache key.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "alignbook"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def module_file(name: str) -> Path | None:
    """The source file of module `name` of the package (`a/b.py` or `a/b/__init__.py`), or None."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE_ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if parts and candidate.is_file():
            return candidate
    return PACKAGE_ROOT / "__init__.py" if not parts else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT).with_suffix("")
    parts = [PACKAGE, *relative.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST):
    """Every Import and ImportFrom of a module, in functions too, but not under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module an ImportFrom names, relative imports resolved against the file's package."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


@functools.cache
def _bindings(init: Path) -> dict[str, tuple[str, str]]:
    """Names a package `__init__` re-exports: name -> (module it is imported from, its name there)."""
    found = {}
    for node in _parsed(init).body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, init)
            for alias in node.names:
                found[alias.asname or alias.name] = (source, alias.name)
    return found


def _defining_files(module: str, name: str, seen: frozenset = frozenset()) -> set[Path]:
    """Files reached by `from module import name`: the submodule `name`, or the module that defines `name`."""
    submodule = module_file(f"{module}.{name}")
    if submodule is not None:
        return {submodule}
    source = module_file(module)
    if source is None:
        return set()
    if source.name == "__init__.py" and name in _bindings(source) and (module, name) not in seen:
        origin, original = _bindings(source)[name]
        return _defining_files(origin, original, seen | {(module, name)}) or {source}
    return {source}


@functools.cache
def _direct(path: Path) -> frozenset[Path]:
    """Files the imports of one source file reach (`_defining_files`), this package's only."""
    reached: set[Path] = set()
    for node in _import_nodes(_parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = module_file(alias.name)
                if target is not None:
                    reached.add(target)
        else:
            module = _absolute(node, path)
            if module_file(module) is None:
                continue
            for alias in node.names:
                reached |= _defining_files(module, alias.name)
    reached.discard(path)
    return frozenset(reached)


@functools.cache
def dependencies(*modules: str) -> tuple[Path, ...]:
    """Every source file of the package that `modules` (dotted names) reach through their imports, themselves
    included, sorted.

    The package's own `__init__` (lazy, it defines only the version) is left out: the version enters keys by
    itself.
    """
    todo = []
    for module in modules:
        path = module_file(module)
        if path is None:
            raise ValueError(f"{module!r} is not a module of the {PACKAGE} package")
        todo.append(path)
    found: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        todo.extend(_direct(path) - found)
    found.discard(PACKAGE_ROOT / "__init__.py")
    return tuple(sorted(found))


@functools.cache
def code_hash(*modules: str) -> str:
    """Sha256 of the relative path and source of every file in `dependencies(*modules)`; sources do not change
    while a process runs, so it is computed once per process."""
    digest = hashlib.sha256()
    for path in dependencies(*modules):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def module_code(module: str) -> str:
    """`code_hash(module)` for a module of the package; for a module outside it (a user's builder or cached
    function), the sha256 of its own source file (its imports are not followed), or its name when it has
    none."""
    if module_file(module) is not None:
        return code_hash(module)
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None or not origin.is_file():
        return f"module {module} without a source file"
    return hashlib.sha256(origin.read_bytes()).hexdigest()


def forget() -> None:
    """Read the sources again on the next call (they are read once per process: a process that edits them, a
    long-lived notebook kernel, asks for this)."""
    for cached in (module_file, _parsed, _bindings, _direct, dependencies, code_hash, module_code):
        cached.cache_clear()


def relative_names(paths) -> list[str]:
    """Paths of package files relative to the package, for people (`training/single.py`)."""
    return [Path(p).relative_to(PACKAGE_ROOT).as_posix() for p in paths]
