"""Kubernetes resource quantities, parsed exactly: "1500m", "0.5", "1Gi", "500M", "128974848",
"1e3", "12Ki". Pure, no Django.

CPU is handled in millicores (int, rounded up as the API server does for sub-milli values) and
memory in bytes (int). Decimal arithmetic: no float rounding on the way.
"""

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_PATTERN = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$"
)


class QuantityError(ValueError):
    pass


def parse(value: str | int | float) -> Decimal:
    """The quantity's value in base units (cores, bytes) as an exact Decimal."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    m = _PATTERN.match(text)
    if not m:
        raise QuantityError(f"not a quantity: {value!r}")
    number, exponent, suffix = m.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as exc:  # the regex should make this impossible
        raise QuantityError(f"not a quantity: {value!r}") from exc
    if exponent:
        try:
            return base * (Decimal(10) ** int(exponent[1:]))
        except ArithmeticError as exc:  # decimal.Overflow: e.g. "1e999999999"
            raise QuantityError(f"quantity out of range: {value!r}") from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    return base * _DECIMAL[suffix or ""]


def cpu_millis(value: str | int | float) -> int:
    """CPU in millicores, rounded up (the API server rounds "0.0001" up to "1m")."""
    return math.ceil(parse(value) * 1000)


def memory_bytes(value: str | int | float) -> int:
    return math.ceil(parse(value))


def format_cpu(millis: int) -> str:
    return f"{millis}m" if millis % 1000 else str(millis // 1000)


def format_cpu_nanos(nanos: int) -> str:
    return f"{nanos}n"


def format_memory(num_bytes: int) -> str:
    for suffix, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if num_bytes and num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)


def format_memory_ki(num_bytes: int) -> str:
    """As metrics-server reports memory: whole Ki."""
    return f"{num_bytes // 1024}Ki"
