"""`python manage.py detect_anomalies --csv FILE`: fit the anomaly detector on the first rows of a
CSV of metrics and print every row's score and flag.

The CSV has a header row; numeric columns are the metrics; a non-numeric first column (such as a
timestamp) labels the rows. Output is CSV on stdout: label,score,flag (flag 1 = anomalous); a
summary goes to stderr.
"""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from apps.predictions import anomaly


class Command(BaseCommand):
    help = "Score every row of a CSV of metrics, learning normal behaviour from its first rows."

    def add_arguments(self, parser):
        parser.add_argument("--csv", required=True, help="CSV file with a header row")
        parser.add_argument(
            "--train-rows",
            type=int,
            default=None,
            help="fit on this many leading rows (default: the first half)",
        )
        parser.add_argument(
            "--contamination",
            type=float,
            default=anomaly.DEFAULT_CONTAMINATION,
            help="share of training rows above the threshold (default: %(default)s)",
        )

    def handle(self, *args, csv: str, train_rows: int | None, contamination: float, **options):
        labels, metrics, names = _read(Path(csv))
        n_train = len(metrics) // 2 if train_rows is None else train_rows
        if n_train < 1:
            raise CommandError(f"--train-rows must be 1 or more, got {n_train}")
        if n_train > len(metrics):
            raise CommandError(
                f"--train-rows {n_train} is more than the {len(metrics)} rows in {csv}"
            )
        try:
            detector = anomaly.fit(metrics[:n_train], contamination=contamination)
        except ValueError as exc:
            raise CommandError(f"{csv}: {exc}") from exc
        scores = detector.score(metrics, start=0)
        flags = detector.alarms(metrics, start=0)  # with persistence and hysteresis
        self._write(labels, scores, flags)
        self.stderr.write(
            f"fitted on {n_train} rows x {len(names)} metrics ({', '.join(names)}); "
            f"period {detector.period or 'none'} rows; threshold {detector.threshold:.3f}; "
            f"{int(flags.sum())} of {len(flags)} rows flagged"
        )

    def _write(self, labels: list[str], scores: np.ndarray, flags: np.ndarray) -> None:
        out = csv_writer(self.stdout)
        out.writerow(["label", "score", "flag"])
        for label, score, flag in zip(labels, scores, flags, strict=True):
            out.writerow([label, f"{score:.4f}", int(flag)])


def csv_writer(stream):
    return csv.writer(stream, lineterminator="\n")


def _read(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(row labels, metrics matrix, metric names) from the CSV at `path`."""
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: not a readable CSV: {exc}") from exc
    if frame.empty:
        raise CommandError(f"{path}: no data rows")
    first = frame.columns[0]
    labelled = not pd.api.types.is_numeric_dtype(frame[first])
    labels = frame[first].astype(str).tolist() if labelled else [str(i) for i in range(len(frame))]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in numeric if not pd.api.types.is_bool_dtype(frame[c])]
    if not numeric:
        raise CommandError(f"{path}: no numeric columns (every column is text)")
    return labels, frame[numeric].to_numpy(dtype=float), [str(c) for c in numeric]
