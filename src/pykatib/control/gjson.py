"""GJSON paths (tidwall/gjson) over parsed JSON: what Katib's trial conditions are written in.

:func:`get` agrees with tidwall/gjson v1.14.1 (the version Katib's ``go.mod`` pins) on its path
syntax: keys with ``*`` / ``?`` wildcards and ``\\`` escapes, array indexes, ``#`` and ``#.key``,
``#(...)`` / ``#(...)#`` queries with ``==`` ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` ``%`` ``!%``
and ``~`` (nested, and typed by the value compared, as gjson does), ``|`` and ``.`` chaining,
``[path,...]`` selectors and the modifiers in :data:`MODIFIERS`. Not supported, and reported as
such: ``{...}`` selectors, ``!`` literals, ``..`` JSON lines and other modifiers. Where gjson
quietly finds nothing in a malformed path (an unclosed ``#(``, a dangling ``|``), this raises
:class:`PathSyntaxError`, saying what is wrong and where; so does a key with one of
``()[]{}#"=`` unescaped (``conditions#(...)`` is a missing dot far more often than a key name).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["MISSING", "MODIFIERS", "PathSyntaxError", "compile_path", "get"]

# The modifiers evaluated here (gjson has a few more: @pretty, @ugly, @join, ...).
MODIFIERS = ("this", "reverse", "keys", "values", "flatten", "valid")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What :func:`get` returns where gjson's result does not exist (JSON ``null`` is ``None``)."""


# --- the path, parsed -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:  # an object key (``*`` and ``?`` wildcards) or an array index
    name: str
    wild: bool
    escaped: bool = False  # written with a backslash


@dataclass(frozen=True)
class _Count:  # ``#``: an array's length; ``#.rest``: rest of each element
    pass


@dataclass(frozen=True)
class _Query:  # ``#(path op value)``, first match; ``#(...)#``, every match
    path: _Path | None
    op: str
    value: str
    all: bool
    cut: bool = False  # has "." or "|" inside, where gjson cuts it when read as an object key


@dataclass(frozen=True)
class _Modifier:
    name: str
    arg: Any


@dataclass(frozen=True)
class _Select:  # ``[path1,path2]``
    paths: tuple[_Path, ...]


# Each segment with the character that links it to the next: "." or "|" ("" for the last).
_Path = tuple[tuple[Any, str], ...]

_OPERATOR_CHARS = "!=<>%"
_KEY_SPECIALS = '()[]{}#"='


class PathSyntaxError(ValueError):
    """A GJSON path that can't be parsed: ``why``, at character ``at`` (0-based) of ``path``."""

    def __init__(self, why: str, at: int, path: str) -> None:
        super().__init__(f"{why} (at character {at + 1} of {path!r})")
        self.why, self.at, self.path = why, at, path


def _parse(text: str, start: int, end: int) -> _Path:
    if start >= end:
        raise PathSyntaxError("empty path", start, text)
    segments: list[tuple[Any, str]] = []
    i = start
    while True:
        segment, i = _segment(text, i, end)
        if i == end:
            segments.append((segment, ""))
            return tuple(segments)
        link = text[i]
        if i + 1 == end:
            raise PathSyntaxError(f"nothing after the last '{link}'", i, text)
        if text[i + 1] in ".|":
            raise PathSyntaxError(
                f"empty component between '{link}' and '{text[i + 1]}'", i + 1, text
            )
        segments.append((segment, link))
        i += 1


