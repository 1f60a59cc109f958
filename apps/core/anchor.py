"""Audit checkpoints: the chain's head, signed with a key that lives outside the database and
written out of it, so that whoever can write the database cannot rewrite, truncate or empty
the audit log unnoticed. Pure: no Django.

A checkpoint says "the audit chain had `seq` rows and its last hash was `hash` at `at`",
signed with HMAC-SHA256 under the audit key. Verification holds every checkpoint against the
rows: the row with that seq must exist and carry that hash. The chain code can recompute every
hash after an edit, but not the signature, and the checkpoints sit where the database writer
cannot reach them (a file the operator makes append-only, a syslog or HTTP sink).

What it does not protect: rows written after the newest checkpoint (at most one checkpoint
interval), and anyone who holds both the database and the audit key.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # rows in the chain (the head's seq)
    hash: str  # the head's hash
    at: str  # ISO time it was taken (UTC)
    key_id: str  # which key signed it: the first 8 hex digits of sha256(key)
    signature: str = ""

    def payload(self) -> bytes:
        return f"zerotouch-audit-checkpoint:v{VERSION}:{self.seq}:{self.hash}:{self.at}".encode()

    def line(self) -> str:
        return json.dumps({"v": VERSION, **asdict(self)}, sort_keys=True)


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def sign(key: bytes, *, seq: int, head_hash: str, at: str) -> Checkpoint:
    if not key:
        raise CheckpointError("no audit key: set AUDIT_KEY or AUDIT_KEY_FILE")
    unsigned = Checkpoint(seq=seq, hash=head_hash, at=at, key_id=key_id(key))
    signature = hmac.new(key, unsigned.payload(), hashlib.sha256).hexdigest()
    return Checkpoint(seq, head_hash, at, unsigned.key_id, signature)


def parse(line: str) -> Checkpoint:
    """One checkpoint line, checked for shape (not signature); raises CheckpointError."""
    try:
        d = json.loads(line)
        cp = Checkpoint(
            seq=d["seq"], hash=d["hash"], at=d["at"], key_id=d["key_id"], signature=d["signature"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"not a checkpoint: {line[:80]!r}") from exc
    if d.get("v") != VERSION or not isinstance(cp.seq, int) or isinstance(cp.seq, bool):
        raise CheckpointError(f"not a checkpoint: {line[:80]!r}")
    if cp.seq < 0 or not (cp.seq == 0 or _HEX64.match(cp.hash)):
        raise CheckpointError(f"not a checkpoint: {line[:80]!r}")
    return cp


def signature_ok(key: bytes, cp: Checkpoint) -> bool:
    expected = hmac.new(key, cp.payload(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, cp.signature)


def problems(
    key: bytes, checkpoints: Iterable[Checkpoint], hashes: dict[int, str], head_seq: int
) -> list[str]:
    """Every way the rows disagree with the checkpoints. `hashes`: the stored hash of each row
    a checkpoint names, by seq (a missing seq means the row is gone); `head_seq`: the rows in
    the chain now. Checkpoints must be signed with this key and never go backwards."""
    out: list[str] = []
    last = -1
    for cp in checkpoints:
        if cp.key_id != key_id(key) or not signature_ok(key, cp):
            out.append(f"checkpoint at seq {cp.seq} ({cp.at}): its signature does not verify")
            continue
        if cp.seq < last:
            out.append(f"checkpoint at seq {cp.seq} ({cp.at}) goes back from seq {last}")
        last = max(last, cp.seq)
        if cp.seq > head_seq:
            out.append(
                f"checkpoint at seq {cp.seq} ({cp.at}) but the chain has only {head_seq} rows "
                "(rows at the end were removed, or the table was emptied)"
            )
        elif cp.seq and hashes.get(cp.seq) != cp.hash:
            out.append(
                f"checkpoint at seq {cp.seq} ({cp.at}) does not match row seq {cp.seq}: the "
                "chain was rewritten up to there"
            )
    return out
