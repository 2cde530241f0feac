"""The registry: the one source of the estimators' names and defaults; what the package exports."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys

import pytest

import mibound
from mibound import registry
from mibound.registry import DEFAULT_ESTIMATOR, DISTRIBUTED_DEFAULTS, ESTIMATORS, FLOW_DEFAULTS, NEURAL_DEFAULTS

#: ``auto``'s own defaults where they differ from the neural estimators' (its split; one thread for its member).
AUTO_OWN = {"test_fraction": 0.4, "validation_fraction": 0.2, "num_threads": 1, "learning_rate": None}
HEAVY = ("torch", "sklearn", "scipy", "pandas")


def _defaults(obj) -> dict:
    return {k: p.default for k, p in inspect.signature(obj).parameters.items() if p.default is not p.empty}


def _documented_defaults(obj) -> dict:
    """The ``name : type, default X`` lines of a numpydoc docstring whose ``X`` is a Python literal."""
    out = {}
    for name, text in re.findall(r"^(\w+) : [^\n]*?\bdefault (.+)$", inspect.getdoc(obj) or "", flags=re.M):
        try:
            out[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            continue
    return out


def _imported_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_the_registry_and_the_package_import_no_heavy_library():
    assert _imported_after("import mibound.registry as r; list(r.ESTIMATORS); r.NEURAL_DEFAULTS") == []
    assert _imported_after("import mibound; mibound.__all__") == []


def test_neural_names_agree_with_the_objectives():
    from mibound.neural.objectives import OBJECTIVES

    assert registry.NEURAL_ESTIMATORS == tuple(OBJECTIVES)
    assert [n for n in ESTIMATORS if registry.is_neural(n)] == list(OBJECTIVES)
    assert DEFAULT_ESTIMATOR == "auto" and DEFAULT_ESTIMATOR in ESTIMATORS
    assert NEURAL_DEFAULTS["estimator"] in registry.NEURAL_ESTIMATORS


def _documented_as_signed(obj, got: dict) -> None:
    documented = {k: v for k, v in _documented_defaults(obj).items() if k in got}
    assert documented == {k: got[k] for k in documented}, obj.__name__


@pytest.mark.parametrize("cls", dict.fromkeys(ESTIMATORS.values()), ids=lambda c: c.__name__)
def test_every_estimator_signature_takes_the_registry_defaults(cls):
    got = _defaults(cls)
    exact = {"NeuralEstimator": NEURAL_DEFAULTS, "FlowEstimator": {**FLOW_DEFAULTS, "n_subsamples": 100},
             "DoEEstimator": FLOW_DEFAULTS, "LatentEstimator": registry.LATENT_DEFAULTS}
    if cls.__name__ in exact:
        assert got == dict(exact[cls.__name__])
    elif cls.__name__ == "AutoEstimator":  # its neural member's defaults, its own split
        assert {k: got[k] for k in got if k in NEURAL_DEFAULTS} == \
               {k: AUTO_OWN.get(k, NEURAL_DEFAULTS[k]) for k in got if k in NEURAL_DEFAULTS}
        assert {"critic", "batch_size", "steps", "image_layout", "learning_rate"} <= set(got)
    else:  # the plug-in estimators: no neural hyper-parameter beyond the seed
        assert set(got) & set(NEURAL_DEFAULTS) <= {"seed"} and got.get("seed", 0) == NEURAL_DEFAULTS["seed"]
    _documented_as_signed(cls, got)


def test_the_distributed_estimator_takes_the_registry_defaults():
    from mibound.estimators.distributed import DistributedNeuralEstimator

    assert _defaults(DistributedNeuralEstimator) == dict(DISTRIBUTED_DEFAULTS)
    _documented_as_signed(DistributedNeuralEstimator, dict(DISTRIBUTED_DEFAULTS))
    assert {**NEURAL_DEFAULTS, "device": "auto", "backend": None} == dict(DISTRIBUTED_DEFAULTS)


def test_the_entry_points_defer_to_the_registry():
    from mibound.api import estimate_mi, estimate_mi_distributed, permutation_test

    for func, estimator, base in ((estimate_mi, DEFAULT_ESTIMATOR, NEURAL_DEFAULTS),
                                  (estimate_mi_distributed, NEURAL_DEFAULTS["estimator"], DISTRIBUTED_DEFAULTS),
                                  (permutation_test, DEFAULT_ESTIMATOR, NEURAL_DEFAULTS)):
        got = _defaults(func)
        assert got["estimator"] == estimator, func.__name__
        # a neural hyper-parameter is None (the estimator's default applies) or the registry's value
        assert all(got[k] is None or got[k] == base[k] for k in got if k in base and k != "estimator"), func.__name__
        doc = inspect.getdoc(func)
        for key in ("batch_size", "steps"):
            if key in got:
                assert re.search(rf"\(default {NEURAL_DEFAULTS[key]}\b", doc), (func.__name__, key)
        _documented_as_signed(func, got)


def _stated(value) -> str:
    return " ".join(f"{r:g}" for r in value) if isinstance(value, tuple) else str(value)


def test_the_cli_states_and_defers_to_the_registry_defaults():
    from mibound.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for command in ("estimate", "bench"):
        for action in commands[command]._actions:
            if action.dest not in DISTRIBUTED_DEFAULTS:
                continue
            base = {**DISTRIBUTED_DEFAULTS, "estimator": DEFAULT_ESTIMATOR} if command == "estimate" else DISTRIBUTED_DEFAULTS
            # a flag left out keeps the estimator's default (None), or is the registry's value
            assert action.default is None or action.default == base[action.dest], (command, action.dest)
            stated = re.search(r"\(default ([^;:)]+)", action.help or "")
            if stated:
                assert stated.group(1).strip() == _stated(base[action.dest]), (command, action.dest, action.help)
    assert f"{NEURAL_DEFAULTS['estimator']} with --distributed" in commands["estimate"]._option_string_actions[
        "--estimator"].help
    args = parser.parse_args(["estimate", "f.npz"])
    assert args.estimator is None and args.steps is None and args.critic is None  # resolved to DEFAULT_ESTIMATOR
    assert parser.parse_args(["bench", "d", "--estimator", "tcmi", "--out", "o.csv"]).subsamples is None


def test_bench_states_no_neural_default_of_its_own():
    from mibound.bench import run_bench

    assert set(_defaults(run_bench)) & set(NEURAL_DEFAULTS) <= {"seed", "progress"}  # its own task bar
    assert _defaults(run_bench)["seed"] == NEURAL_DEFAULTS["seed"]


def test_the_engine_helpers_default_to_the_estimators_first_rate_and_schedule():
    from mibound.neural.engine import train
    from mibound.neural.stacking import train_ensemble

    for helper in (train, train_ensemble):
        got = _defaults(helper)
        assert got["learning_rate"] == NEURAL_DEFAULTS["learning_rate"][0], helper.__name__
        assert (got["lr_schedule"], got["log_every"]) == (NEURAL_DEFAULTS["lr_schedule"], NEURAL_DEFAULTS["log_every"])
        _documented_as_signed(helper, {**got, "learning_rate": got["learning_rate"]})


def test_the_package_exports_every_registered_estimator_class():
    for cls in ESTIMATORS.values():
        assert cls.__name__ in mibound.__all__ and getattr(mibound, cls.__name__) is cls
    public = {"DistributedNeuralEstimator", "NotFittedError", "TrainingDiverged", "EstimateResult",
              "PermutationResult", "estimate_mi", "estimate_mi_distributed", "permutation_test", "ESTIMATORS",
              "make_estimator", "__version__"}
    assert public <= set(mibound.__all__) and len(set(mibound.__all__)) == len(mibound.__all__)
    for name in mibound.__all__:
        assert getattr(mibound, name) is not None, name
    assert mibound.api.__all__ == ["estimate_mi", "estimate_mi_distributed", "permutation_test"]
    # names exported before and kept as attributes for one release
    for name in ("SeparableCritic", "BilinearCritic", "ConcatCritic", "ConvCritic", "GaussianOptimalCritic",
                 "make_critic", "gaussian_mi", "CorrelatedGaussian", "Sampler"):
        assert getattr(mibound, name).__name__ == name
    assert mibound.bench.run_bench and mibound.tasks.list
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        mibound.nothing_here