def _segment(text: str, i: int, end: int) -> tuple[Any, int]:
    c = text[i]
    if c == "@":
        return _modifier(text, i, end)
    if c == "[":
        return _selector(text, i, end)
    if c == "{":
        raise PathSyntaxError("{...} selectors are not supported by pykatib", i, text)
    if c == "!":
        raise PathSyntaxError("'!' literals are not supported by pykatib", i, text)
    if c == "#":
        if i + 1 < end and text[i + 1] in "([":
            return _query(text, i, end)
        if i + 1 < end and text[i + 1] not in ".|":
            raise PathSyntaxError(f"unexpected '{text[i + 1]}' after '#'", i + 1, text)
        return _Count(), i + 1
    literal: list[str] = []
    regex: list[str] = []
    wild, k = False, i
    while k < end and text[k] not in ".|":
        ch = text[k]
        if ch == "\\":
            if k + 1 == end:
                raise PathSyntaxError("'\\' at the end of the path", k, text)
            k += 1
            literal.append(text[k])
            regex.append(re.escape(text[k]))
        elif ch in _KEY_SPECIALS:
            raise PathSyntaxError(
                f"unexpected '{ch}' in a key (write '\\{ch}' if it is part of the name)", k, text
            )
        else:
            wild = wild or ch in "*?"
            literal.append(ch)
            regex.append({"*": ".*", "?": "."}.get(ch, re.escape(ch)))
        k += 1
    if k == i:
        raise PathSyntaxError("empty component", i, text)
    escaped = "\\" in text[i:k]
    return _Key("".join(regex) if wild else "".join(literal), wild, escaped), k


def _modifier(text: str, i: int, end: int) -> tuple[_Modifier, int]:
    k = i + 1
    while k < end and text[k] not in ":.|":
        k += 1
    name = text[i + 1 : k]
    if name not in MODIFIERS:
        supported = ", ".join("@" + m for m in MODIFIERS)
        raise PathSyntaxError(
            f"modifier @{name} is not supported by pykatib ({supported})", i, text
        )
    arg: Any = None
    if k < end and text[k] == ":":
        k += 1
        if k < end and text[k] in '{["':
            stop = _balanced(text, k, end)
            try:
                arg = json.loads(text[k:stop])
            except ValueError:
                raise PathSyntaxError(f"the argument of @{name} is not JSON", k, text) from None
            k = stop
        else:
            stop = text.find("|", k, end)
            stop = end if stop < 0 else stop
            arg, k = text[k:stop], stop
    if k < end and text[k] not in ".|":
        raise PathSyntaxError(f"unexpected '{text[k]}' after @{name}", k, text)
    return _Modifier(name, arg), k


def _balanced(text: str, i: int, end: int) -> int:
    """The index after the bracketed or quoted value starting at ``i``."""
    depth, k = 0, i
    while k < end:
        ch = text[k]
        if ch == "\\":
            k += 1
        elif ch == '"':
            k = _close_quote(text, k, end)
            if depth == 0:
                return k + 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1
    raise PathSyntaxError(f"'{text[i]}' is never closed", i, text)


def _close_quote(text: str, i: int, end: int) -> int:
    k = i + 1
    while k < end:
        if text[k] == "\\":
            k += 2
        elif text[k] == '"':
            return k
        else:
            k += 1
    raise PathSyntaxError("unterminated string", i, text)


def _selector(text: str, i: int, end: int) -> tuple[_Select, int]:
    close = _balanced(text, i, end)
    paths, depth, start, k = [], 0, i + 1, i + 1
    while k < close - 1:
        ch = text[k]
        if ch == "\\":
            k += 1
        elif ch == '"':
            k = _close_quote(text, k, end)
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            paths.append(_parse(text, start, k))
            start = k + 1
        elif ch == ":" and depth == 0 and "@" not in text[start:k]:
            raise PathSyntaxError("'name:path' is for {...} selectors; [...] takes paths", k, text)
        k += 1
    paths.append(_parse(text, start, close - 1))
    if close < end and text[close] not in ".|":
        raise PathSyntaxError(f"unexpected '{text[close]}' after ']'", close, text)
    return _Select(tuple(paths)), close


