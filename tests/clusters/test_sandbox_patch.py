import copy
import json

import pytest

from apps.clusters.sandbox.patch import PatchError, apply_patch, merge_patch, strategic_merge

JSON = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def deployment():
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "finalizers": ["a", "b"],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "shop/web:1.0",
                            "args": ["--port", "8080"],
                            "env": [
                                {"name": "MODE", "value": "prod"},
                                {"name": "LOG", "value": "info"},
                            ],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                            "resources": {"limits": {"cpu": "500m"}},
                        },
                        {"name": "sidecar", "image": "envoy:1.29"},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "web-cfg"}}],
                    "tolerations": [{"key": "spot", "operator": "Exists"}],
                },
            },
        },
        "status": {
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True"},
            ]
        },
    }


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def error_of(obj, body, content_type):
    with pytest.raises(PatchError) as caught:
        apply_patch(obj, body, content_type)
    return caught.value


# --- Dispatch and body parsing ---------------------------------------------------------------


def test_it_accepts_bytes_str_and_parsed_bodies():
    body = {"metadata": {"labels": {"tier": None, "team": "payments"}}}
    for raw in (json.dumps(body).encode(), json.dumps(body), body):
        patched = apply_patch(deployment(), raw, MERGE)
        assert patched["metadata"]["labels"] == {"app": "web", "team": "payments"}


def test_it_ignores_content_type_parameters_and_case():
    patched = apply_patch(
        deployment(), {"spec": {"replicas": 5}}, "Application/Merge-Patch+JSON; charset=utf-8"
    )
    assert patched["spec"]["replicas"] == 5


def test_it_rejects_apply_patch_with_415():
    error = error_of(deployment(), "{}", "application/apply-patch+yaml")
    assert error.status == 415
    assert "apply" in error.message


def test_it_rejects_unknown_content_types_with_415():
    error = error_of(deployment(), "{}", "text/plain")
    assert error.status == 415
    assert "text/plain" in error.message


def test_it_rejects_malformed_json_with_400():
    for content_type in (JSON, MERGE, STRATEGIC):
        error = error_of(deployment(), b"{not json", content_type)
        assert error.status == 400
        assert "not valid JSON" in error.message


def test_it_rejects_invalid_utf8_with_400():
    error = error_of(deployment(), b"\xff\xfe", MERGE)
    assert error.status == 400
    assert "UTF-8" in error.message


def test_it_rejects_non_object_merge_bodies_with_400():
    assert error_of(deployment(), "[1, 2]", MERGE).message == (
        "merge patch: patch body must be a JSON object"
    )
    assert error_of(deployment(), '"x"', STRATEGIC).message == (
        "strategic merge patch: patch body must be a JSON object"
    )
    assert error_of(deployment(), "null", STRATEGIC).status == 400


def test_it_rejects_non_list_json_patch_bodies_with_400():
    error = error_of(deployment(), '{"op": "add"}', JSON)
    assert error.status == 400
    assert "array" in error.message


def test_it_never_mutates_the_input_object_or_body():
    obj = deployment()
    original = copy.deepcopy(obj)
    bodies = [
        ({"spec": {"replicas": None, "template": {"metadata": {"labels": {"x": "1"}}}}}, MERGE),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "v2"}]}}}},
            STRATEGIC,
        ),
        ([{"op": "add", "path": "/metadata/labels/x", "value": "1"}], JSON),
        ([{"op": "remove", "path": "/spec/template/spec/containers/1"}], JSON),
    ]
    for body, content_type in bodies:
        body_before = copy.deepcopy(body)
        patched = apply_patch(obj, body, content_type)
        assert obj == original
        assert body == body_before
        assert patched != original


def test_it_does_not_share_nested_objects_with_the_input():
    obj = deployment()
    patched = apply_patch(obj, {"metadata": {"name": "web"}}, STRATEGIC)
    patched["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "NEW"})
    assert len(containers(obj)[0]["env"]) == 2


# --- JSON merge patch (RFC 7386) -------------------------------------------------------------


def test_it_merge_patches_recursively_and_deletes_nulls():
    result = merge_patch(
        {"a": {"b": 1, "c": 2}, "d": 3},
        {"a": {"b": None, "e": {"f": None, "g": 4}}, "d": None, "h": 5},
    )
    assert result == {"a": {"c": 2, "e": {"g": 4}}, "h": 5}


def test_it_merge_patch_replaces_lists_wholesale():
    patched = apply_patch(
        deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}},
        MERGE,
    )
    assert containers(patched) == [{"name": "only", "image": "x"}]


