"""A TPE sampler seeded per trial, so that workers sharing one study never repeat each other.

Optuna's ``TPESampler(seed=s)`` draws its random startup trials from one generator per process:
two workers started with the same seed propose the same first points. Here trial ``n`` is
sampled by a ``TPESampler`` seeded with ``(seed, n)``; trial numbers are unique in a study, so
every trial's draws differ, and each is reproducible given the trials completed before it.
"""

from __future__ import annotations

import numpy as np
import optuna


def trial_seed(seed: int, number: int) -> int:
    """The 32-bit seed of trial ``number`` of a study searched with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE (its defaults), with the random generator of trial ``n`` seeded by ``(seed, n)``."""

    def __init__(self, seed: int):
        self.seed = seed
        self._samplers: dict[int, optuna.samplers.TPESampler] = {}

    def _for(self, trial) -> optuna.samplers.TPESampler:
        sampler = self._samplers.get(trial.number)
        if sampler is None:
            sampler = self._samplers[trial.number] = optuna.samplers.TPESampler(seed=trial_seed(self.seed, trial.number))
        return sampler

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        self._samplers.pop(trial.number, None)
