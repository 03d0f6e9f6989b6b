"""Which names a notebook cell reads and binds, for the student edition's static name test.

A student replaces every solution by their own code, so a given (untagged) cell of the student
edition may only read names that earlier given cells define, that are imported or built in, or that
an exercise text announces (in backticks: "store it as `recovery`"). :func:`cell_names` finds the
names a cell reads from the notebook's namespace, with Python's scoping rules: comprehension
variables, function and lambda arguments, names bound earlier in the same cell, ``del``, augmented
assignment (a read and a write), ``except ... as``, ``with ... as``, walrus, imports, and IPython
magic lines (``%timeit``, ``!pip``), which are skipped.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit", "_", "__", "___"}
"""Names an IPython kernel defines in every notebook."""
BUILTIN_NAMES = set(dir(builtins)) | IPYTHON_NAMES

_MAGIC = re.compile(r"^(\s*)(%|!|\?)")


def strip_magics(source: str) -> str:
    """The cell's source with IPython magic and shell lines replaced by ``pass`` (same indentation)."""
    lines = []
    for line in source.split("\n"):
        m = _MAGIC.match(line)
        lines.append(f"{m[1]}pass" if m else line)
    return "\n".join(lines)


@dataclass
class CellNames:
    """What one code cell does to the notebook's namespace."""

    reads: list[str] = field(default_factory=list)
    """Names read from the namespace before the cell binds them (in order of first read)."""
    binds: set[str] = field(default_factory=set)
    """Names the cell leaves bound at its end (assigned, imported, defined; not deleted)."""
    deletes: set[str] = field(default_factory=set)
    """Names the cell deletes (``del x``) and does not bind again."""


class _Visitor(ast.NodeVisitor):
    """Free reads of module-level code, visiting each construct in evaluation order."""

    def __init__(self) -> None:
        self.module: set[str] = set()
        self.scopes: list[tuple[set[str], str]] = [(self.module, "module")]
        self.reads: list[str] = []
        self.deleted: set[str] = set()
        self.deferred: list[tuple[ast.AST, list]] = []

    # names
    def _bound(self, name: str) -> bool:
        return any(name in names for names, _ in self.scopes)

    def _read(self, name: str) -> None:
        if not self._bound(name) and name not in self.reads:
            self.reads.append(name)

    def _bind(self, name: str, walrus: bool = False) -> None:
        scopes = [s for s in self.scopes if s[1] != "comprehension"] if walrus else self.scopes
        names, kind = scopes[-1]
        names.add(name)
        if kind == "module":
            self.deleted.discard(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id)
        else:  # del x
            self._read(node.id)
            names, kind = self.scopes[-1]
            names.discard(node.id)
            if kind == "module":
                self.deleted.add(node.id)

    # statements whose fields are not in evaluation order
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
            self._bind(node.target.id)
        else:
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, walrus=True)

    def visit_For(self, node) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Import(self, node) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Global(self, node) -> None:  # names stay module names
        pass

    visit_Nonlocal = visit_Global

    # scopes
    def _comprehension(self, node, results: list[ast.AST]) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        self.scopes.append((set(), "comprehension"))
        self.visit(first.target)
        for cond in first.ifs:
            self.visit(cond)
        for gen in rest:
            self.visit(gen.iter)
            self.visit(gen.target)
            for cond in gen.ifs:
                self.visit(cond)
        for result in results:
            self.visit(result)
        self.scopes.pop()

    def visit_ListComp(self, node) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node) -> None:
        self._comprehension(node, [node.key, node.value])

    def _arguments(self, args: ast.arguments) -> set[str]:
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
        return {a.arg for a in every}

    def visit_FunctionDef(self, node) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        params = self._arguments(node.args)
        self._bind(node.name)
        # the body runs when called: it sees the enclosing scopes as they are at the end of the cell
        self.deferred.append((node.body, self.scopes + [(params, "function")]))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        params = self._arguments(node.args)
        self.deferred.append(([node.body], self.scopes + [(params, "function")]))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(expr)
        self.scopes.append((set(), "class"))
        for stmt in node.body:
            self.visit(stmt)
        self.scopes.pop()
        self._bind(node.name)

    def run(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            self.visit(stmt)
        while self.deferred:
            body, scopes = self.deferred.pop(0)
            saved, self.scopes = self.scopes, scopes
            for stmt in body:
                self.visit(stmt)
            self.scopes = saved


def cell_names(source: str) -> CellNames:
    """The names a code cell reads from, binds in and deletes from the notebook's namespace.

    Raises
    ------
    SyntaxError
        If the cell (without its magic lines) is not Python.
    """
    tree = ast.parse(strip_magics(source))
    visitor = _Visitor()
    visitor.run(tree)
    return CellNames(visitor.reads, set(visitor.module), visitor.deleted - visitor.module)


_BACKTICKS = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def announced_names(text: str) -> set[str]:
    """Names an exercise text announces: the identifiers inside its inline code spans.

    "store the table as `recovery`, a DataFrame indexed by parameter" announces ``recovery``;
    "`sim = es.simulate_schools(8, ...)`" announces ``sim`` (and ``es``); a span that is not Python
    (`hdi_3%`) announces its identifiers. Text outside backticks (a directive's ``:label:``, words of
    the prose) announces nothing.
    """
    found: set[str] = set()
    for span in _BACKTICKS.findall(text):
        try:
            tree = ast.parse(span.strip())
        except SyntaxError:
            found.update(_IDENTIFIER.findall(span))
            continue
        found.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return found
