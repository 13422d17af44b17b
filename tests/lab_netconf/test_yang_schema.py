"""Unit tests of the YANG subset parser (lab.yang_schema)."""

from __future__ import annotations

import pytest

from lab.yang_schema import (
    MUST_PREDICATES,
    BaseType,
    Container,
    InvalidValueError,
    Leaf,
    ListNode,
    Schema,
    YangError,
    load_schema,
    parse_statements,
)

NS = "urn:netpilot:lab"


def tag(name: str, namespace: str = NS) -> str:
    return f"{{{namespace}}}{name}"


def module(body: str, *, header: str = "") -> str:
    return f"""module t {{
  namespace "urn:t";
  prefix t;
  {header}
  {body}
}}"""


def leaf_type(schema: Schema, *path: str):
    node = schema.children[tag(path[0], "urn:t")]
    for name in path[1:]:
        node = node.children[tag(name, "urn:t")]
    assert isinstance(node, Leaf)
    return node


# -- the shipped module ---------------------------------------------------------------


def test_lab_module_identity(schema: Schema) -> None:
    assert (schema.module, schema.namespace, schema.prefix) == ("netpilot-lab", NS, "npl")
    assert schema.revision == "2026-12-01"
    assert schema.capability == "urn:netpilot:lab?module=netpilot-lab&revision=2026-12-01"
    # the 2026-12-01 revision only added nodes: the first revision's stay, in order
    assert list(schema.children) == [
        tag("interfaces"),
        tag("radio"),
        tag("subscribers"),
        tag("qos"),
        tag("state"),
    ]
    assert list(schema.notifications) == [
        "link-state-change",
        "power-state-change",
        "config-change",
    ]


def test_lab_module_lists_and_keys(schema: Schema) -> None:
    qos = schema.children[tag("qos")]
    assert isinstance(qos, Container)
    shaper = qos.children[tag("shaper")]
    assert isinstance(shaper, ListNode)
    assert shaper.keys == ("interface", "class")
    assert shaper.key_tags == (tag("interface"), tag("class"))
    cls = qos.children[tag("class")]
    assert isinstance(cls, ListNode)
    assert [must.error_app_tag for must in cls.musts] == ["strict-priority-exclusive"]
    assert cls.musts[0].error_message == "only one class may use strict priority level 7"


def test_lab_module_leaves(schema: Schema) -> None:
    interface = schema.children[tag("interfaces")].children[tag("interface")]
    metric = interface.children[tag("metric")]
    enabled = interface.children[tag("enabled")]
    assert isinstance(metric, Leaf)
    assert isinstance(enabled, Leaf)
    assert metric.type.range is not None
    assert (metric.type.base, metric.default, metric.type.range.text) == (
        BaseType.UINT32,
        "10",
        "1 .. 65535",
    )
    assert (enabled.type.base, enabled.default) == (BaseType.BOOLEAN, "true")
    rate = schema.children[tag("qos")].children[tag("shaper")].children[tag("rate-mbps")]
    assert isinstance(rate, Leaf)
    assert (rate.mandatory, rate.units) == (True, "Mbit/s")
    ref = schema.children[tag("qos")].children[tag("shaper")].children[tag("interface")]
    assert isinstance(ref, Leaf)
    assert ref.type.base is BaseType.LEAFREF
    assert ref.type.leafref is not None
    assert ref.type.leafref.steps == (tag("interfaces"), tag("interface"), tag("name"))
    assert ref.type.leafref_target is not None
    assert ref.type.leafref_target.length is not None  # string length 1..32 of the target


def test_lab_module_typedefs_and_config_false(schema: Schema) -> None:
    state = schema.children[tag("state")]
    assert not state.config
    probe = state.children[tag("probe")]
    latency = probe.children[tag("latency-ms")]
    assert isinstance(latency, Leaf)
    assert not latency.config
    assert (latency.type.name, latency.type.base, latency.units) == (
        "milliseconds",
        BaseType.DECIMAL64,
        "milliseconds",
    )
    assert schema.typedefs["traffic-class"].enums == (
        "video",
        "voice",
        "gaming",
        "bulk",
        "best-effort",
    )
    assert schema.typedefs["ratio"].fraction_digits == 6


def test_walk_visits_every_node_depth_first(schema: Schema) -> None:
    names = [node.name for node in schema.walk()]
    assert names[:6] == ["interfaces", "interface", "name", "description", "enabled", "metric"]
    assert len(names) == 70


# -- tokenizer --------------------------------------------------------------------------