def test_it_merge_patch_replaces_scalars_with_objects_and_back():
    assert merge_patch({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert merge_patch({"a": {"b": 2}}, {"a": "flat"}) == {"a": "flat"}
    assert merge_patch({"a": 1}, ["x"]) == ["x"]


# --- Strategic merge patch -------------------------------------------------------------------


def test_it_applies_kubectl_rollout_restart():
    body = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
                }
            }
        }
    }
    obj = deployment()
    patched = apply_patch(obj, json.dumps(body).encode(), STRATEGIC)
    template = patched["spec"]["template"]
    assert template["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
    }
    assert template["spec"] == obj["spec"]["template"]["spec"]
    assert patched["spec"]["replicas"] == 2


def test_it_applies_kubectl_set_resources_and_keeps_other_containers():
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "resources": {
                                "limits": {"cpu": "1", "memory": "512Mi"},
                                "requests": {"cpu": "250m"},
                            },
                        }
                    ]
                }
            }
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    app, sidecar = containers(patched)
    assert app["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "250m"},
    }
    assert app["image"] == "shop/web:1.0"
    assert app["env"] == [{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}]
    assert sidecar == {"name": "sidecar", "image": "envoy:1.29"}


def test_it_applies_a_cordon_patch():
    node = {"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.0.1.0/24"}}
    patched = apply_patch(node, b'{"spec":{"unschedulable":true}}', STRATEGIC)
    assert patched["spec"] == {"podCIDR": "10.0.1.0/24", "unschedulable": True}
    uncordoned = apply_patch(patched, b'{"spec":{"unschedulable":null}}', STRATEGIC)
    assert uncordoned["spec"] == {"podCIDR": "10.0.1.0/24"}


def test_it_appends_new_keyed_elements_and_keeps_order():
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "debug", "image": "busybox"},
                        {"name": "sidecar", "image": "envoy:1.30"},
                    ]
                }
            }
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert [(c["name"], c["image"]) for c in containers(patched)] == [
        ("app", "shop/web:1.0"),
        ("sidecar", "envoy:1.30"),
        ("debug", "busybox"),
    ]


@pytest.mark.parametrize(
    ("field", "element", "expected_count"),
    [
        ("env", {"name": "MODE", "value": "dev"}, 2),
        ("env", {"name": "EXTRA", "value": "1"}, 3),
        ("volumeMounts", {"mountPath": "/etc/cfg", "readOnly": True}, 1),
        ("ports", {"containerPort": 8080, "name": "http"}, 1),
        ("ports", {"containerPort": 9090}, 2),
    ],
)
def test_it_merges_nested_container_lists_by_their_merge_key(field, element, expected_count):
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", field: [element]}]}}}}
    patched = apply_patch(deployment(), body, STRATEGIC)
    merged = containers(patched)[0][field]
    assert len(merged) == expected_count
    key = next(k for k in ("name", "mountPath", "containerPort") if k in element)
    match = next(item for item in merged if item[key] == element[key])
    assert element.items() <= match.items()


def test_it_merges_env_values_in_place():
    body = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": "dev"}]}]}
            }
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert containers(patched)[0]["env"] == [
        {"name": "MODE", "value": "dev"},
        {"name": "LOG", "value": "info"},
    ]


def test_it_merges_volumes_image_pull_secrets_and_owner_references():
    obj = {
        "metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs-1"}]},
        "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "old"}}, {"name": "tmp"}],
            "imagePullSecrets": [{"name": "regcred"}],
        },
    }
    body = {
        "metadata": {"ownerReferences": [{"uid": "u1", "controller": True}, {"uid": "u2"}]},
        "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "new"}}],
            "imagePullSecrets": [{"name": "other"}],
        },
    }
    patched = strategic_merge(obj, body)
    assert patched["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "ReplicaSet", "name": "rs-1", "controller": True},
        {"uid": "u2"},
    ]
    assert patched["spec"]["volumes"] == [
        {"name": "cfg", "configMap": {"name": "new"}},
        {"name": "tmp"},
    ]
    assert patched["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]


def test_it_merges_status_conditions_by_type():
    body = {
        "status": {
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "Deadline"},
                {"type": "ReplicaFailure", "status": "True"},
            ]
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert patched["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "False", "reason": "Deadline"},
        {"type": "ReplicaFailure", "status": "True"},
    ]


def test_it_merges_service_ports_by_port():
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patched = strategic_merge(service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


@pytest.mark.parametrize("field", ["tolerations", "args", "finalizers"])
def test_it_replaces_lists_without_a_merge_key(field):
    obj = {"tolerations": [{"key": "spot"}], "args": ["a", "b"], "finalizers": ["x", "y"]}
    new_value = [{"key": "gpu"}] if field == "tolerations" else ["z"]
    patched = strategic_merge(obj, {field: new_value})
    assert patched[field] == new_value
    assert {k: v for k, v in patched.items() if k != field} == {
        k: v for k, v in obj.items() if k != field
    }


def test_it_replaces_command_lists():
    patched = strategic_merge({"command": ["sh", "-c", "old"]}, {"command": ["python"]})
    assert patched == {"command": ["python"]}


def test_it_deletes_keyed_elements_with_the_delete_directive():
    body = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"$patch": "delete", "name": "sidecar"},
                        {"name": "app", "env": [{"$patch": "delete", "name": "LOG"}]},
                    ]
                }
            }
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert [c["name"] for c in containers(patched)] == ["app"]
    assert containers(patched)[0]["env"] == [{"name": "MODE", "value": "prod"}]


