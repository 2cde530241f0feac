"""mibound.neural.engine and the registry: one loop for every path, behaviour from the registry, scikit-learn conformance."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

import mibound
from mibound.estimators.distributed import DistributedNeuralEstimator
from mibound.estimators.neural import NeuralEstimator
from mibound.neural import engine
from mibound.neural.critics import SeparableCritic
from mibound.neural.distributed import DistContext, DistributedRun
from mibound.neural.objectives import NEURAL_ESTIMATORS, OBJECTIVES, Loss
from mibound.neural.stacking import StackedRuns, stack_batches, train_ensemble
from mibound.registry import ESTIMATORS, is_neural
from mibound.results import NotFittedError, TrainingDiverged

from tests.conftest import ExplodingCritic

PACKAGE = Path(mibound.__file__).parent


def _stream(seed: int, d: int = 4, k: int = 16):
    gen = torch.Generator().manual_seed(seed)
    return lambda step: (torch.randn(k, d, generator=gen), torch.randn(k, d, generator=gen))


# ---------------------------------------------------------------------------------------------
# one loop
# ---------------------------------------------------------------------------------------------
#: Training loops that are not mibound's: the contrastive experiment trains the *user's* encoder, as a
#: user's own loop would, and the monitor watches it (mibound's critics train only in neural/engine.py).
USER_LOOPS = {"experiments/contrastive.py"}


def test_backward_is_called_in_one_place():
    sites = [f"{p.relative_to(PACKAGE)}:{i}" for p in PACKAGE.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if ".backward(" in line and not line.strip().startswith((">>>", "..."))  # docstring examples
             and str(p.relative_to(PACKAGE)) not in USER_LOOPS]
    assert sites == [f"neural/engine.py:{sites[0].split(':')[1]}"], sites


@pytest.mark.parametrize("path", ["single", "ensemble", "distributed"])
def test_divergence_reports_step_and_partial_history_on_every_path(path):
    loss = Loss("nwj", 4)
    if path == "single":
        runs, batches = engine.SingleRun(ExplodingCritic(7), loss), _stream(0)
    elif path == "distributed":
        runs, batches = DistributedRun(ExplodingCritic(7), loss, DistContext()), _stream(0)
    else:
        critics = [SeparableCritic(4, 4, hidden_dim=8, layers=1, embed_dim=4) for _ in range(2)]
        with torch.no_grad():
            critics[1].g[0].weight.fill_(float("nan"))  # run 1 is broken from the start
        runs, batches = StackedRuns(critics, [Loss("infonce", 4), loss]), stack_batches([_stream(0), _stream(1)])
    with pytest.raises(TrainingDiverged, match=r"nwj.*training diverged: non-finite loss at step") as info:
        engine.train(runs, batches, 20, log_every=5, progress=False)
    err = info.value
    assert err.partial is not None and len(err.partial["value"]) == err.step
    if path == "ensemble":
        assert "run 1 of the ensemble" in str(err) and err.step == 0
    else:
        assert err.step == 7 and np.isfinite(err.partial["value"].numpy()).all()


def test_record_policy_keeps_the_other_runs_training():
    critics = [SeparableCritic(4, 4, hidden_dim=8, layers=1, embed_dim=4) for _ in range(2)]
    with torch.no_grad():
        critics[1].g[0].weight.fill_(float("nan"))
    hist = train_ensemble(critics, [Loss("infonce", 4), Loss("infonce", 4)], [_stream(0), _stream(1)], 10,
                          log_every=5, progress=False, on_diverge="record")
    assert torch.isfinite(hist[0]["value"]).all() and not torch.isfinite(hist[1]["value"]).any()


@pytest.mark.numerics
def test_single_fit_and_ensemble_of_one_agree():
    """The strategies differ only in how scores are computed: one run trains the same either way."""
    def build():
        torch.manual_seed(0)
        return SeparableCritic(4, 4, hidden_dim=16, layers=1, embed_dim=8), Loss("smile", 4)

    c1, l1 = build()
    h1 = engine.train(engine.SingleRun(c1, l1), _stream(3), 30, log_every=10, progress=False)
    c2, l2 = build()
    stacked = StackedRuns([c2], [l2])
    h2 = engine.train(stacked, lambda s, b=_stream(3): tuple(t[None] for t in b(s)), 30, log_every=10,
                      progress=False)
    # SMILE, 30 steps: measured max |diff| 4.8e-7 over unset (AVX-512) and ATEN_CPU_CAPABILITY=default (alone and
    # with MKL_CBWR=COMPATIBLE) with seeds shifted by 0-9, and MKL_ENABLE_INSTRUCTIONS=AVX2: >20x inside
    torch.testing.assert_close(h1["value"], h2["value"], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
def test_registry_is_the_one_source_of_neural_names():
    assert NEURAL_ESTIMATORS == tuple(OBJECTIVES)
    assert [n for n in ESTIMATORS if is_neural(n)] == list(OBJECTIVES)
    assert {n for n, o in OBJECTIVES.items() if o.baseline} == {"tuba", "alpha_infonce"}
    assert {n for n, o in OBJECTIVES.items() if o.rows is not None} == {"infonce"}
    assert {n for n, o in OBJECTIVES.items() if o.moving_average} == {"mine"}
    assert Loss("tuba", 3).baseline is not None and Loss("infonce", 3).baseline is None
    assert Loss("alpha_infonce", 3, alpha=0.2).alpha == 0.2


def test_no_estimator_name_is_compared_outside_the_registry():
    """Behaviour comes from registry attributes, never from ``name == "tuba"``-style tests.

    ("gaussian" is left out: it is also the name of a view family of the DPI experiment.)"""
    names = set(NEURAL_ESTIMATORS) | {"ksg"}
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                consts += [e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set))
                           for e in c.elts if isinstance(e, ast.Constant)]
                if any(isinstance(c.value, str) and c.value in names for c in consts):
                    hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not hits, hits


# ---------------------------------------------------------------------------------------------
# scikit-learn conformance
# ---------------------------------------------------------------------------------------------
#: Every registered class and the distributed one: a class added to the registry is tested here.
CLASSES = [*dict.fromkeys(ESTIMATORS.values()), DistributedNeuralEstimator]
CHANGES = {NeuralEstimator: dict(estimator="smile", steps=10, clip=2.0),
           DistributedNeuralEstimator: dict(batch_size=8, device="cpu"),
           mibound.GaussianEstimator: dict(n_subsamples=5, seed=3),
           mibound.GaussianCopulaEstimator: dict(n_subsamples=5, seed=3),
           mibound.TCopulaEstimator: dict(n_subsamples=4, seed=2),
           mibound.KSGEstimator: dict(k=5, ties="keep"), ESTIMATORS["discrete"]: dict(n_subsamples=7),
           ESTIMATORS["auto"]: dict(neural=False, ksg_max_dim=3), ESTIMATORS["flow"]: dict(steps=11),
           ESTIMATORS["doe"]: dict(seed=4), ESTIMATORS["latent"]: dict(latent_dim=3, seed=5)}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_clone_set_params_and_repr(cls):
    assert cls in CHANGES, f"{cls.__name__}: add the parameters to change to CHANGES"
    est = cls(**CHANGES[cls])
    params = est.get_params(deep=True)
    assert params == est.get_params(deep=False) and set(params) == set(inspect.signature(cls).parameters)
    twin = clone(est)
    assert type(twin) is cls and twin is not est and twin.get_params() == params
    assert est.set_params(**{k: v for k, v in params.items()}) is est
    key, value = next(iter(CHANGES[cls].items()))
    fresh = cls().set_params(**CHANGES[cls])
    assert fresh.get_params() == params and getattr(fresh, key) == value
    changed = sorted(CHANGES[cls].items())  # scikit-learn prints the changed parameters, sorted
    assert repr(est) == f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in changed)})"
    assert repr(cls()) == f"{cls.__name__}()"
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(no_such_option=1)
    with pytest.raises(NotFittedError, match="not fitted"):
        est.estimate_
    assert not hasattr(est, "estimate_")  # an AttributeError, as scikit-learn's NotFittedError


def test_clone_of_a_fitted_estimator_is_unfitted_and_refits_equally():
    x, y = mibound.CorrelatedGaussian.from_mi(0.5, 2).sample(1000, seed=0)
    est = NeuralEstimator(steps=30, batch_size=32, progress=False, critic_options={"hidden_dim": 16, "layers": 1})
    a = est.fit(x, y).estimate_
    twin = clone(est)
    assert not hasattr(twin, "result_")
    assert twin.fit(x, y).estimate_ == a  # same seed, same machine: the same numbers


# ---------------------------------------------------------------------------------------------
# checkpoint selection on validation data
# ---------------------------------------------------------------------------------------------
class _Scripted(engine.Runs):
    """A run whose only parameter follows a script; 'validation' reads the parameter."""

    def __init__(self, runs: int = 1):
        self.runs = runs
        self.labels = [f"run {r}" for r in range(runs)]
        self.m = torch.nn.Linear(1, runs)
        with torch.no_grad():
            self.m.bias.zero_()  # a fixed start, whatever the global RNG holds

    def modules(self):
        return [self.m]

    def forward(self, x, y):
        loss = (self.m.bias - x[0, 0]) ** 2
        return loss, -loss.detach()

    def report(self, x, y):
        return self.m.bias.detach().clone()


def test_selection_keeps_the_best_validated_state_and_stops_with_patience():
    runs = _Scripted()
    target = lambda step: (torch.tensor([[5.0 if step < 30 else -5.0]]), torch.zeros(1, 1))  # noqa: E731
    val = lambda: -(runs.m.bias.detach() - 5.0).abs()  # noqa: E731  best when the bias is near 5
    hist = engine.train(runs, target, 400, learning_rate=0.5, log_every=5, progress=False, validate=val,
                        patience=50, min_steps=40)
    sel = int(hist["selected_step"][0])
    assert 20 <= sel <= 35  # the bias approached 5 before the target moved away at step 30
    assert sel + 50 < hist["steps_run"] <= sel + 56  # stopped at the first validation after patience ran out
    assert hist["steps_run"] < 400 and len(hist["value"]) == len(hist["step"]) and hist["step"][-1] < hist["steps_run"]
    best = float(hist["selected_value"][0])
    assert best == pytest.approx(float(hist["validation_value"].max()))
    assert float(-(runs.m.bias.detach() - 5.0).abs()) == pytest.approx(best)  # the selected state is back


def test_selection_per_run_in_an_ensemble_uses_each_runs_own_best():
    """Two stacked InfoNCE runs: one validated on a value that peaks early, one late; each keeps its own."""
    critics = [SeparableCritic(4, 4, hidden_dim=8, layers=1, embed_dim=4) for _ in range(2)]
    losses = [Loss("infonce", 4), Loss("infonce", 4)]
    stacked = StackedRuns(critics, losses)
    calls = {"n": 0}
    snapshots = []

    def val():
        calls["n"] += 1
        w = stacked.critic.g[0].weight.detach()
        snapshots.append(w.clone())
        n = calls["n"]
        return torch.tensor([-abs(n - 2), -abs(n - 5)], dtype=torch.float64)  # run 0 best at call 2, run 1 at 5

    engine.train(stacked, stack_batches([_stream(0), _stream(1)]), 30, log_every=5, progress=False, validate=val)
    w = stacked.critic.g[0].weight.detach()
    torch.testing.assert_close(w[0], snapshots[1][0], rtol=0, atol=0)
    torch.testing.assert_close(w[1], snapshots[4][1], rtol=0, atol=0)


def test_one_rate_per_runs_trains_each_as_alone():
    """Two strategies at two rates in one loop: each ends as it would trained alone at its rate."""
    def scripted_pair():
        return _Scripted(), _Scripted()
    target = lambda step: (torch.tensor([[3.0]]), torch.zeros(1, 1))  # noqa: E731
    a, b = scripted_pair()
    hist = engine.train([a, b], target, 20, learning_rate=[0.1, 0.01], log_every=5, progress=False)
    alone_a, alone_b = scripted_pair()
    engine.train(alone_a, target, 20, learning_rate=0.1, log_every=5, progress=False)
    engine.train(alone_b, target, 20, learning_rate=0.01, log_every=5, progress=False)
    torch.testing.assert_close(a.m.bias, alone_a.m.bias)
    torch.testing.assert_close(b.m.bias, alone_b.m.bias)
    assert float(a.m.bias.detach()) > float(b.m.bias.detach()) > 0  # Adam moves about one rate per step towards 3
    assert hist["value"].shape == (len(hist["step"]), 2)
    with pytest.raises(ValueError, match="one rate or one per Runs"):
        engine.train([a, b], target, 5, learning_rate=[0.1], progress=False)
    with pytest.raises(ValueError, match="learning_rate must be >"):
        engine.train([a, b], target, 5, learning_rate=[0.1, 0.0], progress=False)


def test_a_runs_whose_patience_ran_out_stops_stepping_while_another_trains():
    early, late = _Scripted(), _Scripted()
    target = lambda step: (torch.tensor([[5.0 if step < 20 else -5.0]]), torch.zeros(1, 1))  # noqa: E731
    calls = {"n": 0}

    def val():  # `early` stops improving at once, `late` improves at every validation
        calls["n"] += 1
        return torch.tensor([0.0, float(calls["n"])])

    hist = engine.train([early, late], target, 200, learning_rate=0.5, log_every=5, progress=False, validate=val,
                        patience=20, min_steps=10)
    assert hist["steps_run"] == 200 and int(hist["selected_step"][0]) == 4 and int(hist["selected_step"][1]) == 199
    values = hist["value"][:, 0]
    stopped = int(np.argmax(hist["step"].numpy() >= 25))  # early's patience ran out at the validation of step 25
    assert torch.all(values[stopped + 1:] == values[stopped])  # its history repeats its last record
    assert float(late.m.bias.detach()) < 0 < float(early.m.bias.detach())  # only `late` followed the target to -5