def test_statement_parser_strings_and_comments() -> None:
    text = """
    // line comment
    m x { /* block
    comment */
      a "one" + 'two' +
        "three";
      b 'single "quoted" \\n';
      c "esc\\t\\"q\\"\\\\";
      d unquoted-word;
      e;
    }
    """
    top = parse_statements(text)
    args = {sub.keyword: sub.argument for sub in top.substatements}
    assert args == {
        "a": "onetwothree",
        "b": 'single "quoted" \\n',
        "c": 'esc\t"q"\\',
        "d": "unquoted-word",
        "e": None,
    }
    assert [sub.line for sub in top.substatements] == [5, 7, 8, 9, 10]


def test_double_quoted_multiline_trimming() -> None:
    text = 'd "first line   \n     second\n       indented";'
    statement = parse_statements(text)
    # whitespace up to and including the quote's column (2) goes, and so does trailing
    # whitespace before a line break
    assert statement.argument == "first line\n  second\n    indented"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('m x { a "open; }', "unterminated double-quoted string", id="open-string"),
        pytest.param("m x { a b;", "never closed", id="open-block"),
        pytest.param("m x { a b }", "expected ';' or '{'", id="missing-semicolon"),
        pytest.param('m x { a "x" + b; }', r"'\+' must join two quoted strings", id="bad-concat"),
        pytest.param('m x { a "\\q"; }', "invalid escape", id="bad-escape"),
        pytest.param("m x {} n y {}", "after the module", id="two-tops"),
        pytest.param("m x { /* never", r"unterminated /\* comment", id="open-comment"),
    ],
)
def test_statement_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(YangError, match=message):
        parse_statements(text)


# -- types ------------------------------------------------------------------------------

TYPES = module(
    """
    typedef pct { type uint8 { range "0 .. 100"; } default "5"; units "percent"; }
    typedef small-pct { type pct { range "min .. 10"; } }
    container c {
      leaf u8 { type uint8 { range "1 .. 7 | 9"; } }
      leaf i16 { type int16; }
      leaf d { type decimal64 { fraction-digits 2; range "-1.5 .. 2"; } }
      leaf s { type string {
        length "2 .. 4" { error-message "bad length"; error-app-tag "len"; } } }
      leaf b { type boolean; }
      leaf e { type enumeration { enum red; enum green; } }
      leaf p { type small-pct; }
      leaf name { type string; }
      leaf ref { type leafref { path "../name"; } }
    }
    """
)


@pytest.fixture(scope="module")
def types_schema() -> Schema:
    return load_schema(TYPES)


@pytest.mark.parametrize(
    ("leaf", "value", "canonical"),
    [
        pytest.param("u8", "7", "7", id="uint8"),
        pytest.param("u8", " +09 ", "9", id="uint8-canonical"),
        pytest.param("i16", "-32768", "-32768", id="int16-min"),
        pytest.param("d", "1.5", "1.5", id="decimal"),
        pytest.param("d", "-1.50", "-1.5", id="decimal-trailing-zero"),
        pytest.param("d", "2", "2.0", id="decimal-integer"),
        pytest.param("d", "-0.00", "0.0", id="decimal-negative-zero"),
        pytest.param("s", "ab ", "ab ", id="string-keeps-spaces"),
        pytest.param("b", "false", "false", id="boolean"),
        pytest.param("e", "green", "green", id="enum"),
        pytest.param("p", "10", "10", id="derived-typedef"),
        pytest.param("ref", "anything", "anything", id="leafref-to-string"),
    ],
)
def test_canonical_values(types_schema: Schema, leaf: str, value: str, canonical: str) -> None:
    assert leaf_type(types_schema, "c", leaf).type.canonical(value) == canonical


@pytest.mark.parametrize(
    ("leaf", "value", "message", "app_tag"),
    [
        pytest.param("u8", "8", "8 is not in range 1 .. 7 | 9", None, id="range-gap"),
        pytest.param("u8", "256", "out of the uint8 range", None, id="uint8-bounds"),
        pytest.param("u8", "1.0", "not an integer", None, id="not-integer"),
        pytest.param("i16", "0x10", "not an integer", None, id="hex"),
        pytest.param("d", "1.234", "more than 2 fraction digits", None, id="fraction-digits"),
        pytest.param("d", "2.01", "not in range -1.5 .. 2", None, id="decimal-range"),
        pytest.param("d", "1e3", "not a decimal", None, id="exponent"),
        pytest.param("s", "a", "bad length", "len", id="length-custom-message"),
        pytest.param("b", "True", "not a boolean", None, id="boolean-case"),
        pytest.param("e", "blue", "not one of red, green", "not-in-value-set", id="enum"),
        pytest.param("p", "11", "not in range min .. 10", None, id="narrowed-typedef"),
    ],
)
def test_invalid_values(
    types_schema: Schema, leaf: str, value: str, message: str, app_tag: str | None
) -> None:
    with pytest.raises(InvalidValueError, match=message) as caught:
        leaf_type(types_schema, "c", leaf).type.canonical(value)
    assert caught.value.app_tag == app_tag


