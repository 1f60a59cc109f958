"""Model artifacts on disk: written atomically (temp file, fsync, rename) with a SHA-256 the
database keeps, and refused when the file was changed or was written by another scikit-learn
version — a pickled forest from another version may load and then score wrongly."""

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import sklearn

FORMAT = 1


class ArtifactError(Exception):
    """The artifact cannot be used; the message says why."""


def write(directory: Path, name: str, model: object) -> tuple[str, str]:
    """Store `model` as `name`; returns (file name, sha256)."""
    directory.mkdir(parents=True, exist_ok=True)
    blob = pickle.dumps(
        {"format": FORMAT, "sklearn": sklearn.__version__, "model": model},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name, hashlib.sha256(blob).hexdigest()


def read(directory: Path, name: str, sha256: str) -> object:
    """Only our own files, named by our own rows, are unpickled, and only when their checksum
    matches the one recorded when they were written."""
    path = directory / name
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"model file {name} cannot be read: {exc.strerror}") from exc
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ArtifactError(f"model file {name} does not match its recorded checksum")
    try:
        # A file we wrote ourselves, its SHA-256 checked against the database just above.
        payload = pickle.loads(blob)  # noqa: S301  # nosec B301
    except Exception as exc:
        raise ArtifactError(f"model file {name} is corrupt: {type(exc).__name__}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtifactError(f"model file {name} has an unknown format")
    if payload["sklearn"] != sklearn.__version__:
        raise ArtifactError(
            f"model file {name} was written by scikit-learn {payload['sklearn']}, this is "
            f"{sklearn.__version__}: retrain"
        )
    return payload["model"]