def _query(text: str, i: int, end: int) -> tuple[_Query, int]:
    # The split into path, operator and value follows gjson's parseQuery.
    k, op_at, depth, escaped = i + 2, 0, 1, False
    while k < end:
        ch = text[k]
        if depth == 1 and not op_at and ch in _OPERATOR_CHARS:
            op_at = k
        elif ch == "\\":
            k += 1
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                break
        elif ch == '"':
            close = _close_quote(text, k, end)
            escaped = escaped or "\\" in text[k:close]
            k = close
        k += 1
    if depth:
        raise PathSyntaxError(f"'{text[i : i + 2]}' is never closed", i, text)
    path_start, path_end = _trim(text, i + 2, op_at or k)
    op, value = "", ""
    if op_at:
        value = text[op_at:k].strip()
        size = 2 if value[:2] in ("!=", "!%", "<=", ">=") else 1 if value[:1] in "<>=%" else 0
        if value[:2] == "==":
            value = value[1:]
        if len(value) == 1:
            size = 1
        op, value = value[:size], value[size:].strip()
        if op in ("", "!"):
            raise PathSyntaxError("'!' must be followed by '=' or '%'", op_at, text)
        if value[:1] and value[0] in _OPERATOR_CHARS:
            raise PathSyntaxError(f"unexpected '{value[0]}' after the operator '{op}'", op_at, text)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unescape(value[1:-1]) if escaped else value[1:-1]
        elif '"' in value:
            raise PathSyntaxError(f"the value {value} is not one quoted string", op_at, text)
    elif path_start == path_end:
        raise PathSyntaxError("empty query", i, text)
    path = _parse(text, path_start, path_end) if path_start < path_end else None
    k += 1
    every = k < end and text[k] == "#"
    k += every
    if k < end and text[k] not in ".|":
        raise PathSyntaxError(f"unexpected '{text[k]}' after the query", k, text)
    cut = any(ch in ".|" for ch in re.sub(r"\\.", "", text[i:k]))
    return _Query(path, op, value, every, cut), k


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return start, end


def _unescape(text: str) -> str:
    try:
        return str(json.loads(f'"{text}"'))
    except ValueError:
        return text


@lru_cache(maxsize=256)
def compile_path(path: str) -> _Path:
    """``path`` parsed, for :func:`get`; raises :class:`PathSyntaxError`."""
    return _parse(path, 0, len(path))


# --- evaluation -------------------------------------------------------------------------------


def get(document: Any, path: str) -> Any:
    """The value at the GJSON ``path`` in ``document`` (parsed JSON, searched in its own key
    order), or :data:`MISSING`. Raises :class:`PathSyntaxError` when ``path`` can't be parsed."""
    return _get(document, compile_path(path))


def _get(value: Any, path: _Path) -> Any:
    """Walk ``path`` from ``value``, as gjson does: after ``|`` (and ``.@``, ``.[``) the rest
    runs even on a missing result (a modifier or selector can make something of it); after
    ``.`` a missing result ends the walk; after ``#`` or a query, ``.`` hands the rest to
    :func:`_each`."""
    for i, (segment, link) in enumerate(path):
        if isinstance(segment, (_Modifier, _Select)):
            value = _apply(value, segment)
            continue
        if not isinstance(value, (dict, list)):
            return MISSING  # gjson finds no object or array to step into
        rest = path[i + 1 :]
        if link == "." and isinstance(value, list) and isinstance(segment, (_Count, _Query)):
            return _each(value, segment, rest)
        piped = link == "|" or (link == "." and isinstance(rest[0][0], (_Modifier, _Select)))
        if isinstance(value, dict) and isinstance(segment, _Query) and segment.cut:
            return MISSING  # gjson reads a query on an object as a key, cut at the "." or "|"
        if piped and link == "." and isinstance(segment, _Key) and segment.escaped:
            return MISSING  # gjson loses the pipe after an escaped key (parseObjectPath)
        if link == "." and not piped and isinstance(segment, _Key) and segment.wild:
            for key, item in value.items() if isinstance(value, dict) else ():
                found = _get(item, rest) if _wild(segment.name).fullmatch(key) else MISSING
                if found is not MISSING:
                    return found
            return MISSING
        value = _step(value, segment)
        if not link or (value is MISSING and not piped):
            return value
    return value


