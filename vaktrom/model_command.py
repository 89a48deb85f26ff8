"""`vaktrom model train|evaluate|cv`: train the ML risk flag on a PhysioNet 2019-schema file, judge it beside NEWS2, or
cross-validate its training recipe."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DatasetError, ModelArtefactError
from vaktrom.model_criteria import criteria_table, finite_json

if TYPE_CHECKING:
    from models.predict import RiskModel

__all__ = ["add_parser", "run_cv", "run_evaluate", "run_train"]

logger = logging.getLogger(__name__)

_EXIT_BAD_INPUT = 2
_MAX_FOLDS = 20  # each fold trains the whole recipe once (minutes on set A): beyond that, a typo
_MAX_RESAMPLES = 100_000  # about half an hour on set A at ~18 ms per resample: beyond that, a typo


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `model train`, `model evaluate` and `model cv` (each sets `func`, returning the exit code)."""
    model = subparsers.add_parser("model", help="train, evaluate or cross-validate the ML deterioration risk model")
    commands = model.add_subparsers(dest="model_command", required=True, metavar="{train,evaluate,cv}")

    train = commands.add_parser("train", help="train on a PhysioNet 2019-schema Parquet file and write an artefact")
    train.add_argument("--data", type=Path, required=True, help="Parquet file (e.g. setA.parquet); never copied")
    train.add_argument("--out", type=Path, required=True, help="artefact to write (.skops; metadata .json beside)")
    train.add_argument("--seed", type=int, default=0, help="seed of the patient split and the trees (default 0)")
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score every eligible row of a file beside NEWS2",
        description="Score every eligible row (before sepsis onset) beside NEWS2 on the same rows: pooled figures, "
        "then the criteria record length cannot buy (same-hour AUROC, AUROC at ICULOS <= 48 and within septic "
        "patients, early-onset patients alerted in the 6 h window, alerts per patient-day at NEWS2 >= 5's "
        "sensitivity), each with a 95 % CI from resampling patients and the paired model - NEWS2 difference. "
        "Definitions: docs/MODEL_CARD.md, Evaluation.",
    )
    evaluate.add_argument("--data", type=Path, required=True, help="Parquet file in the PhysioNet 2019 schema")
    evaluate.add_argument("--model", type=Path, default=None, help="artefact (default: the shipped model)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    evaluate.add_argument("--plot", type=Path, default=None, metavar="PNG", help="write ROC and PR curves here")
    evaluate.add_argument(
        "--rows-out",
        type=Path,
        default=None,
        metavar="PARQUET",
        help="write one row per eligible row here (patient_id, hour, ICULOS, label, score, news2)",
    )
    evaluate.add_argument(
        "--seed", type=_seed, default=0, help="seed of the bootstrap resamples and of the --stress copies (default 0)"
    )
    evaluate.add_argument(
        "--part",
        choices=("all", "test"),
        default="all",
        help="all: every patient of the file (default); test: only the patients models/split.py puts in the test "
        "part of the file (by its patient order and --split-seed), those a model trained on this file never saw",
    )
    evaluate.add_argument(
        "--split-seed",
        type=_seed,
        default=None,
        metavar="S",
        help="seed of the patient split for --part test (default: the one the model was trained with, else 0)",
    )
    _add_common(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    cv = commands.add_parser(
        "cv",
        help="patient-grouped K-fold cross-validation of the training recipe beside NEWS2",
        description="Cross-validate the training recipe (models/train.py) on the file's training part: the patients "
        "models/split.py does not put in the test part (by --seed), dealt into K folds of whole patients. For each "
        "fold the recipe is fitted on the other folds (each patient in its part of the split: train for the trees, "
        "calibration for early stopping, trial choice, calibration), and the held-out fold is judged beside NEWS2 "
        "by the criteria of `vaktrom model evaluate`, per fold and pooled over every fold's held-out rows. The "
        "test part is neither fitted on nor judged. Definitions: docs/MODEL_CARD.md, Evaluation.",
    )
    cv.add_argument("--data", type=Path, required=True, help="Parquet file in the PhysioNet 2019 schema")
    cv.add_argument("--folds", type=_folds, required=True, metavar="K", help="number of folds (2 to 20)")
    cv.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the patient split, the folds, the trees, the stressed copies and the resamples (default 0, as "
        "the shipped model)",
    )
    cv.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    _add_common(cv)
    cv.set_defaults(func=run_cv)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        type=_resamples,
        default=None,
        metavar="N",
        help="patient resamples for the CIs (default 1000; 0: no CIs)",
    )
    parser.add_argument(
        "--stress",
        action="append",
        choices=("thin", "shuffle-missing", "late-admission"),
        default=[],
        help="also judge the criteria with the file charted differently, beside the normal figures (repeatable): "
        "thin keeps one value in three; shuffle-missing moves each patient's measurements to random hours of the "
        "same record, keeping the count; late-admission starts each patient's admission clock up to 48 h earlier. A "
        "model that leans on charting habits or ICU-hour patterns falls there",
    )


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
    from models.criteria import BOOTSTRAP_RESAMPLES
    from models.evaluate import evaluate_file
    from models.predict import RiskModel
    from models.split import Part
    from models.stress import Stress

    if args.rows_out is not None and not args.rows_out.parent.is_dir():
        return _fail(f"cannot write --rows-out {args.rows_out}: no such directory {args.rows_out.parent}")
    try:
        model = RiskModel.load(args.model)
        if model.artefact.external:
            sys.stderr.write(f"Note: using the external model artefact {args.model}\n")
        evaluation = evaluate_file(
            args.data,
            model,
            plot_path=args.plot,
            rows_out=args.rows_out,
            resamples=BOOTSTRAP_RESAMPLES if args.bootstrap is None else args.bootstrap,
            seed=args.seed,
            progress=not args.json,
            stresses=[Stress(kind) for kind in dict.fromkeys(args.stress)],
            part=Part.TEST if args.part == "test" else None,
            split_seed=_split_seed(args.split_seed, model),
        )
    except (DatasetError, ModelArtefactError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {exc.filename}: {exc.strerror}")
    if args.json:
        _out(json.dumps(finite_json(evaluation.as_json()), allow_nan=False) + "\n")
        return 0
    e = evaluation
    _out(
        (f"Test part of the file (split seed {_split_seed(args.split_seed, model)}): " if args.part == "test" else "")
        + f"{e.rows} eligible hourly rows of {e.patients} patients, {e.positives} with sepsis onset within 6 h\n"
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
        + (criteria_table(e.criteria) if e.criteria is not None else "")
        + "".join(f"Stress test {kind} (models/stress.py):\n{criteria_table(c)}" for kind, c in e.stress.items())
        + (f"Wrote {args.plot}\n" if args.plot else "")
        + (f"Wrote {args.rows_out}\n" if args.rows_out else "")
    )
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from models.criteria import BOOTSTRAP_RESAMPLES
    from models.cross_validation import cross_validate
    from models.dataset import load_labelled_hours
    from models.stress import Stress

    try:
        result = cross_validate(
            load_labelled_hours(args.data),
            folds=args.folds,
            seed=args.seed,
            resamples=BOOTSTRAP_RESAMPLES if args.bootstrap is None else args.bootstrap,
            stresses=[Stress(kind) for kind in dict.fromkeys(args.stress)],
            progress=not args.json,
        )
    except DatasetError as exc:
        return _fail(str(exc))
    if args.json:
        _out(json.dumps(finite_json(result.as_json()), allow_nan=False) + "\n")
        return 0
    lines = [
        f"{result.folds}-fold patient-grouped CV (seed {result.seed}) on the {result.training_part_patients} patients "
        f"of the training part; the {result.test_part_patients} of the test part were neither fitted on nor judged\n"
    ]
    for fold in result.per_fold:
        lines.append(
            f"Fold {fold.fold + 1}: fitted on {fold.train_patients} + {fold.calibration_patients} (calibration) "
            f"patients, trial {fold.chosen_trial + 1} chosen; judged on {fold.held_out_patients} held-out patients, "
            f"{fold.rows} rows\n{criteria_table(fold.criteria)}"
        )
        lines += [f"Fold {fold.fold + 1}, stress test {kind}:\n{criteria_table(c)}" for kind, c in fold.stress.items()]
    lines.append(f"Pooled over the held-out rows of every fold:\n{criteria_table(result.pooled)}")
    lines += [f"Pooled, stress test {kind}:\n{criteria_table(c)}" for kind, c in result.pooled_stress.items()]
    _out("".join(lines))
    return 0


def _split_seed(given: int | None, model: RiskModel) -> int:
    """--split-seed, else the seed the model's own split used (metadata), else 0."""
    if given is not None:
        return given
    return int(model.artefact.metadata.get("split", {}).get("seed", 0))


def _bands_table(bands: list[dict[str, Any]]) -> str:
    lines = ["AUROC by hours since admission:"]
    for band in bands:
        model, news2 = (f"{band[k]:>10.3f}" if band[k] is not None else f"{'-':>10}" for k in ("auroc", "news2_auroc"))
        lines.append(f"  {band['hours'] + ' h':10}{band['rows']:>9} rows {band['positives']:>6} positive{model}{news2}")
    return "\n".join(lines) + "\n"


def _resamples(text: str) -> int:
    return _whole_number(text, option="--bootstrap", high=_MAX_RESAMPLES)


def _folds(text: str) -> int:
    return _whole_number(text, option="--folds", low=2, high=_MAX_FOLDS)


def _seed(text: str) -> int:
    return _whole_number(text, option="--seed", high=2**63 - 1)


def _whole_number(text: str, *, option: str, high: int, low: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{option} must be between {low} and {high}, not {value}")
    return value


def _ci(interval: list[float]) -> str:
    return f"({interval[0]:.3f}-{interval[1]:.3f})" if interval else ""


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return _EXIT_BAD_INPUT
