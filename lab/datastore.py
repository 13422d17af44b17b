"""NETCONF datastores of a lab device, as pure functions over ElementTree trees.

A datastore is a ``<config>`` element in the NETCONF base namespace whose children are the
top-level containers of the YANG module. Values are stored in canonical form (RFC 7950 §9)
and defaults are NOT written into the datastore: they are implicit, as on netconfd, so
``<get-config>`` returns what was configured.

This module implements, on top of :mod:`lab.yang_schema`:

- ``<edit-config>`` (RFC 6241 §7.2): default-operation, the operation attribute on any
  node, error-option and test-option (:func:`edit_config`);
- validation of a whole datastore (:func:`validate_datastore`): structure and types
  first, then mandatory leaves, leafref targets and ``must`` constraints;
- subtree filtering (RFC 6241 §6) of configuration or state (:func:`filter_subtree`).

Nothing here does IO. Functions never mutate their inputs: they return new trees, or
report :class:`RpcError` values (raised inside :class:`DatastoreError` where a function
cannot go on).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lab.yang_schema import (
    Container,
    DataNode,
    InvalidValueError,
    Leaf,
    ListNode,
    MustContext,
    Schema,
)

NETCONF_BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
OPERATION_ATTRIBUTE = f"{{{NETCONF_BASE_NS}}}operation"
CONFIG_TAG = f"{{{NETCONF_BASE_NS}}}config"


class ErrorType(StrEnum):
    """``error-type`` of an ``<rpc-error>`` (RFC 6241 §4.3)."""

    TRANSPORT = "transport"
    RPC = "rpc"
    PROTOCOL = "protocol"
    APPLICATION = "application"


class ErrorTag(StrEnum):
    """``error-tag`` values (RFC 6241 Appendix A)."""

    IN_USE = "in-use"
    INVALID_VALUE = "invalid-value"
    TOO_BIG = "too-big"
    MISSING_ATTRIBUTE = "missing-attribute"
    BAD_ATTRIBUTE = "bad-attribute"
    UNKNOWN_ATTRIBUTE = "unknown-attribute"
    MISSING_ELEMENT = "missing-element"
    BAD_ELEMENT = "bad-element"
    UNKNOWN_ELEMENT = "unknown-element"
    UNKNOWN_NAMESPACE = "unknown-namespace"
    ACCESS_DENIED = "access-denied"
    LOCK_DENIED = "lock-denied"
    RESOURCE_DENIED = "resource-denied"
    ROLLBACK_FAILED = "rollback-failed"
    DATA_EXISTS = "data-exists"
    DATA_MISSING = "data-missing"
    OPERATION_NOT_SUPPORTED = "operation-not-supported"
    OPERATION_FAILED = "operation-failed"
    MALFORMED_MESSAGE = "malformed-message"


class ErrorSeverity(StrEnum):
    """``error-severity`` values."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class RpcError:
    """The content of one ``<rpc-error>``.

    Attributes:
        error_type: the layer the error belongs to.
        tag: the ``error-tag``.
        message: human-readable ``error-message`` (English).
        severity: the ``error-severity``.
        app_tag: the ``error-app-tag``, if any (e.g. from a YANG ``error-app-tag``).
        path: the ``error-path``: an absolute XPath with the module prefix, e.g.
            ``/npl:qos/npl:class[npl:name='video']/npl:priority``.
        info: ``error-info`` children as (element name in the base namespace, text),
            e.g. ``(("bad-element", "foo"),)`` or ``(("session-id", "3"),)``.
    """

    error_type: ErrorType
    tag: ErrorTag
    message: str
    severity: ErrorSeverity = ErrorSeverity.ERROR
    app_tag: str | None = None
    path: str | None = None
    info: tuple[tuple[str, str], ...] = ()


