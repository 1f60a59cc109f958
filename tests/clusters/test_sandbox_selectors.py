import copy

import pytest

from apps.clusters.labels import (
    LabelSelector,
    SelectorError,
    format_label_selector,
    parse_label_selector,
    selector_from_match,
)
from apps.clusters.sandbox.selectors import FieldSelector, parse_field_selector

WEB = {"app": "web", "tier": "frontend", "app.kubernetes.io/name": "shop", "empty": ""}
DB = {"app": "db", "tier": "backend"}
BARE: dict[str, str] = {}


def matching(text):
    selector = parse_label_selector(text)
    return [
        name
        for name, labels in (("web", WEB), ("db", DB), ("bare", BARE))
        if selector.matches(labels)
    ]


# --- Label selector strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["web", "db", "bare"]),
        ("   ", ["web", "db", "bare"]),
        ("app=web", ["web"]),
        ("app==web", ["web"]),
        ("app!=web", ["db", "bare"]),
        ("app in (web,db)", ["web", "db"]),
        ("app in (web)", ["web"]),
        ("app notin (web,cache)", ["db", "bare"]),
        ("tier", ["web", "db"]),
        ("!tier", ["bare"]),
        ("app.kubernetes.io/name=shop", ["web"]),
        ("empty=", ["web"]),
        ("empty!=", ["db", "bare"]),
        ("app=web,tier=frontend", ["web"]),
        ("app=web,tier=backend", []),
        ("app in (web,db),tier!=backend", ["web"]),
        ("tier,!empty", ["db"]),
        ("  app  in  ( web , db ) ,  tier = backend ", ["db"]),
        ("app notin (web),!tier", ["bare"]),
    ],
)
def test_it_matches_label_selector_strings(text, expected):
    assert matching(text) == expected


def test_it_parses_requirements_with_operators_and_values():
    selector = parse_label_selector("a=1,b!=2,c in (x,y),d notin (z),e,!f")
    assert [(r.key, r.operator, r.values) for r in selector.requirements] == [
        ("a", "=", ("1",)),
        ("b", "!=", ("2",)),
        ("c", "in", ("x", "y")),
        ("d", "notin", ("z",)),
        ("e", "exists", ()),
        ("f", "!", ()),
    ]


def test_it_treats_empty_selectors_as_match_everything():
    selector = parse_label_selector("")
    assert selector == LabelSelector()
    assert selector.empty
    assert selector.matches({})
    assert selector.matches(None)


def test_it_keeps_commas_inside_parentheses_in_the_value_set():
    selector = parse_label_selector("env in (prod,staging,dev),app=web")
    assert len(selector.requirements) == 2
    assert selector.requirements[0].values == ("prod", "staging", "dev")
    assert selector.matches({"env": "dev", "app": "web"})
    assert not selector.matches({"env": "qa", "app": "web"})


def test_it_renders_a_parsed_selector_back_to_a_string():
    text = "app=web,tier!=db,env in (b,a),zone notin (x),gpu,!spot"
    assert str(parse_label_selector(text)) == (
        "app=web,tier!=db,env in (a,b),zone notin (x),gpu,!spot"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a in b", "expected '(' after 'in'"),
        ("a notin b", "expected '(' after 'notin'"),
        ("=x", "expected a label key, found '='"),
        ("a in (b", "unbalanced parentheses"),
        ("a in (b,c", "unbalanced parentheses"),
        ("a=b)", "expected ',' between requirements, found ')'"),
        ("(a)", "expected a label key, found '('"),
        ("a!", "expected an operator after key 'a', found '!'"),
        ("a b", "expected an operator after key 'a', found 'b'"),
        ("a in ()", "values set for 'in' can't be empty"),
        ("a in (b c)", "unexpected 'c' in value set"),
        ("a=b,", "expected a label key, found end of input"),
        (",a=b", "expected a label key, found ','"),
        ("a=b,,c=d", "expected a label key, found ','"),
        ("a=!b", "expected a value, found '!'"),
        ("a===b", "expected a value, found '='"),
        ("!a=b", "expected ',' between requirements, found '='"),
        ("a$b=c", "invalid label key 'a$b'"),
        ("-a=b", "invalid label key '-a'"),
        ("Upper.Case/x=y", "invalid label key 'Upper.Case/x'"),
        ("a/b/c=d", "invalid label key 'a/b/c'"),
        ("a=b$", "invalid label value 'b$'"),
        ("a=" + "v" * 64, "invalid label value"),
        ("k" * 64 + "=v", "invalid label key"),
        ("a in (x$)", "invalid label value 'x$'"),
    ],
)
def test_it_rejects_invalid_label_selectors(text, fragment):
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    assert fragment in str(caught.value)
    assert repr(text) in str(caught.value)


def test_it_accepts_double_equals_with_an_empty_value():
    selector = parse_label_selector("a==")
    assert selector.matches({"a": ""})
    assert not selector.matches({"a": "x"})
    assert not selector.matches({})


def test_it_accepts_max_length_keys_and_values():
    key = "example.com/" + "k" * 63
    selector = parse_label_selector(f"{key}={'v' * 63}")
    assert selector.matches({key: "v" * 63})


def test_it_allows_keywords_as_values():
    assert parse_label_selector("mode=in").matches({"mode": "in"})
    assert parse_label_selector("mode in (in,notin)").matches({"mode": "notin"})


# --- LabelSelector objects -------------------------------------------------------------------


def test_it_builds_a_selector_from_match_labels_and_expressions():
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "app.kubernetes.io/name", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    original = copy.deepcopy(spec)
    selector = selector_from_match(spec)
    assert selector.matches(WEB)
    assert not selector.matches(DB)
    assert not selector.matches({**WEB, "canary": "yes"})
    assert not selector.matches({**WEB, "env": "dev"})
    assert selector.matches({**WEB, "env": "prod"})
    assert spec == original


