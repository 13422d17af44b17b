"""A parser for the subset of YANG (RFC 7950) that the lab's ``netpilot-lab`` module uses.

The lab validates every configuration it receives against the same ``.yang`` file that the
interop tests load into Debian's netconfd, so the file is the single source of truth. This
module turns it into an immutable schema tree that the datastore code walks:

- a generic statement tokenizer (``keyword [argument] (";" | "{" substatements "}")``, both
  quoting styles, ``+`` concatenation, comments);
- containers, lists with keys, leaves; typedefs; the types ``string`` (length),
  ``boolean``, ``int8``..``uint64`` (range), ``decimal64`` (fraction-digits, range),
  ``enumeration`` and ``leafref`` (path); ``default``, ``mandatory``, ``units``,
  ``config false``; ``must`` with ``error-message``/``error-app-tag``.

Anything else fails loudly with a :class:`YangError` naming the line, unless it is purely
descriptive (``description``, ``reference``, ...). ``must`` expressions are not evaluated
by an XPath engine: each expression the module uses is mapped to a Python predicate in
:data:`MUST_PREDICATES`, and loading a module with an expression the registry does not know
fails, so the ``.yang`` file and the lab can never silently diverge.

Parse the module once (:func:`load_lab_schema`) and share the result: the schema is
immutable and safe to use from any number of emulated devices.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from types import MappingProxyType

LAB_MODULE_PACKAGE = "lab.yang"
LAB_MODULE_FILE = "netpilot-lab.yang"

# Statements that only document the model: accepted anywhere and ignored.
_DESCRIPTIVE = frozenset({"description", "reference", "contact", "organization"})


class YangError(Exception):
    """The YANG text is invalid or uses a construct this parser does not support."""


# --------------------------------------------------------------------------------------
# Statement tokenizer and parser
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One YANG statement: ``keyword [argument] (; | { substatements })``.

    Attributes:
        keyword: the statement keyword, e.g. ``leaf``.
        argument: the argument with quoting and concatenation resolved, or None.
        substatements: the nested statements in source order.
        line: 1-based line of the keyword in the source.
    """

    keyword: str
    argument: str | None
    substatements: tuple[Statement, ...]
    line: int

    def find(self, keyword: str) -> Statement | None:
        """The first substatement with ``keyword``, or None."""
        for sub in self.substatements:
            if sub.keyword == keyword:
                return sub
        return None

    def find_all(self, keyword: str) -> Iterator[Statement]:
        """Every substatement with ``keyword``, in source order."""
        return (sub for sub in self.substatements if sub.keyword == keyword)


class _TokenKind(StrEnum):
    WORD = "word"
    STRING = "string"
    SEMICOLON = ";"
    OPEN = "{"
    CLOSE = "}"
    PLUS = "+"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    text: str
    line: int


_UNQUOTED_END = frozenset(" \t\r\n;{}\"'")


class _Tokenizer:
    """Splits YANG text into tokens (RFC 7950 §6.1)."""

    def __init__(self, text: str, source: str) -> None:
        self._text = text
        self._source = source
        self._pos = 0
        self._line = 1

    def error(self, message: str, line: int | None = None) -> YangError:
        return YangError(f"{self._source}:{line or self._line}: {message}")

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        text = self._text
        while True:
            self._skip_blanks_and_comments()
            if self._pos >= len(text):
                return out
            char = text[self._pos]
            line = self._line
            if char in ";{}":
                out.append(_Token(_TokenKind(char), char, line))
                self._pos += 1
            elif char == '"':
                out.append(_Token(_TokenKind.STRING, self._double_quoted(), line))
            elif char == "'":
                out.append(_Token(_TokenKind.STRING, self._single_quoted(), line))
            elif char == "+" and (self._pos + 1 >= len(text) or text[self._pos + 1] in " \t\r\n"):
                out.append(_Token(_TokenKind.PLUS, "+", line))
                self._pos += 1
            else:
                out.append(_Token(_TokenKind.WORD, self._unquoted(), line))

    def _skip_blanks_and_comments(self) -> None:
        text = self._text
        while self._pos < len(text):
            char = text[self._pos]
            if char in " \t\r\n":
                if char == "\n":
                    self._line += 1
                self._pos += 1
            elif text.startswith("//", self._pos):
                end = text.find("\n", self._pos)
                self._pos = len(text) if end < 0 else end
            elif text.startswith("/*", self._pos):
                end = text.find("*/", self._pos + 2)
                if end < 0:
                    raise self.error("unterminated /* comment")
                self._line += text.count("\n", self._pos, end)
                self._pos = end + 2
            else:
                return

    def _unquoted(self) -> str:
        text = self._text
        start = self._pos
        while self._pos < len(text) and text[self._pos] not in _UNQUOTED_END:
            if text.startswith(("//", "/*", "*/"), self._pos):
                break
            self._pos += 1
        return text[start : self._pos]

    def _single_quoted(self) -> str:
        end = self._text.find("'", self._pos + 1)
        if end < 0:
            raise self.error("unterminated single-quoted string")
        value = self._text[self._pos + 1 : end]
        self._line += value.count("\n")
        self._pos = end + 1
        return value

    def _double_quoted(self) -> str:
        text = self._text
        quote_column = self._pos - (text.rfind("\n", 0, self._pos) + 1)
        start_line = self._line
        self._pos += 1
        chars: list[str] = []
        while True:
            if self._pos >= len(text):
                raise self.error("unterminated double-quoted string", start_line)
            char = text[self._pos]
            if char == '"':
                self._pos += 1
                break
            if char == "\\":
                escaped = text[self._pos + 1 : self._pos + 2]
                mapped = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(escaped)
                if mapped is None:
                    raise self.error(f"invalid escape \\{escaped} in double-quoted string")
                chars.append(mapped)
                self._pos += 2
                continue
            if char == "\n":
                self._line += 1
            chars.append(char)
            self._pos += 1
        return _trim_double_quoted("".join(chars), quote_column)


