"""Four claims about gradient descent as experiments: numbers, figures, honest verdicts."""

from descentlab.experiments.base import (
    ExperimentResult,
    Table,
    experiment_names,
    register,
    run_experiment,
)

__all__ = ["ExperimentResult", "Table", "experiment_names", "register", "run_experiment"]
