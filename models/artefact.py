"""Save and load the risk model as a skops file (no pickle): trusted types only, features and versions checked."""

from __future__ import annotations

import itertools
import json
import logging
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from core.errors import ModelArtefactError
from models.features import FEATURE_NAMES

__all__ = [
    "ARTEFACT_DIR",
    "DEFAULT_ARTEFACT_PATH",
    "FORMAT_VERSION",
    "TRUSTED_TYPES",
    "ModelArtefact",
    "load_artefact",
    "metadata_path",
    "save_artefact",
    "sklearn_minor",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARTEFACT_DIR = Path(__file__).resolve().parent / "artefacts"
# news_risk_v1.skops and news_risk_v2.skops stay beside it for comparison (`vaktrom model evaluate --model ...`): they
# still load, since an artefact reads only the features it names.
DEFAULT_ARTEFACT_PATH = ARTEFACT_DIR / "news_risk_v3.skops"
# Types skops may rebuild beyond its built-in safe set: the trees of a HistGradientBoostingClassifier. Anything else
# in a file is refused, so a crafted artefact cannot make us construct arbitrary objects.
TRUSTED_TYPES: tuple[str, ...] = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


@dataclass(frozen=True, slots=True)
class ModelArtefact:
    """A fitted classifier, its Platt calibration on the log-odds, and the metadata written beside it."""

    classifier: Any  # sklearn.ensemble.HistGradientBoostingClassifier
    metadata: dict[str, Any]  # JSON-compatible: feature_names, threshold, calibration, versions, metrics, ...
    path: Path | None = None
    external: bool = False  # loaded from outside the package's own artefacts folder

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def calibration(self) -> tuple[float, float]:
        """(slope, intercept): calibrated log-odds = slope * raw log-odds + intercept."""
        slope, intercept = self.metadata["calibration"]
        return float(slope), float(intercept)

    @property
    def version(self) -> str:
        return str(self.metadata.get("model_version", ""))


def sklearn_minor(version: str) -> str:
    """'1.9.1' -> '1.9': pickled tree layouts may change between minor releases, never within one."""
    return ".".join(version.split(".")[:2])


def metadata_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_artefact(artefact: ModelArtefact, path: Path) -> None:
    """Write `path` (skops) and the same metadata as readable JSON beside it (`metadata_path`)."""
    import skops.io as sio

    metadata_json = json.dumps(artefact.metadata, indent=2, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"classifier": artefact.classifier, "metadata_json": metadata_json}
    sio.dump(payload, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    metadata_path(path).write_text(metadata_json + "\n", encoding="utf-8")


def load_artefact(path: Path | None = None) -> ModelArtefact:
    """Load and check an artefact (default: the shipped one). Raises ModelArtefactError saying what is wrong."""
    import skops.io as sio

    path = DEFAULT_ARTEFACT_PATH if path is None else path
    external = not path.resolve().is_relative_to(ARTEFACT_DIR)
    if external:
        logger.warning("Loading an external model artefact from %s (only trusted types are accepted)", path)
    if not path.is_file():
        raise ModelArtefactError(f"model artefact {path} does not exist")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises zip, JSON and key errors for files that are not its own
        raise ModelArtefactError(f"{path} is not a skops model artefact ({exc})") from None
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelArtefactError(f"refusing to load {path}: it contains types that are not trusted: {unexpected}")
    try:
        with warnings.catch_warnings():
            # A version mismatch is reported below, with what to do, instead of as a warning.
            warnings.simplefilter("ignore")
            payload = sio.load(path, trusted=list(untrusted))
        metadata = json.loads(payload["metadata_json"])
        classifier = payload["classifier"]
    except Exception as exc:
        raise ModelArtefactError(f"cannot read model artefact {path} ({type(exc).__name__}: {exc})") from None
    _check_compatible(metadata, path)
    return ModelArtefact(classifier=classifier, metadata=metadata, path=path, external=external)


def _check_compatible(metadata: dict[str, Any], path: Path) -> None:
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelArtefactError(
            f"model artefact {path} has format version {metadata.get('format_version')!r}, this vaktrom reads "
            f"{FORMAT_VERSION}; retrain it with `vaktrom model train`"
        )
    trained_with = str(metadata.get("sklearn_version", "?"))
    if sklearn_minor(trained_with) != sklearn_minor(sklearn.__version__):
        raise ModelArtefactError(
            f"model artefact {path} was trained with scikit-learn {trained_with}, but {sklearn.__version__} is "
            f"installed; retrain it with `vaktrom model train` or install scikit-learn {sklearn_minor(trained_with)}.x"
        )
    # An artefact reads the features it names, in its own order: it needs every one of them computed by this code.
    names = tuple(metadata.get("feature_names", ()))
    unknown = sorted(set(names) - set(FEATURE_NAMES))
    if not names or unknown or len(set(names)) != len(names):
        raise ModelArtefactError(
            f"model artefact {path} expects a different feature list ({len(names)} features, "
            f"{len(set(names))} distinct, unknown {unknown[:5]}); retrain it with "
            "`vaktrom model train`"
        )
    floor = metadata.get("news2_floor", [])
    if not isinstance(floor, list) or not all(isinstance(p, float | int) and 0 <= p < 1 for p in floor):
        raise ModelArtefactError(f"model artefact {path} has an invalid NEWS2 floor ({str(floor)[:80]})")
    if any(later < earlier for earlier, later in itertools.pairwise(floor)):
        raise ModelArtefactError(f"model artefact {path} has a NEWS2 floor that falls as NEWS2 rises")
    threshold = metadata.get("threshold")
    if not isinstance(threshold, float | int) or not 0 < float(threshold) < 1 or not np.isfinite(threshold):
        raise ModelArtefactError(f"model artefact {path} has no valid operating threshold ({threshold!r})")