class DatastoreError(Exception):
    """One or more ``<rpc-error>`` s: an operation on a datastore was refused.

    The first error's fields are available as attributes for convenience; all of them are
    in :attr:`errors`.
    """

    def __init__(self, *errors: RpcError) -> None:
        if not errors:
            raise ValueError("DatastoreError needs at least one RpcError")
        super().__init__("; ".join(error.message for error in errors))
        self.errors: tuple[RpcError, ...] = errors

    @property
    def error_type(self) -> ErrorType:
        """``error-type`` of the first error."""
        return self.errors[0].error_type

    @property
    def tag(self) -> ErrorTag:
        """``error-tag`` of the first error."""
        return self.errors[0].tag

    @property
    def severity(self) -> ErrorSeverity:
        """``error-severity`` of the first error."""
        return self.errors[0].severity

    @property
    def app_tag(self) -> str | None:
        """``error-app-tag`` of the first error."""
        return self.errors[0].app_tag

    @property
    def path(self) -> str | None:
        """``error-path`` of the first error."""
        return self.errors[0].path

    @property
    def message(self) -> str:
        """``error-message`` of the first error."""
        return self.errors[0].message


class DefaultOperation(StrEnum):
    """``<default-operation>`` of ``<edit-config>``."""

    MERGE = "merge"
    REPLACE = "replace"
    NONE = "none"


class ErrorOption(StrEnum):
    """``<error-option>`` of ``<edit-config>``."""

    STOP_ON_ERROR = "stop-on-error"
    CONTINUE_ON_ERROR = "continue-on-error"
    ROLLBACK_ON_ERROR = "rollback-on-error"


class EditTestOption(StrEnum):
    """``<test-option>`` of ``<edit-config>`` (:validate:1.1)."""

    TEST_THEN_SET = "test-then-set"
    SET = "set"
    TEST_ONLY = "test-only"


class _Op(StrEnum):
    """An effective edit operation on one node (``none`` only by inheritance)."""

    MERGE = "merge"
    REPLACE = "replace"
    CREATE = "create"
    DELETE = "delete"
    REMOVE = "remove"
    NONE = "none"


_ATTRIBUTE_OPERATIONS = frozenset(op.value for op in _Op if op is not _Op.NONE)


@dataclass(frozen=True, slots=True)
class EditResult:
    """The outcome of :func:`edit_config`.

    Attributes:
        datastore: what the target holds afterwards: a new tree, or the target itself
            (the same object) when nothing was applied.
        errors: the errors to report; empty means ``<ok/>``.
    """

    datastore: ET.Element
    errors: tuple[RpcError, ...]


def empty_datastore() -> ET.Element:
    """A new, empty datastore (``<config>`` in the NETCONF base namespace)."""
    return ET.Element(CONFIG_TAG)


def copy_datastore(datastore: ET.Element) -> ET.Element:
    """A deep copy of a datastore (e.g. running kept for a confirmed commit's rollback)."""
    return copy.deepcopy(datastore)


def datastores_equal(left: ET.Element, right: ET.Element) -> bool:
    """Whether two datastores hold the same data (tags, values and order)."""
    if left.tag != right.tag or (left.text or "").strip() != (right.text or "").strip():
        return False
    if len(left) != len(right):
        return False
    return all(datastores_equal(a, b) for a, b in zip(left, right, strict=True))


# --------------------------------------------------------------------------------------
# Paths and error helpers
# --------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    pieces = ', "\'", '.join(f"'{part}'" for part in value.split("'"))
    return f"concat({pieces})"


Path = tuple[str, ...]


def _render(path: Path) -> str:
    return "/" + "/".join(path) if path else "/"


def _node_step(prefix: str, node: DataNode) -> str:
    return f"{prefix}:{node.name}"


def _entry_step(prefix: str, node: ListNode, key_values: Sequence[str]) -> str:
    predicates = "".join(
        f"[{prefix}:{key}={_xpath_literal(value)}]"
        for key, value in zip(node.keys, key_values, strict=True)
    )
    return f"{prefix}:{node.name}{predicates}"


def _entry_keys(entry: ET.Element, node: ListNode) -> list[str] | None:
    values = []
    for key_tag in node.key_tags:
        key = entry.find(key_tag)
        if key is None:
            return None
        values.append((key.text or "").strip())
    return values


def _schema_index(children: Mapping[str, DataNode], tag: str) -> int:
    for index, child_tag in enumerate(children):
        if child_tag == tag:
            return index
    return len(children)