def test_typedef_units_and_default_are_inherited(types_schema: Schema) -> None:
    p = leaf_type(types_schema, "c", "p")
    assert (p.units, p.effective_default, p.default) == ("percent", "5", None)


# -- loud failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            "import ietf-yang-types { prefix yang; }", "unsupported statement 'import'", id="import"
        ),
        pytest.param(
            "grouping g { leaf x { type string; } }",
            "unsupported statement 'grouping'",
            id="grouping",
        ),
        pytest.param(
            "leaf-list l { type string; }", "unsupported statement 'leaf-list'", id="leaf-list"
        ),
        pytest.param(
            'container c { presence "p"; }', "unsupported statement 'presence'", id="presence"
        ),
        pytest.param(
            'container c { leaf x { type string { pattern "[a-z]+"; } } }',
            "unsupported statement 'pattern'",
            id="pattern",
        ),
        pytest.param(
            'leaf x { type string; when "../y"; }', "unsupported statement 'when'", id="when"
        ),
        pytest.param("leaf x { type empty; }", "unknown type 'empty'", id="unknown-type"),
        pytest.param(
            'leaf x { type string { range "1..2"; } }',
            "'range' does not apply to string",
            id="range-on-string",
        ),
        pytest.param(
            'leaf x { type uint8 { range "1..300"; } }', "does not narrow", id="range-beyond-type"
        ),
        pytest.param(
            'leaf x { type uint8 { range "5..1"; } }', "not ascending", id="range-descending"
        ),
        pytest.param(
            "leaf x { type decimal64; }", "needs 'fraction-digits'", id="decimal-without-digits"
        ),
        pytest.param("leaf x { type enumeration; }", "at least one 'enum'", id="empty-enum"),
        pytest.param(
            'leaf x { type uint8; default "300"; }', "invalid default '300'", id="bad-default"
        ),
        pytest.param(
            "leaf x { type uint8; default 1; mandatory true; }",
            "mandatory and has a default",
            id="mandatory-default",
        ),
        pytest.param("list l { leaf a { type string; } }", "needs a 'key'", id="list-without-key"),
        pytest.param(
            'list l { key "b"; leaf a { type string; } }', "key 'b' is not a leaf", id="bad-key"
        ),
        pytest.param(
            'leaf x { type leafref { path "/t:nowhere"; } }',
            "no node 'nowhere'",
            id="dangling-leafref",
        ),
        pytest.param(
            "leaf x { type leafref { path \"/c[k='1']/v\"; } }",
            "predicates are not supported",
            id="leafref-predicate",
        ),
        pytest.param("leaf x { type other:thing; }", "unknown prefix 'other'", id="foreign-prefix"),
        pytest.param(
            "container c { config false; leaf x { type string; config true; } }",
            "config true under a config false",
            id="config-true-under-false",
        ),
        pytest.param(
            "leaf x { type string; must \"x != 'y'\"; }",
            "has no registered implementation",
            id="unknown-must",
        ),
        pytest.param(
            "typedef a { type b; } typedef b { type a; }", "refers to itself", id="typedef-loop"
        ),
    ],
)
def test_unsupported_or_invalid_yang_fails_loudly(body: str, message: str) -> None:
    with pytest.raises(YangError, match=message):
        load_schema(module(body), source="t.yang")


def test_error_names_source_and_line() -> None:
    text = module('\n\n  leaf x { type string; must "1 = 1"; }')
    with pytest.raises(YangError, match=r"^t\.yang:7: ") as caught:
        load_schema(text, source="t.yang")
    assert "MUST_PREDICATES" in str(caught.value)


def test_must_registry_is_injectable_and_exact() -> None:
    body = "leaf x { type string; must \"x != 'y'\"; }"
    schema = load_schema(module(body), must_predicates={"x != 'y'": lambda ctx: True})
    leaf = schema.children[tag("x", "urn:t")]
    assert [must.expression for must in leaf.musts] == ["x != 'y'"]
    with pytest.raises(YangError, match="no registered implementation"):
        # the same expression with other spacing is another expression: no silent match
        load_schema(
            module(body.replace("!=", " != ")), must_predicates={"x != 'y'": lambda ctx: True}
        )


def test_lab_registry_covers_the_shipped_must() -> None:
    assert "priority < 7 or count(../class[priority = 7]) = 1" in MUST_PREDICATES


def test_descriptive_statements_are_ignored() -> None:
    text = module(
        """
        revision 2020-01-01 { description "old"; reference "r"; }
        revision 2021-02-03 { description "new"; }
        container c { description "d"; reference "r";
          leaf x { type string; description "x"; reference "rfc"; units "u"; } }
        """,
        header='organization "o"; contact "c"; yang-version 1.1; description "m";',
    )
    schema = load_schema(text)
    assert schema.revision == "2021-02-03"
    assert leaf_type(schema, "c", "x").units == "u"
