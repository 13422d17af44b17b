"""Unit tests of the lab datastores (lab.datastore): edit-config, validation, filters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

from lab.datastore import (
    DatastoreError,
    DefaultOperation,
    EditTestOption,
    ErrorOption,
    ErrorTag,
    ErrorType,
    RpcError,
    check_datastore,
    datastores_equal,
    edit_config,
    empty_datastore,
    filter_subtree,
    validate_datastore,
)
from lab.yang_schema import Schema
from tests.lab_netconf.conftest import LAB_NS, config_element, parse_xml

N = f'xmlns="{LAB_NS}"'

BASE = (
    f"<interfaces {N}>"
    "<interface><name>eth1</name><metric>5</metric></interface>"
    "<interface><name>eth2</name></interface>"
    "</interfaces>"
    f"<qos {N}>"
    "<class><name>video</name><priority>5</priority></class>"
    "<shaper><interface>eth1</interface><class>video</class><rate-mbps>100</rate-mbps></shaper>"
    "</qos>"
)
ETH1 = "/npl:interfaces/npl:interface[npl:name='eth1']"


def ifs(entry: str, op: str | None = None) -> str:
    """``<interfaces>`` holding one ``<interface>`` (with an operation attribute if given)."""
    attribute = f' nc:operation="{op}"' if op else ""
    return f"<interfaces {N}><interface{attribute}>{entry}</interface></interfaces>"


def dump(element: ET.Element) -> str:
    """The datastore as compact XML with local names only (order-sensitive)."""

    def walk(node: ET.Element) -> str:
        name = node.tag.rpartition("}")[2]
        if len(node):
            return f"<{name}>{''.join(walk(child) for child in node)}</{name}>"
        return f"<{name}>{(node.text or '').strip()}</{name}>"

    return "".join(walk(child) for child in element)


def base_store() -> ET.Element:
    return config_element(BASE)


def summary(errors: tuple[RpcError, ...]) -> list[tuple[str, str | None, str | None]]:
    return [(error.tag.value, error.path, error.app_tag) for error in errors]


# -- edit-config operations -----------------------------------------------------------


@dataclass(frozen=True)
class EditCase:
    edit: str
    expected: str | None  # None: the target must be unchanged
    errors: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    base: str = BASE
    default_operation: DefaultOperation = DefaultOperation.MERGE


EDIT_CASES = {
    "merge-new-entry": EditCase(
        ifs("<name>eth3</name><enabled>false</enabled>"),
        BASE.replace(
            "<interface><name>eth2</name></interface>",
            "<interface><name>eth2</name></interface>"
            "<interface><name>eth3</name><enabled>false</enabled></interface>",
        ),
    ),
    "merge-updates-leaf-in-schema-order": EditCase(
        f"<interfaces {N}><interface><metric>7</metric><description>up</description>"
        "<name>eth1</name></interface></interfaces>",
        BASE.replace(
            "<name>eth1</name><metric>5</metric>",
            "<name>eth1</name><description>up</description><metric>7</metric>",
        ),
    ),
    "merge-canonicalises-values": EditCase(
        f"<qos {N}><class><name> video </name><priority>+06</priority></class></qos>",
        BASE.replace("<priority>5</priority>", "<priority>6</priority>"),
    ),
    "replace-entry-drops-unlisted-leaves": EditCase(
        f'<interfaces {N}><interface nc:operation="replace"><name>eth1</name>'
        "<description>d</description></interface></interfaces>",
        BASE.replace("<metric>5</metric>", "<description>d</description>"),
    ),
    "replace-container": EditCase(
        f'<qos {N} nc:operation="replace"><class><name>voice</name></class></qos>',
        BASE.split(f"<qos {N}>")[0] + f"<qos {N}><class><name>voice</name></class></qos>",
        # the shaper went with the old qos; nothing refers to a missing node
    ),
    "create-new-entry": EditCase(
        f'<qos {N}><class nc:operation="create"><name>bulk</name><weight>3</weight></class></qos>',
        BASE.replace(
            "<priority>5</priority></class>",
            "<priority>5</priority></class><class><name>bulk</name><weight>3</weight></class>",
        ),
    ),
    "create-existing-entry": EditCase(
        ifs("<name>eth1</name>", "create"),
        None,
        [("data-exists", ETH1, None)],
    ),
    "create-existing-leaf": EditCase(
        f'<interfaces {N}><interface><name>eth1</name><metric nc:operation="create">9</metric>'
        "</interface></interfaces>",
        None,
        [("data-exists", f"{ETH1}/npl:metric", None)],
    ),
    "delete-entry": EditCase(
        ifs("<name>eth2</name>", "delete"),
        BASE.replace("<interface><name>eth2</name></interface>", ""),
    ),
    "delete-missing-entry": EditCase(
        ifs("<name>eth9</name>", "delete"),
        None,
        [("data-missing", "/npl:interfaces/npl:interface[npl:name='eth9']", None)],
    ),
    "delete-leaf": EditCase(
        f'<interfaces {N}><interface><name>eth1</name><metric nc:operation="delete"/>'
        "</interface></interfaces>",
        BASE.replace("<metric>5</metric>", ""),
    ),
    "delete-missing-leaf": EditCase(
        f'<interfaces {N}><interface><name>eth2</name><metric nc:operation="delete"/>'
        "</interface></interfaces>",
        None,
        [("data-missing", "/npl:interfaces/npl:interface[npl:name='eth2']/npl:metric", None)],
    ),
    "remove-missing-is-silent": EditCase(
        ifs("<name>eth9</name>", "remove"),
        BASE,
    ),
    "remove-container": EditCase(
        f'<qos {N} nc:operation="remove"/>',
        BASE.split(f"<qos {N}>")[0],
    ),
    "default-none-leaf-without-operation": EditCase(
        ifs("<name>eth1</name><metric>9</metric>"),
        BASE,
        default_operation=DefaultOperation.NONE,
    ),
    "default-none-with-operation-below": EditCase(
        f'<qos {N}><class><name>video</name><weight nc:operation="create">4</weight></class></qos>',
        BASE.replace("<priority>5</priority>", "<priority>5</priority><weight>4</weight>"),
        default_operation=DefaultOperation.NONE,
    ),
    "default-none-missing-level": EditCase(
        f'<qos {N}><class nc:operation="create"><name>voice</name></class></qos>',
        None,
        [("data-missing", "/npl:qos", None)],
        base=f"<interfaces {N}/>",
        default_operation=DefaultOperation.NONE,
    ),
    "default-replace-replaces-named-top-level-only": EditCase(
        ifs("<name>eth1</name>"),
        BASE.replace("<metric>5</metric>", "").replace(
            "<interface><name>eth2</name></interface>", ""
        ),
        default_operation=DefaultOperation.REPLACE,
    ),
    "unknown-element": EditCase(
        ifs("<name>eth1</name><mtu>9000</mtu>"),
        None,
        [("unknown-element", ETH1, None)],
    ),
    "unknown-namespace": EditCase(
        '<interfaces xmlns="urn:example:other"/>',
        None,
        [("unknown-namespace", "/", None)],
    ),
    "data-without-namespace": EditCase(
        "<interfaces/>",
        None,
        [("unknown-element", "/", None)],
    ),
    "bad-operation-attribute": EditCase(
        f'<interfaces {N} nc:operation="upsert"/>',
        None,
        [("bad-attribute", "/", None)],
    ),
    "state-is-read-only": EditCase(
        f"<state {N}><clock>now</clock></state>",
        None,
        [("access-denied", "/npl:state", None)],
    ),
    "missing-key": EditCase(
        f"<qos {N}><class><priority>1</priority></class></qos>",
        None,
        [("missing-element", "/npl:qos/npl:class", None)],
    ),
    "invalid-key": EditCase(
        f"<qos {N}><class><name>chat</name></class></qos>",
        None,
        [("invalid-value", "/npl:qos/npl:class/npl:name", "not-in-value-set")],
    ),
    "out-of-range": EditCase(
        f"<qos {N}><class><name>video</name><priority>9</priority></class></qos>",
        None,
        [("invalid-value", "/npl:qos/npl:class[npl:name='video']/npl:priority", None)],
    ),
    "key-leaf-cannot-be-deleted": EditCase(
        ifs('<name nc:operation="delete">eth1</name>'),
        None,
        [("bad-attribute", ETH1, None)],
    ),
    "must-checked-on-the-result": EditCase(
        f"<qos {N}><class><name>video</name><priority>7</priority></class>"
        "<class><name>voice</name><priority>7</priority></class></qos>",
        None,
        [
            (
                "operation-failed",
                "/npl:qos/npl:class[npl:name='video']",
                "strict-priority-exclusive",
            ),
            (
                "operation-failed",
                "/npl:qos/npl:class[npl:name='voice']",
                "strict-priority-exclusive",
            ),
        ],
    ),
    "leafref-target-must-exist": EditCase(
        ifs("<name>eth1</name>", "delete"),
        None,
        [
            (
                "data-missing",
                "/npl:qos/npl:shaper[npl:interface='eth1'][npl:class='video']/npl:interface",
                "instance-required",
            )
        ],
    ),
    "mandatory-leaf": EditCase(
        f"<qos {N}><shaper><interface>eth2</interface><class>bulk</class></shaper></qos>",
        None,
        [
            (
                "data-missing",
                "/npl:qos/npl:shaper[npl:interface='eth2'][npl:class='bulk']/npl:rate-mbps",
                None,
            )
        ],
    ),
}


@pytest.mark.parametrize("case", EDIT_CASES.values(), ids=EDIT_CASES.keys())
def test_edit_config_operations(schema: Schema, case: EditCase) -> None:
    target = config_element(case.base)
    result = edit_config(
        schema, target, config_element(case.edit), default_operation=case.default_operation
    )
    assert summary(result.errors) == case.errors
    if case.expected is None:
        assert result.datastore is target
    else:
        assert dump(result.datastore) == dump(config_element(case.expected))
    assert dump(target) == dump(config_element(case.base)), "the input must never be mutated"


def test_edit_error_details(schema: Schema) -> None:
    result = edit_config(
        schema,
        base_store(),
        config_element(ifs("<name>eth1</name><mtu>1</mtu>")),
    )
    (error,) = result.errors
    assert (error.error_type, error.info) == (ErrorType.PROTOCOL, (("bad-element", "mtu"),))
    result = edit_config(
        schema,
        base_store(),
        config_element(f"<qos {N}><class><priority>1</priority></class></qos>"),
    )
    assert result.errors[0].info == (("bad-element", "name"),)
    assert result.errors[0].message == "list entry 'class' lacks its key 'name'"


# -- error-option and test-option -----------------------------------------------------

# eth3 is fine, eth4 has an out-of-range metric, eth5 is fine
MIXED = (
    f"<interfaces {N}>"
    "<interface><name>eth3</name></interface>"
    "<interface><name>eth4</name><metric>0</metric></interface>"
    "<interface><name>eth5</name></interface>"
    "</interfaces>"
)
ETH4_METRIC = ("invalid-value", "/npl:interfaces/npl:interface[npl:name='eth4']/npl:metric", None)


def with_interfaces(*entries: str) -> str:
    extra = "".join(f"<interface>{entry}</interface>" for entry in entries)
    return BASE.replace(
        "<interface><name>eth2</name></interface>",
        f"<interface><name>eth2</name></interface>{extra}",
    )


OPTION_CASES = {
    "stop-test-then-set-changes-nothing": (
        ErrorOption.STOP_ON_ERROR,
        EditTestOption.TEST_THEN_SET,
        None,
    ),
    "stop-set-keeps-edits-before-the-error": (
        ErrorOption.STOP_ON_ERROR,
        EditTestOption.SET,
        # eth4's entry was created before its bad metric was reached
        with_interfaces("<name>eth3</name>", "<name>eth4</name>"),
    ),
    "continue-set-skips-only-the-bad-node": (
        ErrorOption.CONTINUE_ON_ERROR,
        EditTestOption.SET,
        with_interfaces("<name>eth3</name>", "<name>eth4</name>", "<name>eth5</name>"),
    ),
    "continue-test-then-set-applies-the-rest": (
        ErrorOption.CONTINUE_ON_ERROR,
        EditTestOption.TEST_THEN_SET,
        with_interfaces("<name>eth3</name>", "<name>eth4</name>", "<name>eth5</name>"),
    ),
    "rollback-set-changes-nothing": (
        ErrorOption.ROLLBACK_ON_ERROR,
        EditTestOption.SET,
        None,
    ),
    "test-only-changes-nothing": (
        ErrorOption.CONTINUE_ON_ERROR,
        EditTestOption.TEST_ONLY,
        None,
    ),
}


@pytest.mark.parametrize(
    ("error_option", "test_option", "expected"), OPTION_CASES.values(), ids=OPTION_CASES.keys()
)
def test_error_and_test_options(
    schema: Schema, error_option: ErrorOption, test_option: EditTestOption, expected: str | None
) -> None:
    target = base_store()
    result = edit_config(
        schema, target, config_element(MIXED), error_option=error_option, test_option=test_option
    )
    assert summary(result.errors) == [ETH4_METRIC]
    if expected is None:
        assert result.datastore is target
    else:
        assert dump(result.datastore) == dump(config_element(expected))


def test_continue_on_error_reports_every_error(schema: Schema) -> None:
    edit = ifs("<name>eth1</name><mtu>1</mtu><metric>0</metric>")
    result = edit_config(
        schema, base_store(), config_element(edit), error_option=ErrorOption.CONTINUE_ON_ERROR
    )
    assert [error.tag for error in result.errors] == [
        ErrorTag.UNKNOWN_ELEMENT,
        ErrorTag.INVALID_VALUE,
    ]


def test_set_skips_whole_datastore_validation(schema: Schema) -> None:
    two_strict = (
        f"<qos {N}><class><name>voice</name><priority>7</priority></class>"
        "<class><name>video</name><priority>7</priority></class></qos>"
    )
    result = edit_config(
        schema, base_store(), config_element(two_strict), test_option=EditTestOption.SET
    )
    assert result.errors == ()
    assert len(validate_datastore(schema, result.datastore)) == 2


def test_test_only_reports_validation_errors(schema: Schema) -> None:
    target = base_store()
    edit = ifs("<name>eth1</name>", "delete")
    result = edit_config(schema, target, config_element(edit), test_option=EditTestOption.TEST_ONLY)
    assert result.datastore is target
    assert [error.app_tag for error in result.errors] == ["instance-required"]


def test_test_only_valid_edit_is_ok_and_changes_nothing(schema: Schema) -> None:
    target = base_store()
    edit = ifs("<name>eth7</name>")
    result = edit_config(schema, target, config_element(edit), test_option=EditTestOption.TEST_ONLY)
    assert (result.datastore, result.errors) == (target, ())


# -- validation of a whole datastore ---------------------------------------------------

VALIDATION_CASES = {
    "duplicate-list-entry": (
        f"<interfaces {N}><interface><name>eth1</name></interface><interface><name>eth1</name>"
        "</interface></interfaces>",
        [("operation-failed", ETH1, "data-not-unique")],
    ),
    "duplicate-leaf": (
        f"<interfaces {N}><interface><name>eth1</name><metric>1</metric><metric>2</metric>"
        "</interface></interfaces>",
        [("bad-element", f"{ETH1}/npl:metric", None)],
    ),
    "state-in-config": (f"<state {N}/>", [("access-denied", "/npl:state", None)]),
    "unknown-top-level": (f"<routing {N}/>", [("unknown-element", "/", None)]),
    "leaf-with-children": (
        ifs("<name>eth1</name><metric><x/></metric>"),
        [("unknown-element", f"{ETH1}/npl:metric", None)],
    ),
    "bad-value-and-missing-key-in-document-order": (
        f"<interfaces {N}><interface><name>eth1</name><enabled>yes</enabled></interface>"
        "<interface><metric>3</metric></interface></interfaces>",
        [
            ("invalid-value", f"{ETH1}/npl:enabled", None),
            ("missing-element", "/npl:interfaces/npl:interface", None),
        ],
    ),
    "structure-errors-hide-semantic-checks": (
        f"<qos {N}><shaper><interface>nowhere</interface><class>video</class></shaper>"
        "<class><name>video</name><weight>0</weight></class></qos>",
        [("invalid-value", "/npl:qos/npl:class[npl:name='video']/npl:weight", None)],
    ),
    "semantic-errors-in-document-order": (
        f"<qos {N}><shaper><interface>nowhere</interface><class>video</class></shaper></qos>",
        [
            (
                "data-missing",
                "/npl:qos/npl:shaper[npl:interface='nowhere'][npl:class='video']/npl:rate-mbps",
                None,
            ),
            (
                "data-missing",
                "/npl:qos/npl:shaper[npl:interface='nowhere'][npl:class='video']/npl:interface",
                "instance-required",
            ),
        ],
    ),
    "quote-in-key-uses-double-quotes": (
        ifs("<name>it's</name><metric>0</metric>"),
        [("invalid-value", '/npl:interfaces/npl:interface[npl:name="it\'s"]/npl:metric', None)],
    ),
}


def test_valid_datastore_has_no_errors(schema: Schema) -> None:
    assert validate_datastore(schema, base_store()) == ()
    assert validate_datastore(schema, empty_datastore()) == ()
    check_datastore(schema, base_store())


@pytest.mark.parametrize(("body", "errors"), VALIDATION_CASES.values(), ids=VALIDATION_CASES.keys())
def test_validation_errors(
    schema: Schema, body: str, errors: list[tuple[str, str | None, str | None]]
) -> None:
    assert summary(validate_datastore(schema, config_element(body))) == errors


MUST_CASES = {
    "one-strict-class": (["7", "3"], []),
    "defaults-count-as-zero": (["7", None], []),
    "no-strict-class": ([None, None, "6"], []),
    "two-strict-classes": (["7", "7", "1"], ["video", "voice"]),
}


@pytest.mark.parametrize(("priorities", "violators"), MUST_CASES.values(), ids=MUST_CASES.keys())
def test_strict_priority_must(
    schema: Schema, priorities: list[str | None], violators: list[str]
) -> None:
    names = ["video", "voice", "bulk"]
    entries = "".join(
        f"<class><name>{name}</name>"
        + (f"<priority>{priority}</priority>" if priority is not None else "")
        + "</class>"
        for name, priority in zip(names, priorities, strict=False)
    )
    errors = validate_datastore(schema, config_element(f"<qos {N}>{entries}</qos>"))
    assert [error.path for error in errors] == [
        f"/npl:qos/npl:class[npl:name='{name}']" for name in violators
    ]
    assert all(
        error.message == "only one class may use strict priority level 7" for error in errors
    )


def test_check_datastore_raises_with_fields(schema: Schema) -> None:
    body = f"<qos {N}><class><name>video</name><weight>101</weight></class></qos>"
    with pytest.raises(DatastoreError) as caught:
        check_datastore(schema, config_element(body))
    error = caught.value
    assert (error.error_type, error.tag, error.severity.value) == (
        ErrorType.PROTOCOL,
        ErrorTag.INVALID_VALUE,
        "error",
    )
    assert error.path == "/npl:qos/npl:class[npl:name='video']/npl:weight"
    assert error.message == "101 is not in range 1 .. 100"
    assert error.app_tag is None


def test_datastores_equal(schema: Schema) -> None:
    assert datastores_equal(base_store(), base_store())
    changed = edit_config(
        schema,
        base_store(),
        config_element(ifs("<name>eth2</name><metric>2</metric>")),
    ).datastore
    assert not datastores_equal(base_store(), changed)


# -- subtree filters ------------------------------------------------------------------


def flt(body: str) -> ET.Element:
    return parse_xml(f'<filter xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</filter>')


FILTER_CASES = {
    "selection-of-a-leaf-keeps-keys": (
        ifs("<metric/>"),
        ifs("<name>eth1</name><metric>5</metric>"),
    ),
    "key-content-match-selects-whole-entry": (
        f"<qos {N}><class><name>video</name></class></qos>",
        f"<qos {N}><class><name>video</name><priority>5</priority></class></qos>",
    ),
    "content-match-with-absent-selection": (
        ifs("<name>eth2</name><description/>"),
        ifs("<name>eth2</name>"),
    ),
    "content-match-mismatch-selects-nothing": (
        ifs("<name>eth9</name>"),
        "",
    ),
    "all-content-matches-must-hold": (
        f"<qos {N}><shaper><interface>eth1</interface><class>voice</class></shaper></qos>",
        "",
    ),
    "multi-key-content-match": (
        f"<qos {N}><shaper><interface>eth1</interface><class>video</class><rate-mbps/>"
        "</shaper></qos>",
        f"<qos {N}><shaper><interface>eth1</interface><class>video</class>"
        "<rate-mbps>100</rate-mbps></shaper></qos>",
    ),
    "namespace-less-filter-matches-any-namespace": (
        '<qos xmlns=""><class/></qos>',
        f"<qos {N}><class><name>video</name><priority>5</priority></class></qos>",
    ),
    "base-namespace-filter-node-counts-as-namespace-less": (
        "<qos><class/></qos>",
        f"<qos {N}><class><name>video</name><priority>5</priority></class></qos>",
    ),
    "other-namespace-selects-nothing": ('<qos xmlns="urn:example:other"/>', ""),
    "sibling-filters-are-a-union": (
        f"<interfaces {N}><interface><name>eth1</name><metric/></interface>"
        "<interface><name>eth2</name></interface></interfaces>",
        f"<interfaces {N}><interface><name>eth1</name><metric>5</metric></interface>"
        "<interface><name>eth2</name></interface></interfaces>",
    ),
    "top-level-selection": (f"<qos {N}/>", BASE[BASE.index(f"<qos {N}>") :]),
    "empty-filter-selects-nothing": ("", ""),
}


@pytest.mark.parametrize(
    ("filter_body", "expected"), FILTER_CASES.values(), ids=FILTER_CASES.keys()
)
def test_subtree_filter(schema: Schema, filter_body: str, expected: str) -> None:
    selected = filter_subtree(schema, base_store(), flt(filter_body))
    assert dump(selected) == dump(config_element(expected))


def test_no_filter_returns_a_copy(schema: Schema) -> None:
    store = base_store()
    copied = filter_subtree(schema, store, None)
    assert dump(copied) == dump(store)
    assert copied is not store


def test_filter_on_state_keeps_keys_at_every_level(schema: Schema, backend) -> None:
    data = ET.Element("data")
    data.append(backend.operational_state())
    body = (
        f"<state {N}><interface><name>eth1</name><class><name>video</name><queue-delay-ms/>"
        "</class></interface></state>"
    )
    selected = filter_subtree(schema, data, flt(body))
    assert dump(selected) == (
        "<state><interface><name>eth1</name><class><name>video</name>"
        "<queue-delay-ms>1.5</queue-delay-ms></class></interface></state>"
    )
