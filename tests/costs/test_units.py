"""The API's quantities, parsed exactly by apps.clusters.quantity (pure, no database)."""

import pytest

from apps.clusters.quantity import QuantityError, cpu_millis, memory_bytes


@pytest.mark.parametrize(
    ("text", "millis"),
    [("1500m", 1500), ("0.5", 500), ("2", 2000), ("1e3", 1_000_000), ("250m", 250)],
)
def test_it_parses_cpu_in_millicores(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "num_bytes"),
    [
        ("1Gi", 1_073_741_824),
        ("500M", 500_000_000),
        ("512Mi", 536_870_912),
        ("1e3", 1000),
        ("1.5Gi", 1_610_612_736),
        ("128974848", 128_974_848),
    ],
)
def test_it_parses_memory_in_bytes(text: str, num_bytes: int) -> None:
    assert memory_bytes(text) == num_bytes
    assert isinstance(memory_bytes(text), int)


def test_it_rounds_sub_millicore_cpu_up_like_the_api_server() -> None:
    assert cpu_millis("0.0001") == 1


@pytest.mark.parametrize("text", ["abc", "", "1e", "1mi", "Gi", "1.5.2"])
def test_it_rejects_bad_quantities_naming_the_value(text: str) -> None:
    with pytest.raises(QuantityError, match=f"not a quantity: {text!r}"):
        memory_bytes(text)
    with pytest.raises(QuantityError, match=f"not a quantity: {text!r}"):
        cpu_millis(text)


def test_it_accepts_negative_quantities_as_written() -> None:
    # The module follows the Quantity grammar, which allows a sign; rejecting negative requests
    # is left to the caller (the API server's validation does it for resources).
    assert memory_bytes("-1Gi") == -1_073_741_824
    assert cpu_millis("-500m") == -500


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1e999999999"])
def test_it_refuses_values_no_cluster_could_hold_with_the_modules_error(bad):
    with pytest.raises(QuantityError, match="quantity"):
        cpu_millis(bad)
