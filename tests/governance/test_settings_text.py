"""An Action's parameters read as settings, never as a Python dict (pure, and on the page)."""

from django.template import Context, Template

from apps.core.formatting import settings_diff, settings_text


def test_nested_keys_are_dotted_one_setting_a_line():
    params = {"container": "api", "limits": {"memory": "2304Mi"}, "selector": {}, "x": [1, 2]}
    assert settings_text(params) == [
        "container: api",
        "limits.memory: 2304Mi",
        "selector: (none)",
        "x: 1, 2",
    ]
    assert settings_text({}) == []


def test_the_filter_escapes_and_wraps_each_setting():
    html = Template("{% load format %}{{ p|settings_list }}").render(
        Context({"p": {"reason": "<b>", "replicas": 3}})
    )
    assert html == (
        '<span class="setting">reason: &lt;b&gt;</span><span class="setting">replicas: 3</span>'
    )


def test_it_shows_each_change_as_old_to_new_and_says_what_stays():
    parameters = {"container": "api", "limits": {"memory": "3072Mi", "cpu": "500m"}}
    before = {"limits": {"memory": "1536Mi", "cpu": "500m"}, "requests": {"memory": "1Gi"}}
    assert settings_diff(parameters, before) == [
        "container: api",
        "limits.cpu: 500m (unchanged)",
        "limits.memory: 1536Mi → 3072Mi",
    ]
    assert settings_diff({"replicas": 5}, {}) == ["replicas: 5"]  # nothing recorded: no arrow
