"""Money reads one way on every page and in every text: a real minus sign, thousands grouped."""

import pytest
from django.template import Context, Template

from apps.core.formatting import usd
from apps.costs.action_cost import monthly_text


@pytest.mark.parametrize(
    ("amount", "kw", "text"),
    [
        (-7.08, {}, "\u2212$7.08"),
        (1234.5, {}, "$1,234.50"),
        (0.00312, {"places": 4}, "$0.0031"),
        (3.2, {"signed": True}, "+$3.20"),
        (-0.004, {}, "$0.00"),  # rounds to nothing: no sign on zero
    ],
)
def test_it_writes_dollars_with_a_real_minus_sign(amount, kw, text):
    assert usd(amount, **kw) == text


def test_the_template_filter_and_the_cost_texts_agree():
    rendered = Template("{% load format %}{{ a|usd }} {{ b|usd }}").render(
        Context({"a": -7.08, "b": None})
    )
    assert rendered == "\u2212$7.08 "
    assert monthly_text(-12.5) == "\u2212$12.50/month" and monthly_text(0.001) == "no cost change"
