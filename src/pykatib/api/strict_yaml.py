"""PyYAML's safe loader, made strict and bounded for the files users hand to pykatib.

Strict: a key given twice in one mapping is an error, as in kubectl, and so are values JSON
can't hold (``!!binary``, ``!!set``, ``.nan``, ``.inf``), as Kubernetes' YAML-to-JSON decoding
refuses them. Bounded: a document may nest at most :data:`MAX_DEPTH` levels and may not refer to
itself through an alias, and its aliases may not expand it beyond :data:`MAX_VALUES` values (a
"billion laughs" file), so that the code that walks a loaded document (defaulting, validation,
rendering, storing) can recurse without a RecursionError and finishes in time linear in the
file's size. Kubernetes' YAML decoder rejects such documents too ("excessive aliasing").
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import yaml

MAX_DEPTH = 100  # Katib's deepest examples (a TFJob trial) nest about 20 levels
MAX_VALUES = 100_000  # counted with aliases expanded; only enforced when aliases add values


class StrictLoader(yaml.SafeLoader):
    """Safe loading with duplicate keys rejected and the limits above enforced."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with "<<" may be overridden
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f'found duplicate key "{key}"',
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        # PyYAML's composer recurses once per level: stop before Python's recursion limit does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, _too_deep(), self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _check_aliases(node)
        return node


def _not_json(loader: StrictLoader, node: yaml.Node) -> Any:
    # Kubernetes objects are JSON: bytes would fail when the experiment is stored, a set's order
    # (a categorical list's) would change from run to run, and NaN is not even equal to itself.
    if node.tag.endswith(":float"):
        value = loader.construct_yaml_float(node)
        if math.isfinite(value):
            return value
        what = f"the number {node.value} (infinite or NaN)"
    else:
        what = "binary data (!!binary)" if node.tag.endswith(":binary") else "a set (!!set)"
    raise yaml.constructor.ConstructorError(
        None, None, f"found {what}, which a Kubernetes object (JSON) can't hold", node.start_mark
    )


for _tag in ("binary", "set", "float"):
    StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_json)


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_aliases(root: yaml.Node) -> None:
    """Reject a node graph that aliases make cyclic, too deep or too large.

    One depth-first walk over the distinct nodes (each alias is the node it names, shared), so
    it takes time linear in the file however large the aliases would expand it.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values expanded, depth expanded)
    path: set[int] = set()  # the nodes from the root down to the one being walked
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            sizes = [done[id(child)] for child in _children(node)]
            size = 1 + sum(s for s, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            if depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, _too_deep(), node.start_mark)
            done[key] = (size, depth)
            path.discard(key)
            continue
        if key in done:
            continue
        path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in path:
                raise yaml.composer.ComposerError(
                    "while composing a node",
                    node.start_mark,
                    "found an alias to a node that contains it (a recursive structure)",
                    child.start_mark,
                )
            if id(child) not in done:
                stack.append((child, False))
    size = done[id(root)][0]
    if size > MAX_VALUES and size > len(done):
        raise yaml.composer.ComposerError(
            None,
            None,
            f"excessive aliasing: aliases expand the document to {size} values "
            f"(at most {MAX_VALUES})",
            root.start_mark,
        )


def load_one(text: str) -> Any:
    """The single document of ``text`` (None when empty); raises :class:`yaml.YAMLError`."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def describe_error(err: yaml.YAMLError, text: str) -> str:
    """``err`` in one line: ``line L, column C: invalid YAML: <problem>`` (``text`` was read)."""
    if isinstance(err, yaml.reader.ReaderError) and isinstance(err.character, int):
        line = text.count("\n", 0, err.position) + 1
        column = err.position - text.rfind("\n", 0, err.position)
        return (
            f"line {line}, column {column}: invalid YAML: character #x{err.character:04x} is "
            f"not allowed ({err.reason})"
        )
    if not isinstance(err, yaml.MarkedYAMLError) or err.problem_mark is None:
        return "invalid YAML: " + " ".join(str(err).split())
    mark = err.problem_mark
    message = f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {err.problem}"
    if err.context and err.context_mark is not None:
        message += f" ({err.context} at line {err.context_mark.line + 1})"
    return message
