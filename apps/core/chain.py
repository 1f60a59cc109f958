"""The audit hash chain: canonical JSON and row hashes. Pure, no Django.

Each row's hash is sha256(previous row's hash, newline, canonical JSON of the row's fields).
Changing any byte of any hashed field, reordering rows or removing one breaks the chain.
"""

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor",
    "actor_user_id",
    "verb",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
    "reason",
    "request_id",
    "client_ip",
)


def _encode(value: Any) -> str:
    """Canonical JSON text. Numbers are written in one normal form (Decimal, normalised), so a
    value reads back the same from PostgreSQL jsonb (which rewrites 1e16 as 10000000000000000
    and has no -0) and from SQLite."""
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("NaN and infinity cannot be stored in the audit log")
        number = Decimal(repr(value) if isinstance(value, float) else value)
        return "0" if number == 0 else str(number.normalize())
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_encode(v)}" for k, v in items)
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical(fields: dict[str, Any]) -> bytes:
    return _encode(fields).encode("utf-8")


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(fields)).hexdigest()


def jsonable(value: Any) -> Any:
    """What the database will hand back for a JSON column: plain JSON types only."""
    return json.loads(json.dumps(value, default=str, allow_nan=False))


@dataclass(frozen=True)
class ChainRow:
    pk: int
    seq: int
    prev_hash: str
    hash: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class ChainProblem:
    pk: int | None
    seq: int | None
    message: str


def verify(rows: Iterable[ChainRow], head: tuple[int, str] | None) -> Iterator[ChainProblem]:
    """Yield every problem in order; the first one names the first bad row."""
    expected_seq, expected_prev = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            yield ChainProblem(
                row.pk,
                row.seq,
                f"sequence gap: expected seq {expected_seq}, found {row.seq} "
                "(rows were removed or inserted)",
            )
        elif row.prev_hash != expected_prev:
            yield ChainProblem(row.pk, row.seq, "prev_hash does not match the previous row")
        elif row_hash(row.prev_hash, row.fields) != row.hash:
            yield ChainProblem(row.pk, row.seq, "hash mismatch: the row's contents were changed")
        expected_seq, expected_prev = row.seq + 1, row.hash
    last_seq = expected_seq - 1
    if head is None:
        if last_seq:
            yield ChainProblem(None, None, "chain head is missing")
        return
    if head != (last_seq, expected_prev):
        yield ChainProblem(
            None,
            head[0],
            f"chain head says seq {head[0]} but the last row is seq {last_seq} "
            "(rows at the end were removed or the head was changed)",
        )
