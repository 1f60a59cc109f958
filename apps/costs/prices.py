"""Prices per cluster: what a vCPU-hour, a GiB-hour of memory and a GiB-month of storage cost,
on-demand or spot by node label. Pure: no Django. Every price carries its unit in its name, so
an hourly figure is never read as a monthly one; `monthly()` is the one conversion (730 h)."""

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

HOURS_PER_MONTH = 730  # 365 days x 24 h / 12: the month cloud list prices use
GiB = 2**30
CURRENCY = "USD"
PLACES = 8  # decimal places kept; more would be rounded silently, so they are refused
MAX_ROWS = 500
MAX_CHARS = 200_000


class Kind(StrEnum):
    DEFAULT = "default"  # every node no label row matches
    NODE_LABEL = "node_label"  # nodes carrying the label key=value


class CapacityType(StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"


KINDS = frozenset(k.value for k in Kind)
CAPACITY_TYPES = frozenset(c.value for c in CapacityType)


@dataclass(frozen=True)
class Prices:
    cpu_per_vcpu_hour: Decimal | float
    memory_per_gib_hour: Decimal | float
    storage_per_gib_month: Decimal | float
    currency: str = CURRENCY

    @property
    def cpu_per_vcpu_month(self) -> Decimal:
        return monthly(self.cpu_per_vcpu_hour)

    @property
    def memory_per_gib_month(self) -> Decimal:
        return monthly(self.memory_per_gib_hour)

    # Costs of amounts in plain units (millicores, bytes), in dollars a month, as floats for
    # the numpy maths of rightsizing and waste.
    def cpu_month(self, cpu_m: float) -> float:
        return cpu_m / 1000 * float(self.cpu_per_vcpu_hour) * HOURS_PER_MONTH

    def memory_month(self, memory: float) -> float:
        return memory / GiB * float(self.memory_per_gib_hour) * HOURS_PER_MONTH

    def compute_month(self, cpu_m: float, memory: float) -> float:
        """CPU and memory together: what a pod's requests (or usage) cost a month."""
        return self.cpu_month(cpu_m) + self.memory_month(memory)

    def storage_month(self, size: float) -> float:
        return size / GiB * float(self.storage_per_gib_month)


def monthly(per_hour: Decimal) -> Decimal:
    """An hourly price as the price of a month of 730 hours."""
    return per_hour * HOURS_PER_MONTH


def hourly(per_month: Decimal) -> Decimal:
    """A monthly price as the price of one of the month's 730 hours."""
    return per_month / HOURS_PER_MONTH


# Defaults: Google Cloud public list prices, us-central1 (Iowa), USD, looked up 2026-11-26.
# - On-demand: Compute Engine N2 predefined vCPU $0.031611 per vCPU-hour and memory $0.004237
#   per GiB-hour (https://cloud.google.com/compute/vm-instance-pricing). Checked against whole
#   machine prices: n2-standard-96 (96 vCPU, 384 GiB) is $4.66166/h = 96 x 0.031611 + 384 x
#   0.004237, and n2-standard-80 is $3.88472/h.
# - Spot: N2 Spot vCPU $0.01034 per vCPU-hour and memory $0.001384 per GiB-hour, solved from the
#   us-central1 Spot prices of n2-standard-96 ($1.5241/h) and n2-highmem-48 ($1.02778/h) and
#   checked on n2-standard-80 ($1.27008/h), as listed in the SkyPilot catalog
#   (github.com/skypilot-org/skypilot-catalog, catalogs/v8/gcp/vms.csv, read 2026-11-26). Google
#   may change Spot prices up to once a month: load your own sheet for exact figures.
# - Storage: Persistent Disk pd-balanced $0.10 per GiB-month
#   (https://cloud.google.com/compute/disks-image-pricing), on-demand and Spot alike.
DEFAULT_SOURCE = "defaults: GCP us-central1 list prices (N2, pd-balanced), 2026-11"
SOURCE_PAGES = {  # where the defaults come from, linked on the prices page
    "VM instance pricing": "https://cloud.google.com/compute/vm-instance-pricing",
    "disk pricing": "https://cloud.google.com/compute/disks-image-pricing",
}
DEFAULT_ON_DEMAND = Prices(
    cpu_per_vcpu_hour=Decimal("0.031611"),
    memory_per_gib_hour=Decimal("0.004237"),
    storage_per_gib_month=Decimal("0.10"),
)
DEFAULT_SPOT = Prices(
    cpu_per_vcpu_hour=Decimal("0.01034"),
    memory_per_gib_hour=Decimal("0.001384"),
    storage_per_gib_month=Decimal("0.10"),
)

PRICE_COLUMNS = ("cpu_per_vcpu_hour", "memory_per_gib_hour", "storage_per_gib_month")
COLUMNS = ("kind", "selector", "capacity_type", *PRICE_COLUMNS)
# Above these a price is almost surely in the wrong unit (a month's price in an hourly
# column: a vCPU-month is $15-50, a GiB-month of memory $2-6, a TiB-month of disk $40-200).
UPPER = {
    "cpu_per_vcpu_hour": (Decimal(10), "a vCPU-hour", "a monthly price in the hourly column?"),
    "memory_per_gib_hour": (Decimal(1), "a GiB-hour", "a monthly price in the hourly column?"),
    "storage_per_gib_month": (Decimal(10), "a GiB-month", "a price per TiB, not per GiB?"),
}
# Below this a GiB-month of disk is almost surely an hourly price ($0.10/month = $0.000137/h).
STORAGE_LOWER = Decimal("0.001")


@dataclass(frozen=True)
class PriceRow:
    kind: Kind
    selector: str  # "" for the default row; "key=value" for a node label
    capacity_type: CapacityType
    prices: Prices

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.kind != Kind.NODE_LABEL:
            return False
        key, _, value = self.selector.partition("=")
        return key in labels and labels[key] == value


@dataclass(frozen=True)
class PriceSheet:
    rows: tuple[PriceRow, ...]
    source: str = ""

    @property
    def default(self) -> PriceRow:
        return next(r for r in self.rows if r.kind == Kind.DEFAULT)


@dataclass(frozen=True)
class RowError:
    line: int | None  # 1-based line of the CSV (the header is line 1); None: the whole sheet
    column: str  # "" when the problem is the row as a whole
    message: str

    def __str__(self) -> str:
        where = "the sheet" if self.line is None else f"line {self.line}"
        return (
            f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


DEFAULT_SHEET = PriceSheet(
    rows=(
        PriceRow(Kind.DEFAULT, "", CapacityType.ON_DEMAND, DEFAULT_ON_DEMAND),
        PriceRow(
            Kind.NODE_LABEL, "cloud.google.com/gke-spot=true", CapacityType.SPOT, DEFAULT_SPOT
        ),
        PriceRow(
            Kind.NODE_LABEL,
            "cloud.google.com/gke-preemptible=true",
            CapacityType.SPOT,
            DEFAULT_SPOT,
        ),
    ),
    source=DEFAULT_SOURCE,
)


def price_for_node(labels: Mapping[str, str], sheet: PriceSheet) -> Prices:
    """The first node-label row the node's labels match, else the default row."""
    return row_for_node(labels, sheet).prices


def row_for_node(labels: Mapping[str, str], sheet: PriceSheet) -> PriceRow:
    return next((r for r in sheet.rows if r.matches(labels)), sheet.default)


# --- Checks ---------------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_NAME = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def selector_problem(kind: str, selector: str) -> str | None:
    """Why a selector is not valid for its kind, or None. Label rules are Kubernetes's."""
    if kind == Kind.DEFAULT:
        return "must be empty on the default row" if selector else None
    if not selector:
        return "a node_label row needs key=value, e.g. cloud.google.com/gke-spot=true"
    key, eq, value = selector.partition("=")
    if not eq:
        return f"{selector!r} is not key=value"
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key prefix {prefix!r} is not a DNS subdomain"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return f"label key {key!r} is not a valid Kubernetes label key"
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return f"label value {value!r} is not a valid Kubernetes label value"
    return None


def price_problem(column: str, value: Decimal) -> str | None:
    """Why a price in `column` cannot be right, or None."""
    if not value.is_finite():
        return f"{value} is not a finite number"
    if value <= 0:
        return f"{value} is not more than 0; a price must be positive"
    if -value.as_tuple().exponent > PLACES:
        return f"{value} has more than {PLACES} decimal places"
    limit, unit, hint = UPPER[column]
    if value > limit:
        return f"{value} is more than {limit} {CURRENCY}, too high for {unit}: {hint}"
    if column == "storage_per_gib_month" and value < STORAGE_LOWER:
        return (
            f"{value} is less than {STORAGE_LOWER} {CURRENCY}, too low for a GiB-month: "
            "an hourly price in the monthly column?"
        )
    return None


def parse_price(column: str, text: str) -> Decimal | str:
    """A price from text, or the message saying what is wrong with it."""
    text = text.strip()
    if not text:
        return "missing; every row needs all three prices"
    try:
        value = Decimal(text)
    except InvalidOperation:
        sign = "; write the number without a currency sign" if text[:1] in "$€£" else ""
        return f"{text!r} is not a number{sign}"
    return price_problem(column, value) or value


def check_rows(rows: Sequence[PriceRow]) -> list[RowError]:
    """Every problem of a sheet given as rows (row i is CSV line i + 2)."""
    errors = []
    for i, row in enumerate(rows):
        line = i + 2
        if row.kind not in KINDS:
            errors.append(RowError(line, "kind", f"{row.kind!r} is not default or node_label"))
        elif problem := selector_problem(row.kind, row.selector):
            errors.append(RowError(line, "selector", problem))
        if row.capacity_type not in CAPACITY_TYPES:
            errors.append(
                RowError(line, "capacity_type", f"{row.capacity_type!r} is not on_demand or spot")
            )
        for column in PRICE_COLUMNS:
            if problem := price_problem(column, getattr(row.prices, column)):
                errors.append(RowError(line, column, problem))
    return errors + _sheet_problems([(i + 2, r.kind, r.selector) for i, r in enumerate(rows)])


def _sheet_problems(rows: list[tuple[int, str, str]]) -> list[RowError]:
    """Duplicates and the one default row, over (line, kind, selector)."""
    errors, seen, default_line = [], {}, None
    for line, kind, selector in rows:
        if kind == Kind.DEFAULT:
            if default_line is not None:
                errors.append(
                    RowError(
                        line, "kind", f"a second default row (the first is line {default_line})"
                    )
                )
            default_line = default_line or line
        elif kind == Kind.NODE_LABEL and selector:
            if selector in seen:
                errors.append(
                    RowError(line, "selector", f"{selector} is already on line {seen[selector]}")
                )
            seen.setdefault(selector, line)
    if default_line is None:
        errors.append(RowError(None, "kind", "no default row; one row must have kind default"))
    if len(rows) > MAX_ROWS:
        errors.append(RowError(None, "", f"{len(rows)} rows; at most {MAX_ROWS}"))
    return errors


# --- CSV ------------------------------------------------------------------------------------


def parse_price_sheet(text: str) -> PriceSheet | list[RowError]:
    """A sheet from CSV text, or every problem found, each with its line and column. A sheet
    comes back only when every row is good; blank lines and lines starting with # are skipped."""
    if len(text) > MAX_CHARS:
        return [RowError(None, "", f"{len(text)} characters; at most {MAX_CHARS}")]
    lines = [
        (n, line)
        for n, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        return [RowError(None, "", f"the sheet is empty; the header is {','.join(COLUMNS)}")]
    (header_line, header), body = _fields(lines[0]), [_fields(x) for x in lines[1:]]
    header = [h.strip().lower() for h in header]
    if errors := _header_problems(header_line, header):
        return errors
    errors, rows, keys = [], [], []
    for line, fields in body:
        if len(fields) != len(header):
            errors.append(RowError(line, "", f"{len(fields)} fields; the header has {len(header)}"))
            continue
        f = {name: value.strip() for name, value in zip(header, fields, strict=True)}
        keys.append((line, f["kind"].lower(), f["selector"]))
        row = _parse_row(line, f)
        if isinstance(row, PriceRow):
            rows.append(row)
        else:
            errors += row
    errors += _sheet_problems(keys)
    if errors:
        return sorted(errors, key=lambda e: (e.line is None, e.line or 0))
    return PriceSheet(rows=tuple(rows))


def _fields(numbered: tuple[int, str]) -> tuple[int, list[str]]:
    n, line = numbered
    return n, next(csv.reader([line]))


def _header_problems(line: int, header: list[str]) -> list[RowError]:
    errors = []
    for name in header:
        if name not in COLUMNS:
            errors.append(RowError(line, name or "(empty)", f"unknown column{_column_hint(name)}"))
        elif header.count(name) > 1:
            errors.append(RowError(line, name, "the column appears twice"))
    errors += [RowError(line, c, "missing column") for c in COLUMNS if c not in header]
    if errors:
        errors.append(RowError(line, "", f"the header must be {','.join(COLUMNS)}"))
    return list(dict.fromkeys(errors))


def _column_hint(name: str) -> str:
    for column in PRICE_COLUMNS:
        if name.split("_")[0] == column.split("_")[0]:
            return f"; did you mean {column}? (prices carry their unit in the column name)"
    return ""


def _parse_row(line: int, f: dict[str, str]) -> PriceRow | list[RowError]:
    errors, prices = [], {}
    kind, selector, capacity = f["kind"].lower(), f["selector"], f["capacity_type"].lower()
    if kind not in KINDS:
        errors.append(RowError(line, "kind", f"{f['kind']!r} is not default or node_label"))
    elif problem := selector_problem(kind, selector):
        errors.append(RowError(line, "selector", problem))
    if capacity not in CAPACITY_TYPES:
        errors.append(
            RowError(line, "capacity_type", f"{f['capacity_type']!r} is not on_demand or spot")
        )
    for column in PRICE_COLUMNS:
        value = parse_price(column, f[column])
        if isinstance(value, str):
            errors.append(RowError(line, column, value))
        prices[column] = value
    if errors:
        return errors
    return PriceRow(Kind(kind), selector, CapacityType(capacity), Prices(**prices))


def to_csv(sheet: PriceSheet) -> str:
    """The sheet as CSV that parse_price_sheet reads back to the same rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sheet.rows:
        p = r.prices
        writer.writerow(
            [r.kind.value, r.selector, r.capacity_type.value]
            + [plain(getattr(p, c)) for c in PRICE_COLUMNS]
        )
    return out.getvalue()


def plain(value: Decimal) -> str:
    """A price as written: no exponent, no trailing zeros (0.03161100 -> 0.031611)."""
    return format(value.normalize(), "f")


def clean(value: Decimal) -> Decimal:
    """The same price without trailing zeros, never in exponent form (10.00000000 -> 10)."""
    return Decimal(plain(value))


def as_dict(sheet: PriceSheet) -> dict:
    """The sheet as plain JSON, for the audit log's before and after."""
    return {
        "source": sheet.source,
        "currency": CURRENCY,
        "rows": [
            {
                "kind": r.kind.value,
                "selector": r.selector,
                "capacity_type": r.capacity_type.value,
                **{c: plain(getattr(r.prices, c)) for c in PRICE_COLUMNS},
            }
            for r in sheet.rows
        ],
    }


def fingerprint(sheet: PriceSheet) -> str:
    """Names one version of a sheet's rows, so an edit of a sheet that changed can be refused."""
    return hashlib.sha256(to_csv(sheet).encode()).hexdigest()[:16]