@pytest.mark.parametrize("spec", [{}, None, {"matchLabels": {}, "matchExpressions": []}])
def test_it_matches_everything_with_an_empty_selector_object(spec):
    selector = selector_from_match(spec)
    assert selector.empty
    assert selector.matches(DB)
    assert selector.matches(BARE)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ({"key": "a", "operator": "Gt", "values": ["1"]}, "unknown operator 'Gt' for key 'a'"),
        ({"key": "a", "operator": "in", "values": ["1"]}, "unknown operator 'in'"),
        ({"key": "a"}, "unknown operator None"),
        ({"key": "a", "operator": "In", "values": []}, "operator 'In' for key 'a' needs values"),
        ({"key": "a", "operator": "NotIn"}, "operator 'NotIn' for key 'a' needs values"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "takes no values"),
        ({"key": "a", "operator": "DoesNotExist", "values": ["x"]}, "takes no values"),
        ({"key": "bad key", "operator": "Exists"}, "invalid label key 'bad key'"),
        ({"key": "a", "operator": "In", "values": ["no spaces"]}, "invalid label value"),
        ("a=b", "matchExpressions entries must be objects"),
    ],
)
def test_it_rejects_invalid_match_expressions(expression, fragment):
    with pytest.raises(SelectorError) as caught:
        selector_from_match({"matchExpressions": [expression]})
    assert fragment in str(caught.value)


def test_it_rejects_invalid_match_labels():
    with pytest.raises(SelectorError, match="invalid label value 'a b'"):
        selector_from_match({"matchLabels": {"app": "a b"}})


def test_it_formats_a_selector_object_sorted_by_key():
    spec = {
        "matchLabels": {"tier": "frontend", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["qa", "dev"]},
            {"key": "zone", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "gpu", "operator": "Exists"},
        ],
    }
    text = format_label_selector(spec)
    assert text == "app=web,!canary,env notin (dev,qa),gpu,tier=frontend,zone in (a,b)"
    assert parse_label_selector(text).matches(
        {"app": "web", "tier": "frontend", "gpu": "1", "zone": "a"}
    )


def test_it_formats_a_plain_deployment_selector_for_scale_status():
    assert format_label_selector({"matchLabels": {"app": "web"}}) == "app=web"
    assert format_label_selector({}) == ""


# --- Field selectors -------------------------------------------------------------------------


POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIP": "10.0.0.7"},
}
NODE = {"metadata": {"name": "node-1"}, "spec": {"unschedulable": True}}
EVENT = {"involvedObject": {"uid": "abc-123", "kind": "Pod"}, "count": 3}


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("", POD, True),
        ("metadata.name=web-1", POD, True),
        ("metadata.name==web-1", POD, True),
        ("metadata.name!=web-1", POD, False),
        ("metadata.name=web-2", POD, False),
        ("spec.nodeName=node-1,status.phase=Running", POD, True),
        ("spec.nodeName=node-1,status.phase!=Running", POD, False),
        ("status.phase!=Succeeded,status.phase!=Failed", POD, True),
        ("spec.nodeName=", POD, False),
        ("spec.nodeName=", NODE, True),
        ("spec.nodeName!=", NODE, False),
        ("spec.unschedulable=true", NODE, True),
        ("spec.unschedulable=false", NODE, False),
        ("spec.unschedulable!=true", NODE, False),
        ("spec.unschedulable=false", {"spec": {"unschedulable": False}}, True),
        ("involvedObject.uid=abc-123", EVENT, True),
        ("count=3", EVENT, True),
        ("metadata.name.deeper=", POD, True),
        (" metadata.name = web-1 ", POD, True),
        ("metadata.name=web-1,", POD, True),
    ],
)
def test_it_matches_field_selectors(text, obj, expected):
    assert parse_field_selector(text).matches(obj) is expected


def test_it_lists_the_paths_a_field_selector_uses():
    selector = parse_field_selector("metadata.name=a,spec.nodeName!=b,metadata.name==c")
    assert selector.paths == ("metadata.name", "spec.nodeName", "metadata.name")
    assert parse_field_selector("").paths == ()
    assert parse_field_selector("") == FieldSelector()


def test_it_parses_field_requirements_and_renders_them():
    selector = parse_field_selector("metadata.name==a,spec.nodeName!=b")
    assert [(r.path, r.operator, r.value) for r in selector.requirements] == [
        ("metadata.name", "=", "a"),
        ("spec.nodeName", "!=", "b"),
    ]
    assert str(selector) == "metadata.name=a,spec.nodeName!=b"


def test_it_unescapes_field_selector_values():
    selector = parse_field_selector(r"metadata.name=a\,b\=c,status.phase=Running")
    assert selector.requirements[0].value == "a,b=c"
    assert selector.matches({"metadata": {"name": "a,b=c"}, "status": {"phase": "Running"}})


def test_it_does_not_mutate_the_object_when_matching_fields():
    obj = copy.deepcopy(POD)
    parse_field_selector("spec.missing.deep=x,metadata.name=web-1").matches(obj)
    assert obj == POD


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metadata.name", "term 'metadata.name' needs '=', '==' or '!='"),
        ("status.phase=Running,bogus", "term 'bogus' needs"),
        ("=web", "invalid path ''"),
        ("metadata..name=x", "invalid path 'metadata..name'"),
        ("metadata name=x", "invalid path 'metadata name'"),
        (".name=x", "invalid path '.name'"),
    ],
)
def test_it_rejects_invalid_field_selectors(text, fragment):
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert fragment in str(caught.value)
