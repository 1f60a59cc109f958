"""Numbers as people read them, one way everywhere: money with a real minus sign."""

MINUS = "\u2212"  # U+2212, not a hyphen: never "$-7.08"


def usd(amount, *, places: int = 2, signed: bool = False) -> str:
    """Dollars: "$1,234.56", a minus sign before a negative amount's dollar sign; `signed`
    puts "+" before a positive amount."""
    value = round(float(amount), places)
    sign = MINUS if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}${abs(value):,.{places}f}"


def settings_text(parameters: dict, prefix: str = "") -> list[str]:
    """An Action's parameters as people read them: "limits.memory: 2304Mi", one a line, nested
    keys joined with dots, lists comma-separated; never a Python dict."""
    out: list[str] = []
    for key in sorted(parameters or {}):
        value = parameters[key]
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += settings_text(value, f"{name}.") if value else [f"{name}: (none)"]
        elif isinstance(value, list):
            out.append(f"{name}: {', '.join(str(v) for v in value) or '(none)'}")
        else:
            out.append(f"{name}: {value}")
    return out


def settings_diff(parameters: dict, before: dict) -> list[str]:
    """settings_text, with each value the change replaces: "limits.memory: 1536Mi → 3072Mi"
    ("unchanged" where it is the same; `before` holds only what the target had)."""
    was = dict(line.split(": ", 1) for line in settings_text(before or {}))
    out = []
    for line in settings_text(parameters):
        key, value = line.split(": ", 1)
        old = was.get(key)
        if old is None:
            out.append(line)
        elif old == value:
            out.append(f"{key}: {value} (unchanged)")
        else:
            out.append(f"{key}: {old} → {value}")
    return out