def _insert_ordered(
    parent: ET.Element, child: ET.Element, siblings: Mapping[str, DataNode]
) -> None:
    """Insert ``child`` after every sibling that comes before it in schema order.

    Keeping children in schema order makes stored trees deterministic: equal
    configurations serialise identically, and list keys stay first in their entries.
    """
    rank = _schema_index(siblings, child.tag)
    position = len(parent)
    for index, existing in enumerate(parent):
        if _schema_index(siblings, existing.tag) > rank:
            position = index
            break
    parent.insert(position, child)


# --------------------------------------------------------------------------------------
# edit-config
# --------------------------------------------------------------------------------------


class _EditAbortedError(Exception):
    """Internal: stop-on-error / rollback-on-error hit their first error."""


class _Editor:
    """Applies one ``<config>`` to a working copy of the target (RFC 6241 §7.2)."""

    def __init__(self, schema: Schema, *, stop_at_first_error: bool) -> None:
        self._schema = schema
        self._prefix = schema.prefix
        self._stop = stop_at_first_error
        self.errors: list[RpcError] = []

    def fail(self, error: RpcError) -> None:
        self.errors.append(error)
        if self._stop:
            raise _EditAbortedError

    def apply(self, work: ET.Element, config: ET.Element, default: _Op) -> None:
        try:
            for edit in config:
                self._node(work, edit, self._schema.children, default, ())
        except _EditAbortedError:
            return

    def _node(
        self,
        parent: ET.Element,
        edit: ET.Element,
        siblings: Mapping[str, DataNode],
        inherited: _Op,
        path: Path,
    ) -> None:
        node = siblings.get(edit.tag)
        if node is None:
            self.fail(_unknown_element(self._schema, edit, path))
            return
        op = self._operation(edit, inherited, path)
        if op is None:
            return
        if not node.config:
            self.fail(
                RpcError(
                    ErrorType.APPLICATION,
                    ErrorTag.ACCESS_DENIED,
                    f"'{node.name}' is read-only state (config false) and cannot be edited",
                    path=_render((*path, _node_step(self._prefix, node))),
                )
            )
            return
        if isinstance(node, Leaf):
            self._leaf(parent, edit, node, op, siblings, path)
        elif isinstance(node, Container):
            self._container(parent, edit, node, op, siblings, path)
        else:
            self._list_entry(parent, edit, node, op, siblings, path)

    def _operation(self, edit: ET.Element, inherited: _Op, path: Path) -> _Op | None:
        raw = edit.get(OPERATION_ATTRIBUTE)
        if raw is None:
            return inherited
        if raw not in _ATTRIBUTE_OPERATIONS:
            self.fail(
                RpcError(
                    ErrorType.PROTOCOL,
                    ErrorTag.BAD_ATTRIBUTE,
                    f"operation '{raw}' is not one of {', '.join(sorted(_ATTRIBUTE_OPERATIONS))}",
                    path=_render(path),
                    info=(("bad-attribute", "operation"), ("bad-element", _local(edit.tag))),
                )
            )
            return None
        return _Op(raw)

    def _missing(self, what: str, path: Path) -> RpcError:
        return RpcError(
            ErrorType.APPLICATION,
            ErrorTag.DATA_MISSING,
            f"{what} does not exist",
            path=_render(path),
        )

    def _exists(self, what: str, path: Path) -> RpcError:
        return RpcError(
            ErrorType.APPLICATION,
            ErrorTag.DATA_EXISTS,
            f"{what} already exists",
            path=_render(path),
        )

    def _leaf(
        self,
        parent: ET.Element,
        edit: ET.Element,
        leaf: Leaf,
        op: _Op,
        siblings: Mapping[str, DataNode],
        path: Path,
    ) -> None:
        leaf_path = (*path, _node_step(self._prefix, leaf))
        if len(edit):
            self.fail(_unknown_element(self._schema, edit[0], leaf_path))
            return
        existing = parent.find(leaf.tag)
        if op in (_Op.DELETE, _Op.REMOVE):
            if existing is not None:
                parent.remove(existing)
            elif op is _Op.DELETE:
                self.fail(self._missing(f"leaf '{leaf.name}'", leaf_path))
            return
        if op is _Op.NONE:
            return
        try:
            value = leaf.type.canonical(edit.text or "")
        except InvalidValueError as exc:
            self.fail(_invalid_value(exc, leaf_path))
            return
        if existing is None:
            created = ET.Element(leaf.tag)
            created.text = value
            _insert_ordered(parent, created, siblings)
        elif op is _Op.CREATE:
            self.fail(self._exists(f"leaf '{leaf.name}'", leaf_path))
        else:
            existing.text = value

    def _container(
        self,
        parent: ET.Element,
        edit: ET.Element,
        node: Container,
        op: _Op,
        siblings: Mapping[str, DataNode],
        path: Path,
    ) -> None:
        node_path = (*path, _node_step(self._prefix, node))
        existing = parent.find(node.tag)
        target = self._place(parent, existing, ET.Element(node.tag), op, siblings, node_path, node)
        if target is not None:
            self._children(target, edit, node, op, node_path)

    def _list_entry(
        self,
        parent: ET.Element,
        edit: ET.Element,
        node: ListNode,
        op: _Op,
        siblings: Mapping[str, DataNode],
        path: Path,
    ) -> None:
        list_path = (*path, _node_step(self._prefix, node))
        keys: list[str] = []
        for key_tag, key_name in zip(node.key_tags, node.keys, strict=True):
            key_elem = edit.find(key_tag)
            if key_elem is None:
                self.fail(_missing_key(node, key_name, list_path))
                return
            key_leaf = node.children[key_tag]
            assert isinstance(key_leaf, Leaf)  # noqa: S101 - the schema loader checks keys
            try:
                keys.append(key_leaf.type.canonical(key_elem.text or ""))
            except InvalidValueError as exc:
                self.fail(_invalid_value(exc, (*list_path, f"{self._prefix}:{key_name}")))
                return
        entry_path = (*path, _entry_step(self._prefix, node, keys))
        existing = next(
            (entry for entry in parent.iterfind(node.tag) if _entry_keys(entry, node) == keys),
            None,
        )
        fresh = ET.Element(node.tag)
        for key_tag, value in zip(node.key_tags, keys, strict=True):
            ET.SubElement(fresh, key_tag).text = value
        target = self._place(parent, existing, fresh, op, siblings, entry_path, node)
        if target is not None:
            self._children(target, edit, node, op, entry_path)

    def _place(
        self,
        parent: ET.Element,
        existing: ET.Element | None,
        fresh: ET.Element,
        op: _Op,
        siblings: Mapping[str, DataNode],
        node_path: Path,
        node: Container | ListNode,
    ) -> ET.Element | None:
        """Apply ``op`` to a container or list entry; return the node to edit beneath."""
        what = f"{'list entry' if isinstance(node, ListNode) else 'container'} '{node.name}'"
        if op in (_Op.DELETE, _Op.REMOVE):
            if existing is not None:
                parent.remove(existing)
            elif op is _Op.DELETE:
                self.fail(self._missing(what, node_path))
            return None
        if op is _Op.NONE:
            if existing is None:
                # RFC 6241 §7.2: default-operation none and no such level in the target
                self.fail(self._missing(what, node_path))
            return existing
        if op is _Op.CREATE and existing is not None:
            self.fail(self._exists(what, node_path))
            return None
        if existing is None:
            _insert_ordered(parent, fresh, siblings)
            return fresh
        if op is _Op.REPLACE:
            position = list(parent).index(existing)
            parent.remove(existing)
            parent.insert(position, fresh)
            return fresh
        return existing

    def _children(
        self, target: ET.Element, edit: ET.Element, node: Container | ListNode, op: _Op, path: Path
    ) -> None:
        key_tags = node.key_tags if isinstance(node, ListNode) else ()
        for child in edit:
            if child.tag in key_tags:
                key_op = child.get(OPERATION_ATTRIBUTE)
                if key_op in (_Op.DELETE.value, _Op.REMOVE.value):
                    self.fail(
                        RpcError(
                            ErrorType.PROTOCOL,
                            ErrorTag.BAD_ATTRIBUTE,
                            f"key leaf '{_local(child.tag)}' cannot be {key_op}d on its own; "
                            "delete the list entry instead",
                            path=_render(path),
                            info=(
                                ("bad-attribute", "operation"),
                                ("bad-element", _local(child.tag)),
                            ),
                        )
                    )
                continue
            self._node(target, child, node.children, op, path)


