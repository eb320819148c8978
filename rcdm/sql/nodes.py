"""An index of a statement's tree by node type, kept up to date while transforms rewrite the tree.

Every transform used to walk the whole tree (``find_all``) to find the few nodes it rewrites: on a 3.5 MB cohort
(half a million nodes) each walk costs about as much as a tenth of the parse. One walk now fills this index, and
transforms ask it for the nodes of the types they rewrite (``nodes``, in the order ``find_all`` gives: breadth
first) and report their rewrites through it (``replace``, ``set``, ``pop``), which index the new nodes and drop the
replaced ones, so the index stays exact and no other walk is needed.

A node that leaves the tree is remembered as gone rather than removed from the lists (cheap), and skipped when
the index is read. The nodes a rewrite puts in must be new or come from the part it replaces (a subtree moved from
the old node into its replacement keeps its entries); a rewrite inside a part already cut off indexes nothing.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import Set as AbstractSet
from heapq import merge
from typing import TypeVar

from sqlglot import exp

E = TypeVar("E", bound=exp.Expr)


class NodeIndex:
    """The nodes of one tree by exact type, in breadth-first order (nodes added later come after)."""

    __slots__ = ("root", "_by_type", "_gone", "_count", "_subclasses", "_rewritten")

    def __init__(self, root: exp.Expr) -> None:
        self.root = root
        by_type: dict[type, list[tuple[int, exp.Expr]]] = {}
        count = 0
        for count, node in enumerate(root.walk()):  # sqlglot's compiled breadth-first walk: the order of find_all
            entries = by_type.get(type(node))
            if entries is None:
                entries = by_type[type(node)] = []
            entries.append((count, node))
        self._by_type = by_type
        self._gone: builtins.set[int] = builtins.set()
        self._count = count + 1
        self._subclasses: dict[tuple[type, ...], list[type]] = {}
        self._rewritten = False

    def has(self, *kinds: type) -> bool:
        """Whether a node of one of ``kinds`` (or of a subclass) is in the tree."""
        gone = self._gone
        for kind in self._types(kinds):
            for _, node in self._by_type[kind]:
                if id(node) not in gone:
                    return True
        return False

    def nodes(self, *kinds: type[E]) -> list[E]:
        """The nodes of ``kinds`` (subclasses included) in the tree, breadth first as ``root.find_all`` yields
        them; a list, so the caller may rewrite the tree while going through it."""
        gone = self._gone
        lists = [self._by_type[t] for t in self._types(kinds)]
        if not lists:
            return []
        entries = lists[0] if len(lists) == 1 else merge(*lists, key=_position)
        return [node for _, node in entries if id(node) not in gone]  # type: ignore[misc]

    def first(self, *kinds: type[E]) -> E | None:
        """The first node of ``kinds`` breadth first (``root.find``), or None."""
        found = self.nodes(*kinds)
        return found[0] if found else None

    def innermost_first(self, *kinds: type[E]) -> list[E]:
        """The nodes of ``kinds``, deepest first: ``reversed(list(root.find_all(...)))`` on the tree as parsed; once
        the tree was rewritten, by depth (nodes added later sit anywhere in the tree)."""
        found = self.nodes(*kinds)
        if not self._rewritten or len(found) < 2:
            return found[::-1]
        order = {id(n): (-_depth(n), -i) for i, n in enumerate(found)}
        return sorted(found, key=lambda n: order[id(n)])

    def replace(self, old: exp.Expr, new: exp.Expr) -> exp.Expr:
        """``old.replace(new)``, keeping the index exact; returns the tree's root (``new`` when ``old`` was it)."""
        if old is new:
            return self.root
        if old is self.root:
            self.set_root(new)
            return new
        if id(old) in self._gone:  # a rewrite inside a part already cut from the tree: nothing to index
            old.replace(new)
            return self.root
        before = _ids(old)  # nodes of old moved into new keep their entries
        old.replace(new)
        self._add(new, before)
        self._drop(old)
        return self.root

    def set(self, node: exp.Expr, key: str, value: object) -> None:
        """``node.set(key, value)``, keeping the index exact."""
        if id(node) in self._gone:
            node.set(key, value)
            return
        previous = node.args.get(key)
        olds = [v for v in (previous if isinstance(previous, list) else [previous]) if isinstance(v, exp.Expr)]
        before = {i for old in olds for i in _ids(old)}
        node.set(key, value)
        for new in value if isinstance(value, list) else [value]:
            if isinstance(new, exp.Expr):
                self._add(new, before)
        for old in olds:
            if old.parent is node and not _held(node, old.arg_key, old):
                self._drop(old)

    def append(self, node: exp.Expr, key: str, value: exp.Expr) -> None:
        """``node.append(key, value)`` of a new node, keeping the index exact."""
        node.append(key, value)
        if id(node) not in self._gone:
            self._add(value, builtins.set())

    def pop(self, node: exp.Expr) -> exp.Expr:
        """``node.pop()``, keeping the index exact."""
        node.pop()
        self._drop(node)
        return node

    def set_root(self, new: exp.Expr) -> None:
        """A transform made ``new`` the tree: index what is new in it (the old tree inside it keeps its entries)."""
        old, self.root = self.root, new
        if _inside(old, new):
            self._add(new, {id(old)})
        else:  # the new tree keeps only parts of the old one: index it afresh
            self.__init__(new)  # type: ignore[misc]

    def _add(self, top: exp.Expr, present: AbstractSet[int]) -> None:
        """Index ``top`` and the nodes below it, breadth first as ``walk``, except the subtrees of nodes in
        ``present`` (already in the tree, moved here); nodes gone before and now back regain their entries."""
        by_type, gone = self._by_type, self._gone
        queue = deque([top])
        count = self._count
        while queue:
            node = queue.popleft()
            key = id(node)
            if key in gone:
                gone.discard(key)
            elif key in present:
                continue
            else:
                entries = by_type.get(type(node))
                if entries is None:
                    entries = by_type[type(node)] = []
                    for kinds, types in self._subclasses.items():
                        if issubclass(type(node), kinds):
                            types.append(type(node))
                entries.append((count, node))
                count += 1
            queue.extend(node.iter_expressions())
        self._count = count
        self._rewritten = True

    def _drop(self, top: exp.Expr) -> None:
        """Mark ``top`` and the nodes below it gone, except subtrees moved elsewhere (their parent changed)."""
        gone = self._gone
        stack = [top]
        while stack:
            node = stack.pop()
            gone.add(id(node))
            for child in node.iter_expressions():
                if child.parent is node:
                    stack.append(child)

    def _types(self, kinds: tuple[type, ...]) -> list[type]:
        types = self._subclasses.get(kinds)
        if types is None:
            types = self._subclasses[kinds] = [t for t in self._by_type if issubclass(t, kinds)]
        return types


def _ids(top: exp.Expr) -> builtins.set[int]:
    return {id(node) for node in top.walk()}


def _position(entry: tuple[int, exp.Expr]) -> int:
    return entry[0]


def _held(node: exp.Expr, key: str | None, value: exp.Expr) -> bool:
    """Whether ``node`` holds ``value`` under ``key`` (directly or in the list there)."""
    current = node.args.get(key) if key else None
    return current is value or (isinstance(current, list) and any(v is value for v in current))


def _depth(node: exp.Expr) -> int:
    depth = 0
    parent = node.parent
    while parent is not None:
        depth += 1
        parent = parent.parent
    return depth


def _inside(node: exp.Expr, root: exp.Expr) -> bool:
    """Whether ``node`` is in the tree under ``root`` (each parent link checked both ways)."""
    while node is not root:
        parent = node.parent
        if parent is None or not _held(parent, node.arg_key, node):
            return False
        node = parent
    return True
