"""The seed's claims as experiments: each returns numbers, figures and an honest verdict."""

from descentlab.experiments.base import (
    ExperimentResult,
    Table,
    experiment_names,
    register,
    run_experiment,
)

__all__ = ["ExperimentResult", "Table", "experiment_names", "register", "run_experiment"]