def _unknown_element(schema: Schema, element: ET.Element, parent_path: Path) -> RpcError:
    namespace = _namespace(element.tag)
    if not namespace:
        return RpcError(
            ErrorType.PROTOCOL,
            ErrorTag.UNKNOWN_ELEMENT,
            f"element '{element.tag}' has no namespace (expected {schema.namespace})",
            path=_render(parent_path),
            info=(("bad-element", element.tag),),
        )
    if namespace not in (schema.namespace, NETCONF_BASE_NS):
        return RpcError(
            ErrorType.PROTOCOL,
            ErrorTag.UNKNOWN_NAMESPACE,
            f"element '{_local(element.tag)}' is in an unknown namespace '{namespace}'",
            path=_render(parent_path),
            info=(("bad-element", _local(element.tag)), ("bad-namespace", namespace)),
        )
    return RpcError(
        ErrorType.PROTOCOL,
        ErrorTag.UNKNOWN_ELEMENT,
        f"unknown element '{_local(element.tag)}'",
        path=_render(parent_path),
        info=(("bad-element", _local(element.tag)),),
    )


def _invalid_value(exc: InvalidValueError, path: Path) -> RpcError:
    return RpcError(
        ErrorType.PROTOCOL,
        ErrorTag.INVALID_VALUE,
        exc.message,
        app_tag=exc.app_tag,
        path=_render(path),
    )


