"""A YAML reader that remembers where every value came from.

netpilot's files (intents, the controller config, the inventory) are read with
``yaml.compose`` under the safe loader, so each node keeps its line and column, and a
mistake is reported as ``FILE:LINE:COLUMN: field: what is wrong``. Pure: it turns text into
:class:`Node` trees and never touches the filesystem.

Anchors and aliases are refused outright: an alias expands to a shared subtree, which is how
"billion laughs" documents blow up, and intent files have no need for them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from controller.errors import IntentValidationError, SourceLocation

MAX_DOCUMENT_BYTES = 1 << 20  # 1 MiB: intent files are small; a huge one is a mistake or an attack
# PyYAML's scanner is quadratic in the depth of flow collections ("[[[[..." of 20 kB takes
# 50 s to refuse), so deep flow nesting is refused by a linear scan before PyYAML sees it.
MAX_FLOW_DEPTH = 64
# libyaml's parser, when PyYAML was built with it: 5-25x faster on large files, same nodes
# and marks; the safe resolver and composer are PyYAML's either way
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML node with its location and its dotted field path."""

    raw: yaml.Node
    file: str
    field: str

    @property
    def location(self) -> SourceLocation:
        mark = self.raw.start_mark
        return SourceLocation(self.file, mark.line + 1, mark.column + 1)

    def error(self, message: str, *, expected: str = "", hint: str = "") -> IntentValidationError:
        """An error located at this node."""
        return IntentValidationError(
            self.location, self.field, message, expected=expected, hint=hint
        )

    def child_field(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.field}[{key}]"
        return f"{self.field}.{key}" if self.field else key

    # ------------------------------------------------------------------ typed accessors

    def mapping(self, *, required: tuple[str, ...] = (), allowed: tuple[str, ...] = ()) -> Mapping:
        """This node as a mapping with known keys.

        Args:
            required: keys that must be present.
            allowed: every key that may be present (``required`` is added); empty allows any.

        Raises:
            IntentValidationError: not a mapping, a missing or an unknown key.
        """
        if not isinstance(self.raw, yaml.MappingNode):
            raise self.error(
                f"must be a mapping, not {_kind(self.raw)}", expected="key: value pairs"
            )
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in self.raw.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise Node(key_node, self.file, self.field).error("keys must be plain strings")
            key = str(key_node.value)
            key_wrapped = Node(key_node, self.file, self.child_field(key))
            if key in entries:
                raise key_wrapped.error("duplicate key", hint="remove one of the two")
            if allowed and key not in allowed and key not in required:
                known = ", ".join(sorted(set(allowed) | set(required)))
                raise key_wrapped.error(
                    f"unknown field {key!r}",
                    expected=f"one of: {known}",
                    hint=did_you_mean(key, (*allowed, *required)),
                )
            entries[key] = (key_wrapped, Node(value_node, self.file, self.child_field(key)))
        for key in required:
            if key not in entries:
                raise self.error(f"missing required field {key!r}")
        return Mapping(self, entries)

    def sequence(self) -> list[Node]:
        """This node as a list of nodes."""
        if not isinstance(self.raw, yaml.SequenceNode):
            raise self.error(f"must be a list, not {_kind(self.raw)}", expected="a YAML list")
        return [Node(item, self.file, self.child_field(i)) for i, item in enumerate(self.raw.value)]

    def _scalar(self) -> yaml.ScalarNode:
        if not isinstance(self.raw, yaml.ScalarNode):
            raise self.error(f"must be a single value, not {_kind(self.raw)}")
        return self.raw

    def string(self, *, max_length: int = 253) -> str:
        """A non-empty string (YAML ``null`` and numbers are refused)."""
        raw = self._scalar()
        if raw.tag != "tag:yaml.org,2002:str" or raw.value == "":
            raise self.error(f"must be a non-empty string, got {raw.value!r}", expected="a string")
        if len(raw.value) > max_length:
            raise self.error(f"is longer than {max_length} characters")
        return str(raw.value)

    def number(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        """A finite number within bounds."""
        raw = self._scalar()
        if raw.tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            raise self.error(
                f"must be a number, got {_clip(raw.value)!r}",
                expected="a number",
                hint=_number_hint(str(raw.value)),
            )
        try:
            value = float(str(raw.value).replace("_", ""))
        except (ValueError, OverflowError) as exc:
            raise self.error(f"is not a usable number: {raw.value!r}") from exc
        if not math.isfinite(value):
            raise self.error(f"must be finite, got {_clip(raw.value)!r}")
        _check_bounds(self, value, minimum, maximum)
        return value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer within bounds."""
        raw = self._scalar()
        if raw.tag != "tag:yaml.org,2002:int":
            raise self.error(f"must be an integer, got {raw.value!r}", expected="an integer")
        text = str(raw.value).replace("_", "")
        if len(text) > 30:
            raise self.error(f"is too large: {_clip(text)}")
        try:
            value = int(text, 0)
        except ValueError as exc:
            raise self.error(f"is not a usable integer: {raw.value!r}") from exc
        _check_bounds(self, value, minimum, maximum)
        return value

    def boolean(self) -> bool:
        """``true`` or ``false``."""
        raw = self._scalar()
        if raw.tag != "tag:yaml.org,2002:bool":
            raise self.error(f"must be true or false, got {raw.value!r}", expected="true or false")
        return str(raw.value).lower() in ("true", "yes", "on")

    def choice(self, options: tuple[str, ...]) -> str:
        """A string that must be one of ``options``."""
        value = self.string()
        if value not in options:
            raise self.error(
                f"unknown value {value!r}",
                expected=f"one of: {', '.join(options)}",
                hint=did_you_mean(value, options),
            )
        return value

    def string_map(self) -> dict[str, str]:
        """A mapping of string keys to string values (labels, selectors)."""
        result: dict[str, str] = {}
        for key, (_, value) in self.mapping().entries.items():
            result[key] = value.string()
        return result


@dataclass(frozen=True, slots=True)
class Mapping:
    """A checked mapping node: ``get`` returns the value node of a key, if present."""

    node: Node
    entries: dict[str, tuple[Node, Node]]

    def get(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def __getitem__(self, key: str) -> Node:
        return self.entries[key][1]

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def key_node(self, key: str) -> Node:
        return self.entries[key][0]


def _check_bounds(node: Node, value: float, minimum: float | None, maximum: float | None) -> None:
    # the value is echoed as written (1e23 stays 1e23, 100_000 stays 100_000)
    written = _clip(getattr(node.raw, "value", value))
    if minimum is not None and value < minimum:
        raise node.error(f"must be at least {minimum:g}, got {written}")
    if maximum is not None and value > maximum:
        raise node.error(f"must be at most {maximum:g}, got {written}")


def _clip(value: object, limit: int = 40) -> str:
    """A value as shown in a message: long values are cut (a 1 MiB number helps no one)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _number_hint(text: str) -> str:
    try:
        float(text)
    except ValueError:
        return ""
    # YAML 1.1 reads 1e3 (no dot) as text; PyYAML follows it
    return "YAML reads this as text: write it with a dot (1.0e+3) or in full (1000)"


def _kind(raw: yaml.Node) -> str:
    if isinstance(raw, yaml.MappingNode):
        return "a mapping"
    if isinstance(raw, yaml.SequenceNode):
        return "a list"
    return f"the value {raw.value!r}"


def did_you_mean(value: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def parse_documents(text: str | bytes, file: str) -> Iterator[Node]:
    """Parse every YAML document of a file into located nodes.

    Raises:
        IntentValidationError: the text is not UTF-8, too large, not YAML, or uses aliases.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise IntentValidationError(
            SourceLocation(file, 1, 1), "", f"file is larger than {MAX_DOCUMENT_BYTES} bytes"
        )
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise IntentValidationError(
                SourceLocation(file, line, 1), "", "file is not valid UTF-8"
            ) from exc
    try:
        _refuse_deep_flow(text, file)
        _refuse_aliases(text, file)
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        line, column = _clamp(text, line, column)
        raise IntentValidationError(
            SourceLocation(file, line, column),
            "",
            f"YAML syntax error: {exc.problem}",
            hint=_syntax_hint(str(exc.problem or ""), text, line, column),
        ) from exc
    except yaml.YAMLError as exc:
        raise IntentValidationError(SourceLocation(file, 1, 1), "", f"YAML error: {exc}") from exc
    except RecursionError as exc:  # PyYAML's composer recurses once per nesting level
        raise IntentValidationError(
            SourceLocation(file, 1, 1), "", "YAML is nested too deeply"
        ) from exc
    for document in documents:
        if document is not None:
            yield Node(document, file, "")


def _syntax_hint(problem: str, text: str, line: int, column: int) -> str:
    """How to fix a YAML syntax error that the parser words for its own readers."""
    lines = text.split("\n")
    at = lines[line - 1][column - 1 : column] if 0 < line <= len(lines) else ""
    if "\t" in problem or (at == "\t" and "cannot start any token" in problem):
        return "tabs are not allowed for indentation in YAML: indent with spaces"
    return ""


def _clamp(text: str, line: int, column: int) -> tuple[int, int]:
    """A position inside the text: libyaml reports a missing end one line past the last."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if line > len(lines) and lines:
        return len(lines), len(lines[-1]) + 1
    return line, column


def _refuse_deep_flow(text: str, file: str) -> None:
    """Refuse flow collections (``[``/``{``) nested deeper than :data:`MAX_FLOW_DEPTH`.

    Quoted scalars and comments are skipped; a bracket inside a plain scalar may be counted,
    which only errs on the safe side far beyond any real intent file's depth.
    """
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return  # the common case: too few brackets to be too deep
    depth = 0
    for index, line, char in _flow_brackets(text):
        if char in "]}":
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > MAX_FLOW_DEPTH:
            column = index - text.rfind("\n", 0, index)
            raise IntentValidationError(
                SourceLocation(file, line, column),
                "",
                f"YAML is nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ or {{)",
            )


def _flow_brackets(text: str) -> Iterator[tuple[int, int, str]]:
    """Every ``[]{}`` outside quoted scalars and comments, with its index and line."""
    line = 1
    quote = ""
    escaped = comment = False
    previous = " "
    for index, char in enumerate(text):
        if char == "\n":
            line += 1
            comment = False
        if comment:
            pass
        elif quote:
            quote, escaped = _quoted(quote, escaped, char)
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char == "#" and previous in " \t\n":
            comment = True
        elif char in "[]{}":
            yield index, line, char
        previous = char


def _quoted(quote: str, escaped: bool, char: str) -> tuple[str, bool]:
    """The quote still open after ``char``, and whether the next character is escaped."""
    if escaped:
        return quote, False
    if quote == '"' and char == "\\":
        return quote, True
    return ("" if char == quote else quote), False


def _refuse_aliases(text: str, file: str) -> None:
    # Scanning the event stream finds an alias before anything is built from it, and its
    # mark is where the alias is written (a composed alias node carries its anchor's mark).
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise IntentValidationError(
                SourceLocation(file, line, column),
                "",
                "YAML anchors and aliases are not allowed",
                hint="write the values out in full",
            )
