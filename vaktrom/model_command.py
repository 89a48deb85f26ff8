"""`vaktrom model train|evaluate`: train the ML risk flag on a PhysioNet 2019-schema file, or judge it beside NEWS2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from core.errors import DatasetError, ModelArtefactError

__all__ = ["add_parser", "run_evaluate", "run_train"]

logger = logging.getLogger(__name__)

_EXIT_BAD_INPUT = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `model train` and `model evaluate` (each sets `func`, returning the exit code)."""
    model = subparsers.add_parser("model", help="train or evaluate the ML deterioration risk model")
    commands = model.add_subparsers(dest="model_command", required=True, metavar="{train,evaluate}")

    train = commands.add_parser("train", help="train on a PhysioNet 2019-schema Parquet file and write an artefact")
    train.add_argument("--data", type=Path, required=True, help="Parquet file (e.g. setA.parquet); never copied")
    train.add_argument("--out", type=Path, required=True, help="artefact to write (.skops; metadata .json beside)")
    train.add_argument("--seed", type=int, default=0, help="seed of the patient split and the trees (default 0)")
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser("evaluate", help="score every eligible row of a file beside NEWS2")
    evaluate.add_argument("--data", type=Path, required=True, help="Parquet file in the PhysioNet 2019 schema")
    evaluate.add_argument("--model", type=Path, default=None, help="artefact (default: the shipped model)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    evaluate.add_argument("--plot", type=Path, default=None, metavar="PNG", help="write ROC and PR curves here")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from models.train import train_model

    try:
        artefact = train_model(args.data, args.out, seed=args.seed)
    except DatasetError as exc:
        return _fail(str(exc))
    metrics = artefact.metadata["test_metrics"]
    intervals = artefact.metadata["test_confidence_intervals"]
    _out(
        f"Wrote {args.out} (metadata {args.out.with_suffix('.json')})\n"
        f"Test split ({metrics['patients']} patients, {metrics['rows']} rows, held out from training):\n"
        f"  AUROC  model {metrics['auroc']:.3f} {_ci(intervals['auroc'])}   "
        f"NEWS2 {metrics['news2_auroc']:.3f} {_ci(intervals['news2_auroc'])}\n"
        f"  AUPRC  model {metrics['auprc']:.3f} {_ci(intervals['auprc'])}   "
        f"NEWS2 {metrics['news2_auprc']:.3f} {_ci(intervals['news2_auprc'])}\n"
        f"  Operating threshold {artefact.threshold:.4f}: sensitivity {metrics['operating_sensitivity']:.3f}, "
        f"{metrics['operating_alerts_per_patient_day']:.2f} alerts per patient-day "
        f"(NEWS2 >= 5: sensitivity {metrics['sensitivity']:.3f}, "
        f"{metrics['news2_alerts_per_patient_day']:.2f})\n"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from models.evaluate import evaluate_file
    from models.predict import RiskModel

    try:
        model = RiskModel.load(args.model)
        if model.artefact.external:
            sys.stderr.write(f"Note: using the external model artefact {args.model}\n")
        evaluation = evaluate_file(args.data, model, plot_path=args.plot, progress=not args.json)
    except (DatasetError, ModelArtefactError) as exc:
        return _fail(str(exc))
    if args.json:
        _out(json.dumps(evaluation.as_json()) + "\n")
        return 0
    e = evaluation
    _out(
        f"{e.rows} eligible hourly rows of {e.patients} patients, {e.positives} with sepsis onset within 6 h\n"
        f"{'':34}{'ML risk':>10}{'NEWS2':>10}\n"
        f"{'AUROC':34}{e.auroc:>10.3f}{e.news2_auroc:>10.3f}\n"
        f"{'AUPRC':34}{e.auprc:>10.3f}{e.news2_auprc:>10.3f}\n"
        f"At the sensitivity of NEWS2 >= 5 ({e.sensitivity:.3f}; model threshold {e.matched_threshold:.4f}):\n"
        f"{'  alerts per patient-day':34}{e.alerts_per_patient_day:>10.2f}{e.news2_alerts_per_patient_day:>10.2f}\n"
        f"{'  alert onsets per patient-day':34}{e.alert_onsets_per_patient_day:>10.2f}"
        f"{e.news2_alert_onsets_per_patient_day:>10.2f}\n"
        f"At the model's own threshold {e.operating_threshold:.4f}: sensitivity {e.operating_sensitivity:.3f}, "
        f"{e.operating_alerts_per_patient_day:.2f} alerts per patient-day\n"
        f"Rows with too little data for the model (scored as no risk): {e.too_little_data_rows}\n"
        f"AUROC within the rows of patients who become septic (when, not who):"
        f"{e.auroc_within_septic_patients:>10.3f}{e.news2_auroc_within_septic_patients:>10.3f}\n"
        + _bands_table(e.by_hours_since_admission)
        + (f"Wrote {args.plot}\n" if args.plot else "")
    )
    return 0


def _bands_table(bands: list[dict[str, Any]]) -> str:
    lines = ["AUROC by hours since admission:"]
    for band in bands:
        model, news2 = (f"{band[k]:>10.3f}" if band[k] is not None else f"{'-':>10}" for k in ("auroc", "news2_auroc"))
        lines.append(f"  {band['hours'] + ' h':10}{band['rows']:>9} rows {band['positives']:>6} positive{model}{news2}")
    return "\n".join(lines) + "\n"


def _ci(interval: list[float]) -> str:
    return f"({interval[0]:.3f}-{interval[1]:.3f})" if interval else ""


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return _EXIT_BAD_INPUT