def _missing_key(node: ListNode, key: str, list_path: Path) -> RpcError:
    return RpcError(
        ErrorType.PROTOCOL,
        ErrorTag.MISSING_ELEMENT,
        f"list entry '{node.name}' lacks its key '{key}'",
        path=_render(list_path),
        info=(("bad-element", key),),
    )


def edit_config(
    schema: Schema,
    target: ET.Element,
    config: ET.Element,
    *,
    default_operation: DefaultOperation = DefaultOperation.MERGE,
    error_option: ErrorOption = ErrorOption.STOP_ON_ERROR,
    test_option: EditTestOption = EditTestOption.TEST_THEN_SET,
) -> EditResult:
    """Apply an ``<edit-config>`` to a datastore (RFC 6241 §7.2, §8.5, §8.6).

    Semantics, matching netconfd where RFC 6241 leaves room:

    - ``test-then-set`` (default) and ``test-only`` validate the WHOLE resulting
      datastore (mandatory, leafref, ``must``), so an edit that would leave the candidate
      invalid is refused; ``set`` only checks the payload itself (types, keys, names).
    - ``rollback-on-error``: any error leaves the target unchanged.
    - ``stop-on-error`` (default): stops at the first error; with ``test-then-set`` the
      target is unchanged (the error is part of the test), with ``set`` the edits before
      the error stay applied.
    - ``continue-on-error``: every erroneous node is skipped and reported, the rest is
      applied — unless ``test-then-set`` finds the result invalid, which sets nothing.
    - ``test-only`` never changes the target.

    Args:
        schema: the YANG schema of the datastore.
        target: the target datastore (not modified).
        config: the ``<config>`` element of the request (its children are edited in).
        default_operation: ``<default-operation>``.
        error_option: ``<error-option>``.
        test_option: ``<test-option>``.

    Returns:
        The new datastore (``target`` itself when nothing is applied) and the errors.
    """
    work = copy_datastore(target)
    stop_early = error_option is not ErrorOption.CONTINUE_ON_ERROR
    editor = _Editor(schema, stop_at_first_error=stop_early)
    editor.apply(work, config, _Op(default_operation.value))
    edit_errors = tuple(editor.errors)
    validation_errors: tuple[RpcError, ...] = ()
    if test_option is not EditTestOption.SET and not (edit_errors and stop_early):
        validation_errors = validate_datastore(schema, work)
    errors = edit_errors + validation_errors
    if test_option is EditTestOption.TEST_ONLY or (
        errors and _keeps_target(error_option, test_option, validation_errors)
    ):
        return EditResult(target, errors)
    return EditResult(work, errors)


