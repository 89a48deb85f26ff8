"""ML deterioration risk: features, training, evaluation, artefacts and prediction."""