def test_it_ignores_deletes_of_missing_elements():
    patched = strategic_merge(
        {"env": [{"name": "A"}]}, {"env": [{"$patch": "delete", "name": "B"}]}
    )
    assert patched == {"env": [{"name": "A"}]}


def test_it_replaces_a_dict_wholesale_with_the_replace_directive():
    body = {"spec": {"selector": {"$patch": "replace", "matchLabels": {"app": "new"}}}}
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert patched["spec"]["selector"] == {"matchLabels": {"app": "new"}}
    replaced = strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}})
    assert replaced == {"a": {"d": 3}}


def test_it_replaces_a_keyed_list_with_a_replace_element():
    patched = strategic_merge(
        {"env": [{"name": "A"}, {"name": "B"}]},
        {"env": [{"$patch": "replace"}, {"name": "C", "value": "1"}]},
    )
    assert patched == {"env": [{"name": "C", "value": "1"}]}


def test_it_deletes_a_dict_field_with_the_delete_directive():
    patched = strategic_merge({"a": {"b": 1}, "c": 2}, {"a": {"$patch": "delete"}})
    assert patched == {"c": 2}


def test_it_deletes_null_keys_in_strategic_patches():
    body = {"metadata": {"annotations": None, "labels": {"tier": None}}}
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert "annotations" not in patched["metadata"]
    assert patched["metadata"]["labels"] == {"app": "web"}


def test_it_ignores_set_element_order_and_retain_keys():
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "name": "app",
                            "$setElementOrder/env": [{"name": "MODE"}, {"name": "LOG"}],
                            "image": "shop/web:2.0",
                        }
                    ],
                },
            },
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        }
    }
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert [(c["name"], c["image"]) for c in containers(patched)] == [
        ("app", "shop/web:2.0"),
        ("sidecar", "envoy:1.29"),
    ]
    assert patched["spec"]["strategy"] == {"type": "Recreate"}
    assert "$" not in json.dumps(patched)


def test_it_deletes_from_primitive_lists():
    body = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "missing"]}}
    patched = apply_patch(deployment(), body, STRATEGIC)
    assert patched["metadata"]["finalizers"] == ["b"]


def test_it_strips_directives_from_new_elements():
    patched = strategic_merge(
        {}, {"containers": [{"name": "x", "$setElementOrder/env": [], "env": [{"name": "A"}]}]}
    )
    assert patched == {"containers": [{"name": "x", "env": [{"name": "A"}]}]}


def test_it_rejects_keyed_elements_without_a_merge_key_with_422():
    body = {"spec": {"template": {"spec": {"containers": [{"image": "nameless"}]}}}}
    error = error_of(deployment(), body, STRATEGIC)
    assert error.status == 422
    assert (
        error.message
        == "strategic merge patch: element of 'containers' is missing merge key 'name'"
    )


def test_it_rejects_unknown_patch_directives_with_400():
    error = error_of(deployment(), {"spec": {"$patch": "explode"}}, STRATEGIC)
    assert error.status == 400
    assert "explode" in error.message