def _keeps_target(
    error_option: ErrorOption,
    test_option: EditTestOption,
    validation_errors: tuple[RpcError, ...],
) -> bool:
    """Whether a failed edit leaves the target untouched (see :func:`edit_config`)."""
    if error_option is ErrorOption.ROLLBACK_ON_ERROR or validation_errors:
        return True
    if error_option is ErrorOption.STOP_ON_ERROR:
        return test_option is EditTestOption.TEST_THEN_SET
    return False


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


class _Validator:
    """Checks a whole datastore against the schema (RFC 7950 §8)."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._prefix = schema.prefix
        self.errors: list[RpcError] = []
        self._leafref_values: dict[str, set[str]] = {}

    def run(self, root: ET.Element) -> None:
        self._structure(root, self._schema.children, ())
        if self.errors:
            # mandatory/leafref/must reason about values: only on well-formed data
            return
        self._semantics(root, self._schema.children, (), [root])

    # -- phase 1: names, types, keys, duplicates ----------------------------------

    def _structure(self, parent: ET.Element, siblings: Mapping[str, DataNode], path: Path) -> None:
        seen_entries: set[tuple[str, tuple[str, ...]]] = set()
        seen_single: set[str] = set()
        for child in parent:
            node = siblings.get(child.tag)
            if node is None:
                self.errors.append(_unknown_element(self._schema, child, path))
                continue
            if not node.config:
                self.errors.append(
                    RpcError(
                        ErrorType.APPLICATION,
                        ErrorTag.ACCESS_DENIED,
                        f"'{node.name}' is read-only state (config false), not configuration",
                        path=_render((*path, _node_step(self._prefix, node))),
                    )
                )
                continue
            if isinstance(node, ListNode):
                self._entry_structure(child, node, path, seen_entries)
                continue
            node_path = (*path, _node_step(self._prefix, node))
            if child.tag in seen_single:
                self.errors.append(
                    RpcError(
                        ErrorType.PROTOCOL,
                        ErrorTag.BAD_ELEMENT,
                        f"'{node.name}' appears more than once",
                        path=_render(node_path),
                        info=(("bad-element", node.name),),
                    )
                )
                continue
            seen_single.add(child.tag)
            if isinstance(node, Container):
                self._structure(child, node.children, node_path)
            elif len(child):
                self.errors.append(_unknown_element(self._schema, child[0], node_path))
            else:
                try:
                    node.type.canonical(child.text or "")
                except InvalidValueError as exc:
                    self.errors.append(_invalid_value(exc, node_path))

    def _entry_structure(
        self,
        entry: ET.Element,
        node: ListNode,
        path: Path,
        seen: set[tuple[str, tuple[str, ...]]],
    ) -> None:
        list_path = (*path, _node_step(self._prefix, node))
        keys: list[str] = []
        for key_tag, key_name in zip(node.key_tags, node.keys, strict=True):
            key_elem = entry.find(key_tag)
            if key_elem is None:
                self.errors.append(_missing_key(node, key_name, list_path))
                return
            key_leaf = node.children[key_tag]
            assert isinstance(key_leaf, Leaf)  # noqa: S101 - the schema loader checks keys
            try:
                keys.append(key_leaf.type.canonical(key_elem.text or ""))
            except InvalidValueError as exc:
                self.errors.append(_invalid_value(exc, (*list_path, f"{self._prefix}:{key_name}")))
                return
        entry_path = (*path, _entry_step(self._prefix, node, keys))
        identity = (node.tag, tuple(keys))
        if identity in seen:
            self.errors.append(
                RpcError(
                    ErrorType.APPLICATION,
                    ErrorTag.OPERATION_FAILED,
                    f"duplicate entry of list '{node.name}' with key {', '.join(keys)}",
                    app_tag="data-not-unique",
                    path=_render(entry_path),
                )
            )
            return
        seen.add(identity)
        self._structure(entry, node.children, entry_path)

    # -- phase 2: mandatory, leafref, must -------------------------------------------

    def _semantics(
        self,
        element: ET.Element,
        siblings: Mapping[str, DataNode],
        path: Path,
        ancestors: list[ET.Element],
    ) -> None:
        self._mandatory(element, siblings, path)
        for child in element:
            node = siblings[child.tag]
            if isinstance(node, ListNode):
                keys = _entry_keys(child, node) or []
                child_path = (*path, _entry_step(self._prefix, node, keys))
            else:
                child_path = (*path, _node_step(self._prefix, node))
            for must in node.musts:
                if not must.predicate(MustContext(child, element, node)):
                    self.errors.append(
                        RpcError(
                            ErrorType.APPLICATION,
                            ErrorTag.OPERATION_FAILED,
                            must.error_message or f"must '{must.expression}' is not satisfied",
                            app_tag=must.error_app_tag or "must-violation",
                            path=_render(child_path),
                        )
                    )
            if isinstance(node, Leaf):
                if node.type.leafref is not None:
                    self._leafref(child, node, child_path, ancestors)
            else:
                self._semantics(child, node.children, child_path, [*ancestors, child])

    def _mandatory(
        self, element: ET.Element | None, siblings: Mapping[str, DataNode], path: Path
    ) -> None:
        for tag, node in siblings.items():
            if not node.config:
                continue
            present = element is not None and element.find(tag) is not None
            if isinstance(node, Leaf) and node.mandatory and not present:
                self.errors.append(
                    RpcError(
                        ErrorType.APPLICATION,
                        ErrorTag.DATA_MISSING,
                        f"mandatory leaf '{node.name}' is missing",
                        path=_render((*path, _node_step(self._prefix, node))),
                        info=(("bad-element", node.name),),
                    )
                )
            elif isinstance(node, Container) and not present:
                # a missing non-presence container still holds its mandatory leaves
                self._mandatory(None, node.children, (*path, _node_step(self._prefix, node)))

    def _leafref(
        self, element: ET.Element, leaf: Leaf, path: Path, ancestors: list[ET.Element]
    ) -> None:
        leafref = leaf.type.leafref
        assert leafref is not None  # noqa: S101 - caller checked
        value = leaf.type.canonical(element.text or "")
        if leafref.absolute:
            targets = self._leafref_values.get(leafref.text)
            if targets is None:
                targets = _values_at(ancestors[:1], leafref.steps)
                self._leafref_values[leafref.text] = targets
        else:
            # one ".." from the leaf is its parent, the last of ancestors
            start = ancestors[-leafref.up] if leafref.up <= len(ancestors) else None
            targets = _values_at([start] if start is not None else [], leafref.steps)
        if value not in targets:
            self.errors.append(
                RpcError(
                    ErrorType.APPLICATION,
                    ErrorTag.DATA_MISSING,
                    f"'{value}' does not refer to an existing {leafref.text}",
                    app_tag="instance-required",
                    path=_render(path),
                )
            )


def _values_at(starts: Iterable[ET.Element], steps: Sequence[str]) -> set[str]:
    nodes = list(starts)
    for step in steps:
        nodes = [child for node in nodes for child in node if child.tag == step]
    return {(node.text or "").strip() for node in nodes}


def validate_datastore(schema: Schema, datastore: ET.Element) -> tuple[RpcError, ...]:
    """Every reason ``datastore`` is not a valid configuration, in document order.

    Structure and types are checked first (unknown-element, unknown-namespace,
    access-denied for state nodes, invalid-value, missing-element for keys, duplicate
    list entries); only a well-formed datastore is then checked for mandatory leaves
    (data-missing), leafref targets (data-missing, app-tag ``instance-required``) and
    ``must`` constraints (operation-failed with the module's ``error-app-tag``).

    Args:
        schema: the YANG schema.
        datastore: a ``<config>`` (or any element whose children are top-level nodes).

    Returns:
        The errors; empty if the datastore is valid.
    """
    validator = _Validator(schema)
    validator.run(datastore)
    return tuple(validator.errors)


def check_datastore(schema: Schema, datastore: ET.Element) -> None:
    """Raise if ``datastore`` is not a valid configuration.

    Args:
        schema: the YANG schema.
        datastore: the datastore to check.

    Raises:
        DatastoreError: with every error :func:`validate_datastore` finds.
    """
    errors = validate_datastore(schema, datastore)
    if errors:
        raise DatastoreError(*errors)


# --------------------------------------------------------------------------------------
# Subtree filtering (RFC 6241 §6)
# --------------------------------------------------------------------------------------


_BASE_PREFIX = f"{{{NETCONF_BASE_NS}}}"


def _matches(filter_node: ET.Element, data_node: ET.Element) -> bool:
    """Namespace selection (§6.2.2): a filter node without a namespace matches any.

    A filter node in the NETCONF base namespace counts as namespace-less: no data lives
    there, and it is what an unqualified node inherits inside ``<rpc xmlns="...base...">``.
    """
    tag = filter_node.tag
    if tag.startswith("{") and not tag.startswith(_BASE_PREFIX):
        return tag == data_node.tag
    return _local(data_node.tag) == _local(tag)


def _is_content_match(filter_node: ET.Element) -> bool:
    return len(filter_node) == 0 and bool((filter_node.text or "").strip())


class _SubtreeFilter:
    """Marks the data nodes a filter selects, then copies them out."""

    def __init__(self) -> None:
        self.keep: set[int] = set()
        self.whole: set[int] = set()

    def select(
        self, data: ET.Element, filter_node: ET.Element, siblings: Mapping[str, DataNode]
    ) -> bool:
        """Evaluate ``filter_node``'s children against ``data``'s; True if anything is selected."""
        filters = list(filter_node)
        content = [f for f in filters if _is_content_match(f)]
        for match in content:
            wanted = (match.text or "").strip()
            if not any(
                _matches(match, child) and (child.text or "").strip() == wanted for child in data
            ):
                return False
        others = [f for f in filters if not _is_content_match(f)]
        if not others:
            # only content match nodes: the whole subtree is selected (§6.2.5)
            self.whole.add(id(data))
            return True
        selected = bool(content)
        for sub_filter in others:
            if self._select_children(data, sub_filter, siblings):
                selected = True
        if selected:
            for match in content:
                for child in data:
                    if _matches(match, child):
                        self.whole.add(id(child))
        return selected

    def _select_children(
        self, data: ET.Element, sub_filter: ET.Element, siblings: Mapping[str, DataNode]
    ) -> bool:
        """Apply one selection or containment node to the matching children of ``data``."""
        selected = False
        for child in data:
            if not _matches(sub_filter, child):
                continue
            node = siblings.get(child.tag)
            if len(sub_filter) == 0:
                # selection node (§6.2.4)
                self.whole.add(id(child))
                selected = True
            elif self.select(child, sub_filter, node.children if node is not None else {}):
                self.keep.add(id(child))
                self._keep_identity(child, node)
                selected = True
        return selected

    def _keep_identity(self, entry: ET.Element, node: DataNode | None) -> None:
        """List keys go with any selected part of an entry, so the client can place it."""
        if isinstance(node, ListNode):
            for key_tag in node.key_tags:
                key = entry.find(key_tag)
                if key is not None:
                    self.whole.add(id(key))

    def copy(self, element: ET.Element) -> ET.Element:
        result = ET.Element(element.tag, element.attrib)
        result.text = element.text if len(element) == 0 else None
        for child in element:
            if id(child) in self.whole:
                result.append(copy.deepcopy(child))
            elif id(child) in self.keep:
                result.append(self.copy(child))
        return result


def filter_subtree(schema: Schema, data: ET.Element, subtree: ET.Element | None) -> ET.Element:
    """Apply a subtree filter to a datastore or state tree (RFC 6241 §6).

    Supports namespace selection (a filter node without a namespace matches any),
    containment nodes, selection nodes and content match nodes (several content match
    siblings must all match). Keys of a list entry are returned with any part of it
    that is selected. Attribute match expressions are not supported (lab data has no
    attributes) and match nothing.

    Args:
        schema: the YANG schema (for list keys; state nodes included).
        data: the element whose children are the top-level nodes (``<config>``/``<data>``).
        subtree: the ``<filter>`` element, or None for no filter (everything).

    Returns:
        A new element with ``data``'s tag holding the selected nodes; an empty filter
        selects nothing.
    """
    if subtree is None:
        return copy.deepcopy(data)
    selector = _SubtreeFilter()
    if len(subtree) and selector.select(data, subtree, schema.children):
        if id(data) in selector.whole:
            return copy.deepcopy(data)
        return selector.copy(data)
    return ET.Element(data.tag, data.attrib)
