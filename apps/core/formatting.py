"""Numbers as people read them, one way everywhere: money with a real minus sign."""

MINUS = "\u2212"  # U+2212, not a hyphen: never "$-7.08"


def usd(amount, *, places: int = 2, signed: bool = False) -> str:
    """Dollars: "$1,234.56", a minus sign before a negative amount's dollar sign; `signed`
    puts "+" before a positive amount."""
    value = round(float(amount), places)
    sign = MINUS if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}${abs(value):,.{places}f}"