def _step(value: dict[str, Any] | list[Any], segment: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(segment, _Key):
            if not segment.wild:
                return value.get(segment.name, MISSING)
            pattern = _wild(segment.name)
            return next((v for k, v in value.items() if pattern.fullmatch(k)), MISSING)
        return value.get("#", MISSING) if isinstance(segment, _Count) else MISSING
    if isinstance(segment, _Count):
        return len(value)
    if isinstance(segment, _Query):
        matches = [item for item in value if _matches(segment, item)]
        return matches if segment.all else (matches[0] if matches else MISSING)
    name = segment.name
    if segment.wild or not name.isascii() or not name.isdigit():
        return MISSING
    return value[int(name)] if int(name) < len(value) else MISSING


def _each(items: list[Any], segment: _Count | _Query, rest: _Path) -> Any:
    """``#.rest`` and ``#(...).rest``: gjson applies ``rest`` up to its first ``|`` to each
    (or the first) match, and what follows that ``|`` to the result."""
    cut = next((k for k, (_, link) in enumerate(rest) if link == "|"), len(rest))
    left = rest[:cut] + ((rest[cut][0], ""),) if cut < len(rest) else rest
    right = rest[cut + 1 :]
    if isinstance(segment, _Count):
        out = [r for item in items if (r := _get(item, left)) is not MISSING]
        return _get(out, right) if right else out
    matched = [item for item in items if _matches(segment, item)]
    if segment.all:
        out = [r for item in matched if (r := _get(item, left)) is not MISSING]
        # gjson takes up the part after "|" only once something matched.
        return _get(out, right) if right and matched else out
    if not matched:
        return MISSING
    found = _get(matched[0], left)
    return _get(found, right) if right else found


def _matches(query: _Query, item: Any) -> bool:
    if isinstance(item, (dict, list)):
        if query.path is not None:
            found = _get(item, query.path)
        else:
            found = item.get("", MISSING) if isinstance(item, dict) else MISSING
    elif query.path is not None:
        return False
    else:
        found = item
    op, value = query.op, query.value
    if value.startswith("~"):  # compare what the value means as a boolean
        value, found = value[1:], _truthy(found)
    if found is MISSING:
        return False
    if not op:
        return True
    if isinstance(found, bool):
        if found:
            return {"=": value == "true", "!=": value != "true", ">": value == "false"}.get(
                op, op == ">="
            )
        return {"=": value == "false", "!=": value != "false", "<": value == "true"}.get(
            op, op == "<="
        )
    if isinstance(found, str):
        if op in ("%", "!%"):
            return (_wild(_glob(value)).fullmatch(found) is not None) == (op == "%")
        return _compare(found, op, value)
    if isinstance(found, (int, float)):
        return _compare(float(found), op, _go_float(value))
    return False  # null, objects and arrays compare with nothing


def _compare(a: Any, op: str, b: Any) -> bool:
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }.get(op, False)


def _truthy(value: Any) -> bool:
    """gjson's ``Result.Bool()``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() in ("1", "t", "true")
    if isinstance(value, (int, float)):
        return value != 0
    return False


def _go_float(text: str) -> float:
    """Go's ``strconv.ParseFloat``, with 0 for what it rejects (as gjson ignores the error)."""
    if not text.isascii() or "_" in text or text != text.strip():
        return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0


def _glob(pattern: str) -> str:
    """tidwall/match's ``*`` / ``?`` / ``\\`` pattern, as a regular expression."""
    out, k = [], 0
    while k < len(pattern):
        ch = pattern[k]
        if ch == "\\":
            if k + 1 == len(pattern):
                return r"(?!)"  # a trailing backslash matches nothing
            k += 1
            out.append(re.escape(pattern[k]))
        else:
            out.append({"*": ".*", "?": "."}.get(ch, re.escape(ch)))
        k += 1
    return "".join(out)


@lru_cache(maxsize=256)
def _wild(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


def _apply(value: Any, segment: _Modifier | _Select) -> Any:
    if isinstance(segment, _Select):
        return [r for path in segment.paths if (r := _get(value, path)) is not MISSING]
    name = segment.name
    if name == "reverse":
        if isinstance(value, list):
            return value[::-1]
        return dict(reversed(value.items())) if isinstance(value, dict) else value
    if name in ("keys", "values"):
        if value is MISSING:
            return []
        if isinstance(value, dict):
            return list(value) if name == "keys" else list(value.values())
        if name == "values":
            return value if isinstance(value, list) else [value]
        return [None] * (len(value) if isinstance(value, list) else 1)
    if name == "flatten" and isinstance(value, list):
        deep = isinstance(segment.arg, dict) and _truthy(segment.arg.get("deep"))
        return _flatten(value, deep)
    return value  # @this, @valid, and @flatten of what is not an array


def _flatten(items: list[Any], deep: bool) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list):
            out.extend(_flatten(item, deep) if deep else item)
        else:
            out.append(item)
    return out
