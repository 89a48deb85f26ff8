"""Artefacts: a saved model loads back and predicts the same; mismatched or unsafe artefacts are refused clearly."""

from __future__ import annotations

import dataclasses
import fractions
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from core.errors import ModelArtefactError
from models.artefact import DEFAULT_ARTEFACT_PATH, ModelArtefact, load_artefact, metadata_path, save_artefact
from models.features import FEATURE_NAMES, compute_features
from models.predict import RiskModel
from models.train import MODEL_FEATURES
from tests.models.conftest import synthetic_hours


def _with_metadata(artefact: ModelArtefact, **changes: object) -> ModelArtefact:
    return dataclasses.replace(artefact, metadata={**artefact.metadata, **changes})


def test_saved_artefact_loads_back_and_predicts_the_same(tiny_artefact: ModelArtefact, tmp_path: Path) -> None:
    path = tmp_path / "risk.skops"
    save_artefact(tiny_artefact, path)
    loaded = load_artefact(path)
    assert loaded.metadata == json.loads(metadata_path(path).read_text())
    assert loaded.threshold == tiny_artefact.threshold
    assert loaded.external
    rows = compute_features(synthetic_hours(5, seed=3).grid)
    np.testing.assert_array_equal(RiskModel(loaded).probabilities(rows), RiskModel(tiny_artefact).probabilities(rows))


def test_loading_an_artefact_from_outside_the_package_says_so(
    tiny_artefact: ModelArtefact, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_artefact(tiny_artefact, tmp_path / "risk.skops")
    with caplog.at_level(logging.WARNING, logger="models.artefact"):
        load_artefact(tmp_path / "risk.skops")
    assert f"Loading an external model artefact from {tmp_path / 'risk.skops'}" in caplog.text


def test_artefact_with_a_different_feature_list_is_refused(tiny_artefact: ModelArtefact, tmp_path: Path) -> None:
    path = tmp_path / "old.skops"
    save_artefact(_with_metadata(tiny_artefact, feature_names=[*FEATURE_NAMES[:-1], "lactate"]), path)
    with pytest.raises(ModelArtefactError, match=r"expects a different feature list .*unknown \['lactate'\]"):
        load_artefact(path)


def test_artefact_naming_a_feature_twice_is_refused(tiny_artefact: ModelArtefact, tmp_path: Path) -> None:
    path = tmp_path / "twice.skops"
    names = [*MODEL_FEATURES[:-1], MODEL_FEATURES[0]]
    save_artefact(_with_metadata(tiny_artefact, feature_names=names), path)
    with pytest.raises(ModelArtefactError, match=rf"expects a different feature list \({len(names)} features, "):
        load_artefact(path)


def test_artefact_from_another_scikit_learn_version_is_refused(tiny_artefact: ModelArtefact, tmp_path: Path) -> None:
    path = tmp_path / "old.skops"
    save_artefact(_with_metadata(tiny_artefact, sklearn_version="1.2.2"), path)
    with pytest.raises(ModelArtefactError, match=r"trained with scikit-learn 1\.2\.2, but .* retrain it"):
        load_artefact(path)


def test_artefact_holding_untrusted_types_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    sio.dump({"classifier": fractions.Fraction(1, 3), "metadata_json": "{}"}, path)
    with pytest.raises(ModelArtefactError, match=r"types that are not trusted: \['fractions.Fraction'\]"):
        load_artefact(path)


def test_missing_or_garbage_artefact_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelArtefactError, match="does not exist"):
        load_artefact(tmp_path / "nope.skops")
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(ModelArtefactError, match="is not a skops model artefact"):
        load_artefact(tmp_path / "junk.skops")


def test_shipped_artefact_loads_and_is_small() -> None:
    if not DEFAULT_ARTEFACT_PATH.is_file():
        pytest.skip(f"no shipped artefact at {DEFAULT_ARTEFACT_PATH}")
    artefact = load_artefact()
    assert not artefact.external
    assert DEFAULT_ARTEFACT_PATH.stat().st_size < 2_000_000
    assert artefact.metadata["feature_names"] == list(MODEL_FEATURES)
    assert artefact.metadata["model_version"] == "news_risk_v3"
    assert 0 < artefact.threshold < 1