def test_it_rejects_a_non_list_delete_from_primitive_list():
    error = error_of(
        deployment(), {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, STRATEGIC
    )
    assert error.status == 400
    assert "$deleteFromPrimitiveList/finalizers" in error.message


# --- JSON patch (RFC 6902) -------------------------------------------------------------------


def test_it_applies_kubectl_rollout_undo_json_patch():
    old_template = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
        "spec": {"containers": [{"name": "app", "image": "shop/web:0.9"}]},
    }
    annotations = {"deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "undo"}
    body = [
        {"op": "replace", "path": "/spec/template", "value": old_template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    patched = apply_patch(deployment(), json.dumps(body).encode(), JSON)
    assert patched["spec"]["template"] == old_template
    assert patched["metadata"]["annotations"] == annotations
    assert patched["spec"]["replicas"] == 2


def test_it_applies_every_json_patch_operation():
    body = [
        {"op": "add", "path": "/metadata/labels/team", "value": "payments"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "copy", "from": "/metadata/labels/team", "path": "/metadata/labels/owner"},
        {"op": "move", "from": "/metadata/finalizers", "path": "/metadata/oldFinalizers"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "x"}},
        {"op": "test", "path": "/spec/replicas", "value": 4},
    ]
    patched = apply_patch(deployment(), body, JSON)
    assert patched["metadata"]["labels"] == {"app": "web", "team": "payments", "owner": "payments"}
    assert patched["spec"]["replicas"] == 4
    assert "finalizers" not in patched["metadata"]
    assert patched["metadata"]["oldFinalizers"] == ["a", "b"]
    assert [c["name"] for c in containers(patched)] == ["app", "sidecar", "x"]


def test_it_reports_a_failed_json_patch_test_with_422():
    error = error_of(deployment(), [{"op": "test", "path": "/spec/replicas", "value": 3}], JSON)
    assert error.status == 422
    assert error.message == "json patch: test failed at path '/spec/replicas'"


def test_it_does_not_treat_true_as_one_in_json_patch_test():
    error = error_of(deployment(), [{"op": "test", "path": "/spec/replicas", "value": True}], JSON)
    assert error.status == 422


@pytest.mark.parametrize(
    ("op", "missing"),
    [
        ({"op": "replace", "path": "/spec/foo", "value": 1}, "/spec/foo"),
        ({"op": "remove", "path": "/spec/foo"}, "/spec/foo"),
        ({"op": "add", "path": "/spec/foo/bar", "value": 1}, "/spec/foo"),
        ({"op": "move", "from": "/spec/foo", "path": "/spec/bar"}, "/spec/foo"),
        ({"op": "copy", "from": "/spec/foo", "path": "/spec/bar"}, "/spec/foo"),
        ({"op": "test", "path": "/spec/foo", "value": 1}, "/spec/foo"),
        (
            {"op": "replace", "path": "/spec/template/spec/containers/7", "value": {}},
            "/spec/template/spec/containers/7",
        ),
        ({"op": "remove", "path": "/spec/replicas/x"}, "/spec/replicas/x"),
    ],
)
def test_it_reports_missing_json_patch_paths_with_422(op, missing):
    error = error_of(deployment(), [op], JSON)
    assert error.status == 422
    assert error.message == f"json patch: path '{missing}' does not exist"


def test_it_reports_an_out_of_range_insert_with_422():
    body = [{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}]
    error = error_of(deployment(), body, JSON)
    assert error.status == 422
    assert error.message == (
        "json patch: add at '/spec/template/spec/containers/5' failed: can't insert outside of list"
    )


def test_it_leaves_the_object_alone_when_a_later_json_patch_op_fails():
    obj = deployment()
    body = [
        {"op": "replace", "path": "/spec/replicas", "value": 9},
        {"op": "remove", "path": "/spec/missing"},
    ]
    error_of(obj, body, JSON)
    assert obj["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("op", "fragment"),
    [
        ("not-an-object", "operation 0 is not a JSON object"),
        ({"path": "/a"}, "unknown op None"),
        ({"op": "explode", "path": "/a"}, "unknown op 'explode'"),
        ({"op": "add", "value": 1}, "operation 0 (add) is missing 'path'"),
        ({"op": "replace", "path": "/a"}, "operation 0 (replace) is missing 'value'"),
        ({"op": "move", "path": "/a"}, "operation 0 (move) is missing 'from'"),
        ({"op": "add", "path": "spec", "value": 1}, "invalid path 'spec'"),
    ],
)
def test_it_rejects_malformed_json_patch_operations_with_400(op, fragment):
    error = error_of(deployment(), [op], JSON)
    assert error.status == 400
    assert fragment in error.message


def test_it_rejects_a_json_patch_that_replaces_the_root_with_a_non_object():
    error = error_of(deployment(), [{"op": "replace", "path": "", "value": [1]}], JSON)
    assert error.status == 422
    assert "not a JSON object" in error.message


def test_it_allows_an_empty_json_patch():
    assert apply_patch(deployment(), b"[]", JSON) == deployment()