def _trim_double_quoted(value: str, quote_column: int) -> str:
    """Strip layout whitespace from a multi-line double-quoted string (RFC 7950 §6.1.3)."""
    lines = value.split("\n")
    if len(lines) == 1:
        return value
    trimmed = [lines[0].rstrip(" \t")]
    for line in lines[1:]:
        expanded = line.replace("\t", " " * 8)
        cut = 0
        while cut < len(expanded) and cut <= quote_column and expanded[cut] == " ":
            cut += 1
        trimmed.append(expanded[cut:])
    # trailing whitespace before each line break goes; the last line keeps its own
    return "\n".join([*(part.rstrip(" \t") for part in trimmed[:-1]), trimmed[-1]])


class _StatementParser:
    def __init__(self, tokens: list[_Token], tokenizer: _Tokenizer) -> None:
        self._tokens = tokens
        self._tokenizer = tokenizer
        self._pos = 0

    def parse_single(self) -> Statement:
        statement = self._statement()
        if self._pos != len(self._tokens):
            token = self._tokens[self._pos]
            raise self._tokenizer.error(f"unexpected {token.text!r} after the module", token.line)
        return statement

    def _peek(self) -> _Token | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _next(self, what: str) -> _Token:
        token = self._peek()
        if token is None:
            raise self._tokenizer.error(f"unexpected end of input, expected {what}")
        self._pos += 1
        return token

    def _statement(self) -> Statement:
        keyword = self._next("a statement keyword")
        if keyword.kind is not _TokenKind.WORD:
            raise self._tokenizer.error(
                f"expected a statement keyword, found {keyword.text!r}", keyword.line
            )
        argument = self._argument()
        end = self._next("';' or '{'")
        if end.kind is _TokenKind.SEMICOLON:
            return Statement(keyword.text, argument, (), keyword.line)
        if end.kind is not _TokenKind.OPEN:
            raise self._tokenizer.error(f"expected ';' or '{{', found {end.text!r}", end.line)
        subs: list[Statement] = []
        while True:
            token = self._peek()
            if token is None:
                raise self._tokenizer.error(f"'{keyword.text}' block is never closed", keyword.line)
            if token.kind is _TokenKind.CLOSE:
                self._pos += 1
                return Statement(keyword.text, argument, tuple(subs), keyword.line)
            subs.append(self._statement())

    def _argument(self) -> str | None:
        token = self._peek()
        if token is None or token.kind not in (_TokenKind.WORD, _TokenKind.STRING):
            return None
        self._pos += 1
        if token.kind is _TokenKind.WORD:
            return token.text
        parts = [token.text]
        while (plus := self._peek()) is not None and plus.kind is _TokenKind.PLUS:
            self._pos += 1
            following = self._next("a quoted string after '+'")
            if following.kind is not _TokenKind.STRING:
                raise self._tokenizer.error("'+' must join two quoted strings", following.line)
            parts.append(following.text)
        return "".join(parts)


def parse_statements(text: str, source: str = "<string>") -> Statement:
    """Parse YANG text holding exactly one top-level statement (the module).

    Args:
        text: the YANG source.
        source: a name for error messages (file name).

    Returns:
        The top-level statement with its substatements.

    Raises:
        YangError: on a syntax error.
    """
    tokenizer = _Tokenizer(text, source)
    return _StatementParser(tokenizer.tokens(), tokenizer).parse_single()


# --------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------


class BaseType(StrEnum):
    """The YANG built-in types this parser supports."""

    STRING = "string"
    BOOLEAN = "boolean"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    DECIMAL64 = "decimal64"
    ENUMERATION = "enumeration"
    LEAFREF = "leafref"


_INTEGER_BOUNDS: Mapping[BaseType, tuple[int, int]] = MappingProxyType(
    {
        BaseType.INT8: (-(2**7), 2**7 - 1),
        BaseType.INT16: (-(2**15), 2**15 - 1),
        BaseType.INT32: (-(2**31), 2**31 - 1),
        BaseType.INT64: (-(2**63), 2**63 - 1),
        BaseType.UINT8: (0, 2**8 - 1),
        BaseType.UINT16: (0, 2**16 - 1),
        BaseType.UINT32: (0, 2**32 - 1),
        BaseType.UINT64: (0, 2**64 - 1),
    }
)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")

Number = int | Decimal


@dataclass(frozen=True, slots=True)
class Restriction:
    """A ``range`` or ``length`` restriction: a union of closed intervals.

    Attributes:
        intervals: (low, high) pairs; a value is allowed if it lies in any of them.
        text: the restriction as written in the module, for error messages.
        error_message: the ``error-message`` substatement, if any.
        error_app_tag: the ``error-app-tag`` substatement, if any.
    """

    intervals: tuple[tuple[Number, Number], ...]
    text: str
    error_message: str | None = None
    error_app_tag: str | None = None

    def allows(self, value: Number) -> bool:
        """Whether ``value`` lies in one of the intervals."""
        return any(low <= value <= high for low, high in self.intervals)


class InvalidValueError(ValueError):
    """A leaf value does not match its type.

    Attributes:
        message: what is wrong, for ``error-message``.
        app_tag: the ``error-app-tag`` the module asks for, if any.
    """

    def __init__(self, message: str, app_tag: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.app_tag = app_tag


@dataclass(frozen=True, slots=True)
class LeafrefPath:
    """A resolved leafref ``path``.

    Attributes:
        text: the path as written.
        up: number of leading ``..`` steps (0 for an absolute path).
        steps: Clark-notation tags (``{namespace}name``) to descend after going up, or
            from the root for an absolute path.
    """

    text: str
    up: int
    steps: tuple[str, ...]

    @property
    def absolute(self) -> bool:
        """Whether the path starts at the datastore root."""
        return self.up == 0


@dataclass(frozen=True, slots=True)
class LeafType:
    """A leaf's type after typedef resolution.

    Attributes:
        base: the built-in type at the bottom of the typedef chain.
        name: the type name as written at the leaf (a typedef name or a built-in).
        range: the effective ``range`` restriction (numeric types).
        length: the effective ``length`` restriction (strings).
        fraction_digits: ``fraction-digits`` of a decimal64.
        enums: the allowed names of an enumeration.
        leafref: the path of a leafref.
        leafref_target: the type of the leaf a leafref points at.
        units: ``units`` inherited from a typedef.
        default: ``default`` inherited from a typedef (canonical form).
    """

    base: BaseType
    name: str
    range: Restriction | None = None
    length: Restriction | None = None
    fraction_digits: int | None = None
    enums: tuple[str, ...] = ()
    leafref: LeafrefPath | None = None
    leafref_target: LeafType | None = None
    units: str | None = None
    default: str | None = None

    def canonical(self, text: str) -> str:
        """Check a value against the type and return its canonical form.

        Args:
            text: the value as received in XML (surrounding whitespace is ignored for
                every type but string).

        Returns:
            The canonical lexical form (RFC 7950 §9): no leading zeros or ``+`` for
            numbers, the string itself for strings.

        Raises:
            InvalidValueError: the value does not match the type.
        """
        base = self.base
        if base is BaseType.STRING:
            return self._check_string(text)
        if base is BaseType.LEAFREF:
            if self.leafref_target is None:  # pragma: no cover - set by the loader
                raise InvalidValueError("leafref without a resolved target type")
            return self.leafref_target.canonical(text)
        value = text.strip()
        if base is BaseType.BOOLEAN:
            if value not in ("true", "false"):
                raise InvalidValueError(f"'{value}' is not a boolean (true or false)")
            return value
        if base is BaseType.ENUMERATION:
            if value not in self.enums:
                raise InvalidValueError(
                    f"'{value}' is not one of {', '.join(self.enums)}", "not-in-value-set"
                )
            return value
        if base is BaseType.DECIMAL64:
            return self._check_decimal(value)
        return self._check_integer(value)

    def _check_string(self, text: str) -> str:
        if self.length is not None and not self.length.allows(len(text)):
            raise InvalidValueError(
                self.length.error_message
                or f"length {len(text)} of '{text}' is not in {self.length.text}",
                self.length.error_app_tag,
            )
        return text

    def _check_integer(self, value: str) -> str:
        if not _INTEGER_RE.fullmatch(value):
            raise InvalidValueError(f"'{value}' is not an integer ({self.base.value})")
        number = int(value)
        low, high = _INTEGER_BOUNDS[self.base]
        if not low <= number <= high:
            raise InvalidValueError(f"{number} is out of the {self.base.value} range")
        self._check_range(number, value)
        return str(number)

    def _check_decimal(self, value: str) -> str:
        digits = self.fraction_digits or 1
        if not _DECIMAL_RE.fullmatch(value):
            raise InvalidValueError(f"'{value}' is not a decimal number")
        _, _, fraction = value.partition(".")
        if len(fraction) > digits:
            raise InvalidValueError(f"'{value}' has more than {digits} fraction digits")
        number = Decimal(value)
        low, high = _decimal64_bounds(digits)
        if not low <= number <= high:
            raise InvalidValueError(f"{value} is out of the decimal64 range")
        self._check_range(number, value)
        return _canonical_decimal(number)

    def _check_range(self, number: Number, value: str) -> None:
        if self.range is not None and not self.range.allows(number):
            raise InvalidValueError(
                self.range.error_message or f"{value} is not in range {self.range.text}",
                self.range.error_app_tag,
            )


def _decimal64_bounds(fraction_digits: int) -> tuple[Decimal, Decimal]:
    scale = Decimal(10) ** fraction_digits
    return Decimal(-(2**63)) / scale, Decimal(2**63 - 1) / scale


def _canonical_decimal(number: Decimal) -> str:
    """RFC 7950 §9.3.2: no leading/trailing zeros, one digit either side of the point."""
    text = format(number, "f")
    if "." not in text:
        text += ".0"
    integer, fraction = text.split(".")
    fraction = fraction.rstrip("0") or "0"
    sign = "-" if integer.startswith("-") else ""
    integer = integer.lstrip("-").lstrip("0") or "0"
    if sign and integer == "0" and fraction == "0":
        sign = ""
    return f"{sign}{integer}.{fraction}"


# --------------------------------------------------------------------------------------
# Data nodes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MustContext:
    """What a ``must`` predicate sees: its context node and the node's parent.

    Attributes:
        node: the data node the ``must`` is attached to (e.g. one list entry).
        parent: the parent of ``node`` in the datastore (``..`` in XPath).
        schema: the schema node of ``node``.
    """

    node: ET.Element
    parent: ET.Element
    schema: DataNode

    def leaf(self, element: ET.Element, name: str) -> str | None:
        """The value of leaf ``name`` under ``element``, with the schema default applied.

        ``element`` must be an instance of :attr:`schema` (the context node or one of its
        siblings of the same list), as XPath sees defaults in the accessible tree.
        """
        leaf_schema = self.schema.children.get(_clark(self.schema.namespace, name))
        if not isinstance(leaf_schema, Leaf):
            raise KeyError(f"'{name}' is not a leaf of '{self.schema.name}'")
        node = element.find(leaf_schema.tag)
        if node is not None:
            return (node.text or "").strip()
        return leaf_schema.effective_default


MustPredicate = Callable[[MustContext], bool]


@dataclass(frozen=True, slots=True)
class Must:
    """A ``must`` statement and the predicate that implements it.

    Attributes:
        expression: the XPath expression as written in the module.
        predicate: the registered Python implementation; True means the constraint holds.
        error_message: the ``error-message`` substatement, if any.
        error_app_tag: the ``error-app-tag`` substatement (RFC 7950 default:
            ``must-violation``).
    """

    expression: str
    predicate: MustPredicate
    error_message: str | None = None
    error_app_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Leaf:
    """A ``leaf``.

    Attributes:
        name: the node name.
        namespace: the module namespace.
        type: the resolved type.
        config: False under ``config false``.
        default: the leaf's own ``default`` (canonical), if any.
        mandatory: ``mandatory true``.
        units: the ``units`` of the leaf or its typedef.
        musts: ``must`` statements on the leaf.
    """

    name: str
    namespace: str
    type: LeafType
    config: bool = True
    default: str | None = None
    mandatory: bool = False
    units: str | None = None
    musts: tuple[Must, ...] = ()

    @property
    def tag(self) -> str:
        """The Clark-notation XML tag, ``{namespace}name``."""
        return _clark(self.namespace, self.name)

    @property
    def effective_default(self) -> str | None:
        """The leaf default, else the typedef default (RFC 7950 §7.6.1)."""
        return self.default if self.default is not None else self.type.default

    @property
    def children(self) -> Mapping[str, DataNode]:
        """A leaf has no children (uniform access for tree walkers)."""
        return _NO_CHILDREN


@dataclass(frozen=True, slots=True)
class Container:
    """A (non-presence) ``container``.

    Attributes:
        name: the node name.
        namespace: the module namespace.
        children: child nodes by Clark tag, in schema order.
        config: False under ``config false``.
        musts: ``must`` statements on the container.
    """

    name: str
    namespace: str
    children: Mapping[str, DataNode]
    config: bool = True
    musts: tuple[Must, ...] = ()

    @property
    def tag(self) -> str:
        """The Clark-notation XML tag, ``{namespace}name``."""
        return _clark(self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class ListNode:
    """A ``list`` (``ordered-by system``).

    Attributes:
        name: the node name.
        namespace: the module namespace.
        keys: the key leaf names, in ``key`` statement order.
        children: child nodes by Clark tag, in schema order (keys included).
        config: False under ``config false``.
        musts: ``must`` statements evaluated for every entry.
    """

    name: str
    namespace: str
    keys: tuple[str, ...]
    children: Mapping[str, DataNode]
    config: bool = True
    musts: tuple[Must, ...] = ()

    @property
    def tag(self) -> str:
        """The Clark-notation XML tag, ``{namespace}name``."""
        return _clark(self.namespace, self.name)

    @property
    def key_tags(self) -> tuple[str, ...]:
        """Clark tags of the key leaves, in key order."""
        return tuple(_clark(self.namespace, key) for key in self.keys)


DataNode = Container | ListNode | Leaf

_NO_CHILDREN: Mapping[str, DataNode] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Schema:
    """A loaded YANG module.

    Attributes:
        module: the module name.
        namespace: the module namespace URI.
        prefix: the module prefix (used in ``error-path`` XPaths).
        revision: the most recent ``revision`` date, or None.
        children: top-level data nodes by Clark tag, in schema order.
        typedefs: the module's typedefs by name.
        notifications: the module's ``notification`` statements by name, each as a
            state-only (config false) container of its data nodes.
    """

    module: str
    namespace: str
    prefix: str
    revision: str | None
    children: Mapping[str, DataNode]
    typedefs: Mapping[str, LeafType] = field(default_factory=dict)
    notifications: Mapping[str, Container] = field(default_factory=dict)

    @property
    def capability(self) -> str:
        """The module's NETCONF capability URI for ``<hello>`` (RFC 6020 §5.6.4)."""
        uri = f"{self.namespace}?module={self.module}"
        return f"{uri}&revision={self.revision}" if self.revision else uri

    def walk(self) -> Iterator[DataNode]:
        """Every data node, depth first in schema order."""
        stack = list(reversed(list(self.children.values())))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(list(node.children.values())))


def _clark(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


# --------------------------------------------------------------------------------------
# The must registry
# --------------------------------------------------------------------------------------


def _priority_seven_is_exclusive(ctx: MustContext) -> bool:
    """``priority < 7 or count(../class[priority = 7]) = 1`` on a ``/qos/class`` entry."""
    priority = _as_number(ctx.leaf(ctx.node, "priority"))
    if priority is not None and priority < 7:
        return True
    siblings = (entry for entry in ctx.parent if entry.tag == ctx.node.tag)
    return sum(1 for entry in siblings if _as_number(ctx.leaf(entry, "priority")) == 7) == 1


def _as_number(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


def _min_rate_not_above_max(ctx: MustContext) -> bool:
    """``not(../max-rate-mbps) or . <= ../max-rate-mbps`` on a subscriber's min-rate leaf."""
    maximum = ctx.parent.find(_clark(ctx.schema.namespace, "max-rate-mbps"))
    if maximum is None:
        return True
    low, high = _as_number(ctx.node.text), _as_number(maximum.text)
    return low is None or high is None or low <= high


MUST_PREDICATES: Mapping[str, MustPredicate] = MappingProxyType(
    {
        "priority < 7 or count(../class[priority = 7]) = 1": _priority_seven_is_exclusive,
        "not(../max-rate-mbps) or . <= ../max-rate-mbps": _min_rate_not_above_max,
    }
)
"""Exact ``must`` expression text -> its Python implementation."""


# --------------------------------------------------------------------------------------
# Schema builder
# --------------------------------------------------------------------------------------

_TYPE_SUBSTATEMENTS = frozenset({"length", "range", "fraction-digits", "enum", "path"})


class _Builder:
    """Turns the module statement into a :class:`Schema`."""

    def __init__(self, module: Statement, source: str, musts: Mapping[str, MustPredicate]) -> None:
        self._module = module
        self._source = source
        self._musts = musts
        self._namespace = ""
        self._prefix = ""
        self._typedef_statements: dict[str, Statement] = {}
        self._typedefs: dict[str, LeafType] = {}
        self._resolving: set[str] = set()

    def error(self, statement: Statement, message: str) -> YangError:
        return YangError(f"{self._source}:{statement.line}: {message}")

    def build(self) -> Schema:
        module = self._module
        if module.keyword != "module":
            raise self.error(module, f"expected 'module', found '{module.keyword}'")
        name = self._required_argument(module)
        namespace = self._single(module, "namespace")
        prefix = self._single(module, "prefix")
        if namespace is None or prefix is None:
            raise self.error(module, "a module needs 'namespace' and 'prefix'")
        self._namespace = namespace
        self._prefix = prefix
        revisions: list[str] = []
        data: list[Statement] = []
        notifications: list[Statement] = []
        for sub in module.substatements:
            self._module_substatement(sub, revisions, data, notifications)
        for typedef_name in self._typedef_statements:
            self._typedef(typedef_name, module)
        children = self._children(data, parent_config=True, ancestry=())
        built: dict[str, Container] = {}
        for statement in notifications:
            node = self._notification(statement)
            if node.name in built:
                raise self.error(statement, f"duplicate notification '{node.name}'")
            built[node.name] = node
        return Schema(
            module=name,
            namespace=namespace,
            prefix=prefix,
            revision=max(revisions) if revisions else None,
            children=children,
            typedefs=MappingProxyType(dict(self._typedefs)),
            notifications=MappingProxyType(built),
        )

    def _notification(self, statement: Statement) -> Container:
        """A ``notification`` (RFC 7950 §7.16): its data nodes, as a state-only container."""
        self._only(statement, {"container", "list", "leaf"})
        name = self._required_argument(statement)
        child_statements = [
            sub for sub in statement.substatements if sub.keyword in ("container", "list", "leaf")
        ]
        children = self._children(child_statements, False, (statement,))
        return Container(name, self._namespace, children, False, ())

    def _module_substatement(
        self,
        sub: Statement,
        revisions: list[str],
        data: list[Statement],
        notifications: list[Statement],
    ) -> None:
        keyword = sub.keyword
        if keyword in _DESCRIPTIVE or keyword in ("namespace", "prefix"):
            return
        if keyword == "yang-version":
            if sub.argument not in ("1", "1.1"):
                raise self.error(sub, f"unsupported yang-version {sub.argument!r}")
        elif keyword == "revision":
            self._only(sub, set())
            revisions.append(self._required_argument(sub))
        elif keyword == "typedef":
            typedef_name = self._required_argument(sub)
            if typedef_name in self._typedef_statements:
                raise self.error(sub, f"duplicate typedef '{typedef_name}'")
            self._typedef_statements[typedef_name] = sub
        elif keyword in ("container", "list", "leaf"):
            data.append(sub)
        elif keyword == "notification":
            notifications.append(sub)
        else:
            raise self.error(sub, f"unsupported statement '{keyword}' in module")

    # -- helpers -------------------------------------------------------------------

    def _required_argument(self, statement: Statement) -> str:
        if statement.argument is None:
            raise self.error(statement, f"'{statement.keyword}' needs an argument")
        return statement.argument

    def _single(self, statement: Statement, keyword: str) -> str | None:
        found = list(statement.find_all(keyword))
        if len(found) > 1:
            raise self.error(found[1], f"'{keyword}' given more than once")
        return self._required_argument(found[0]) if found else None

    def _only(self, statement: Statement, allowed: set[str]) -> None:
        """Fail on any substatement that is neither allowed nor descriptive."""
        for sub in statement.substatements:
            if sub.keyword not in allowed and sub.keyword not in _DESCRIPTIVE:
                raise self.error(
                    sub, f"unsupported statement '{sub.keyword}' in '{statement.keyword}'"
                )

    def _local_name(self, statement: Statement, name: str) -> str:
        prefix, sep, local = name.rpartition(":")
        if sep and prefix != self._prefix:
            raise self.error(statement, f"unknown prefix '{prefix}' (imports are not supported)")
        return local

    # -- types -----------------------------------------------------------------------

    def _typedef(self, name: str, at: Statement) -> LeafType:
        resolved = self._typedefs.get(name)
        if resolved is not None:
            return resolved
        statement = self._typedef_statements.get(name)
        if statement is None:
            raise self.error(at, f"unknown type '{name}'")
        if name in self._resolving:
            raise self.error(statement, f"typedef '{name}' refers to itself")
        self._resolving.add(name)
        self._only(statement, {"type", "units", "default"})
        type_statement = statement.find("type")
        if type_statement is None:
            raise self.error(statement, f"typedef '{name}' has no 'type'")
        leaf_type = self._type(type_statement, ancestry=())
        units = self._single(statement, "units")
        default = self._single(statement, "default")
        leaf_type = replace(
            leaf_type,
            name=name,
            units=units if units is not None else leaf_type.units,
            default=self._canonical_default(statement, leaf_type, default)
            if default is not None
            else leaf_type.default,
        )
        self._resolving.discard(name)
        self._typedefs[name] = leaf_type
        return leaf_type

    def _type(self, statement: Statement, ancestry: tuple[Statement, ...]) -> LeafType:
        self._only(statement, set(_TYPE_SUBSTATEMENTS))
        name = self._local_name(statement, self._required_argument(statement))
        try:
            base = BaseType(name)
        except ValueError:
            base_type = self._typedef(name, statement)
            derived = True
        else:
            base_type = LeafType(base=base, name=name)
            derived = False
        result = self._restrict(statement, base_type, derived)
        if result.base is BaseType.DECIMAL64 and result.fraction_digits is None:
            raise self.error(statement, "decimal64 needs 'fraction-digits'")
        if result.base is BaseType.ENUMERATION and not result.enums:
            raise self.error(statement, "an enumeration needs at least one 'enum'")
        if result.base is BaseType.LEAFREF and result.leafref is None:
            raise self.error(statement, "a leafref needs a 'path'")
        if result.base is BaseType.LEAFREF and result.leafref_target is None:
            assert result.leafref is not None  # noqa: S101 - checked just above
            result = replace(
                result, leafref_target=self._leafref_target(statement, result.leafref, ancestry)
            )
        return result

    def _restrict(self, statement: Statement, base_type: LeafType, derived: bool) -> LeafType:
        result = base_type
        # fraction-digits first: the natural bounds of a decimal64 range depend on it
        ordered = sorted(statement.substatements, key=lambda sub: sub.keyword != "fraction-digits")
        for sub in ordered:
            if sub.keyword not in _DESCRIPTIVE:
                result = self._restriction_statement(sub, result, derived)
        return result

    def _restriction_statement(self, sub: Statement, result: LeafType, derived: bool) -> LeafType:
        """Apply one substatement of ``type`` to the type built so far."""
        keyword = sub.keyword
        base = result.base
        if keyword == "range":
            if base not in _INTEGER_BOUNDS and base is not BaseType.DECIMAL64:
                raise self.error(sub, f"'range' does not apply to {base.value}")
            return replace(result, range=self._restriction(sub, result, numeric=True))
        if keyword == "length":
            if base is not BaseType.STRING:
                raise self.error(sub, f"'length' does not apply to {base.value}")
            return replace(result, length=self._restriction(sub, result, numeric=False))
        if keyword == "fraction-digits":
            if base is not BaseType.DECIMAL64 or derived:
                raise self.error(sub, "'fraction-digits' only on the decimal64 built-in")
            digits = self._required_argument(sub)
            if not digits.isdigit() or not 1 <= int(digits) <= 18:
                raise self.error(sub, f"fraction-digits must be 1..18, not {digits!r}")
            return replace(result, fraction_digits=int(digits))
        if keyword == "enum":
            if base is not BaseType.ENUMERATION or derived:
                raise self.error(sub, "'enum' only on the enumeration built-in")
            self._only(sub, set())
            enum_name = self._required_argument(sub)
            if enum_name in result.enums:
                raise self.error(sub, f"duplicate enum '{enum_name}'")
            return replace(result, enums=(*result.enums, enum_name))
        # "path": _only() in _type() admits nothing else
        if base is not BaseType.LEAFREF or derived:
            raise self.error(sub, "'path' only on the leafref built-in")
        return replace(result, leafref=self._leafref_path(sub))

    def _restriction(
        self, statement: Statement, current: LeafType, *, numeric: bool
    ) -> Restriction:
        self._only(statement, {"error-message", "error-app-tag"})
        text = self._required_argument(statement)
        if numeric:
            low_bound, high_bound = self._natural_bounds(current)
            existing = current.range
        else:
            low_bound, high_bound = 0, 2**64 - 1
            existing = current.length
        if existing is not None:
            # "min"/"max" in a derived type mean the bounds of the restriction it narrows
            low_bound, high_bound = existing.intervals[0][0], existing.intervals[-1][1]
        intervals: list[tuple[Number, Number]] = []
        for part in text.split("|"):
            low_text, sep, high_text = part.partition("..")
            low = self._boundary(statement, low_text.strip(), current, low_bound, high_bound)
            high = (
                self._boundary(statement, high_text.strip(), current, low_bound, high_bound)
                if sep
                else low
            )
            if high < low or (intervals and low <= intervals[-1][1]):
                raise self.error(statement, f"intervals in '{text}' are not ascending")
            intervals.append((low, high))
        restriction = Restriction(
            tuple(intervals),
            text,
            self._single(statement, "error-message"),
            self._single(statement, "error-app-tag"),
        )
        allowed = existing.intervals if existing is not None else ((low_bound, high_bound),)
        if not all(
            any(lo <= low and high <= hi for lo, hi in allowed)
            for low, high in restriction.intervals
        ):
            base_text = existing.text if existing is not None else current.base.value
            raise self.error(statement, f"'{text}' does not narrow '{base_text}'")
        return restriction

    def _natural_bounds(self, current: LeafType) -> tuple[Number, Number]:
        if current.base is BaseType.DECIMAL64:
            return _decimal64_bounds(current.fraction_digits or 1)
        return _INTEGER_BOUNDS[current.base]

    def _boundary(
        self, statement: Statement, text: str, current: LeafType, low: Number, high: Number
    ) -> Number:
        if text == "min":
            return low
        if text == "max":
            return high
        try:
            if current.base is BaseType.DECIMAL64:
                return Decimal(text)
            if current.base is BaseType.STRING or _INTEGER_RE.fullmatch(text):
                return int(text)
        except (ValueError, InvalidOperation):
            pass
        raise self.error(statement, f"invalid boundary {text!r}")

    def _leafref_path(self, statement: Statement) -> LeafrefPath:
        self._only(statement, set())
        text = self._required_argument(statement).strip()
        if "[" in text or "(" in text:
            raise self.error(statement, f"leafref path predicates are not supported: {text!r}")
        parts = text.split("/")
        up = 0
        if text.startswith("/"):
            parts = parts[1:]
        else:
            while parts and parts[0] == "..":
                up += 1
                parts = parts[1:]
            if up == 0:
                raise self.error(statement, f"a relative leafref path must start with '..': {text}")
        if not parts or any(not part or part == ".." for part in parts):
            raise self.error(statement, f"invalid leafref path {text!r}")
        steps = tuple(_clark(self._namespace, self._local_name(statement, part)) for part in parts)
        return LeafrefPath(text, up, steps)

    def _leafref_target(
        self, statement: Statement, path: LeafrefPath, ancestry: tuple[Statement, ...]
    ) -> LeafType:
        """Find the leaf statement the path points at and build its type."""
        if path.absolute:
            scope: tuple[Statement, ...] = (self._module,)
        else:
            # one ".." from the leaf reaches its parent, the last statement of ancestry
            if path.up > len(ancestry) + 1:
                raise self.error(statement, f"leafref path {path.text!r} climbs above the root")
            scope = (self._module, *ancestry)[: len(ancestry) + 2 - path.up]
        current = scope[-1]
        target: Statement | None = None
        for index, step in enumerate(path.steps):
            local = step.rpartition("}")[2]
            target = next(
                (
                    sub
                    for sub in current.substatements
                    if sub.keyword in ("container", "list", "leaf") and sub.argument == local
                ),
                None,
            )
            if target is None:
                raise self.error(statement, f"leafref path {path.text!r}: no node '{local}'")
            if index < len(path.steps) - 1:
                scope = (*scope, target)
                current = target
        if target is None or target.keyword != "leaf":
            raise self.error(statement, f"leafref path {path.text!r} does not end at a leaf")
        target_type = target.find("type")
        if target_type is None:
            raise self.error(target, "leaf without 'type'")
        return self._type(target_type, ancestry=scope[1:])

    def _canonical_default(self, statement: Statement, leaf_type: LeafType, value: str) -> str:
        try:
            return leaf_type.canonical(value)
        except InvalidValueError as exc:
            raise self.error(statement, f"invalid default {value!r}: {exc.message}") from exc

    # -- data nodes ------------------------------------------------------------------

    def _children(
        self, statements: list[Statement], parent_config: bool, ancestry: tuple[Statement, ...]
    ) -> Mapping[str, DataNode]:
        children: dict[str, DataNode] = {}
        for statement in statements:
            node = self._data_node(statement, parent_config, ancestry)
            if node.tag in children:
                raise self.error(statement, f"duplicate node '{node.name}'")
            children[node.tag] = node
        return MappingProxyType(children)

    def _config(self, statement: Statement, parent_config: bool) -> bool:
        value = self._single(statement, "config")
        if value is None:
            return parent_config
        if value not in ("true", "false"):
            raise self.error(statement, f"config must be true or false, not {value!r}")
        if value == "true" and not parent_config:
            raise self.error(statement, "config true under a config false node")
        return value == "true"

    def _data_node(
        self, statement: Statement, parent_config: bool, ancestry: tuple[Statement, ...]
    ) -> DataNode:
        if statement.keyword == "leaf":
            return self._leaf(statement, parent_config, ancestry)
        allowed = {"config", "must", "container", "list", "leaf"}
        if statement.keyword == "list":
            allowed.add("key")
        self._only(statement, allowed)
        name = self._required_argument(statement)
        config = self._config(statement, parent_config)
        child_statements = [
            sub for sub in statement.substatements if sub.keyword in ("container", "list", "leaf")
        ]
        children = self._children(child_statements, config, (*ancestry, statement))
        musts = self._must_list(statement)
        if statement.keyword == "container":
            return Container(name, self._namespace, children, config, musts)
        return ListNode(
            name, self._namespace, self._keys(statement, children), children, config, musts
        )

    def _keys(self, statement: Statement, children: Mapping[str, DataNode]) -> tuple[str, ...]:
        key_text = self._single(statement, "key")
        if key_text is None:
            raise self.error(statement, f"list '{statement.argument}' needs a 'key'")
        keys = tuple(self._local_name(statement, key) for key in key_text.split())
        if not keys or len(set(keys)) != len(keys):
            raise self.error(statement, f"invalid key '{key_text}'")
        for key in keys:
            if not isinstance(children.get(_clark(self._namespace, key)), Leaf):
                raise self.error(statement, f"key '{key}' is not a leaf of the list")
        return keys

    def _leaf(
        self, statement: Statement, parent_config: bool, ancestry: tuple[Statement, ...]
    ) -> Leaf:
        self._only(statement, {"type", "default", "mandatory", "units", "config", "must"})
        name = self._required_argument(statement)
        type_statement = statement.find("type")
        if type_statement is None:
            raise self.error(statement, f"leaf '{name}' has no 'type'")
        if len(list(statement.find_all("type"))) > 1:
            raise self.error(statement, f"leaf '{name}' has more than one 'type'")
        leaf_type = self._type(type_statement, ancestry)
        default_text = self._single(statement, "default")
        default = (
            self._canonical_default(statement, leaf_type, default_text)
            if default_text is not None
            else None
        )
        mandatory_text = self._single(statement, "mandatory")
        if mandatory_text not in (None, "true", "false"):
            raise self.error(statement, f"mandatory must be true or false, not {mandatory_text!r}")
        mandatory = mandatory_text == "true"
        if mandatory and default is not None:
            raise self.error(statement, f"leaf '{name}' is mandatory and has a default")
        units = self._single(statement, "units")
        return Leaf(
            name=name,
            namespace=self._namespace,
            type=leaf_type,
            config=self._config(statement, parent_config),
            default=default,
            mandatory=mandatory,
            units=units if units is not None else leaf_type.units,
            musts=self._must_list(statement),
        )

    def _must_list(self, statement: Statement) -> tuple[Must, ...]:
        musts: list[Must] = []
        for sub in statement.find_all("must"):
            self._only(sub, {"error-message", "error-app-tag"})
            expression = self._required_argument(sub)
            predicate = self._musts.get(expression)
            if predicate is None:
                raise self.error(
                    sub,
                    f"must expression {expression!r} has no registered implementation: add it "
                    "to lab.yang_schema.MUST_PREDICATES (the lab evaluates no XPath)",
                )
            musts.append(
                Must(
                    expression,
                    predicate,
                    self._single(sub, "error-message"),
                    self._single(sub, "error-app-tag"),
                )
            )
        return tuple(musts)


def load_schema(
    text: str,
    *,
    source: str = "<string>",
    must_predicates: Mapping[str, MustPredicate] = MUST_PREDICATES,
) -> Schema:
    """Parse a YANG module into a :class:`Schema`.

    Args:
        text: the module source.
        source: a name for error messages.
        must_predicates: the implementations of the module's ``must`` expressions, by
            exact expression text.

    Returns:
        The immutable schema.

    Raises:
        YangError: on a syntax error, an unsupported statement, or a ``must`` expression
            without a registered predicate.
    """
    return _Builder(parse_statements(text, source), source, must_predicates).build()


def load_lab_schema() -> Schema:
    """Load the ``netpilot-lab`` module shipped in the ``lab.yang`` package.

    Parse it once per process and share the result between devices.

    Returns:
        The schema of ``netpilot-lab``.

    Raises:
        YangError: if the shipped module uses something the lab cannot enforce.
    """
    text = resources.files(LAB_MODULE_PACKAGE).joinpath(LAB_MODULE_FILE).read_text("utf-8")
    return load_schema(text, source=LAB_MODULE_FILE)
