"""The one training loop of every neural fit, and the one held-out evaluation.

Every fit — a single run (:class:`~mibound.estimators.NeuralEstimator`), an ensemble of stacked
runs (:mod:`mibound.neural.stacking`), a memory-mapped stream, one rank of a distributed job
(:mod:`mibound.neural.distributed`), the experiments — goes through :func:`train` and :func:`evaluate`.
What differs between the paths is a small strategy, a :class:`Runs` object:

* how a batch becomes per-run losses and reported values (one critic; ``R`` stacked critics; a
  critic scoring its rows against the candidates of every process),
* how many runs it holds (a single fit is ``R = 1``),
* how gradients are synchronised before the optimiser steps (none, or an all-reduce) and how
  logged values are combined over processes (none, or a mean).

The batch source is a plain function ``step -> (x, y)``. Progress bar, finite checks, the
history, the learning-rate schedule, divergence reporting (with the partial history and an
``on_diverge`` policy) and the held-out evaluation are written once, here.

Overhead
--------
Per-step values stay on the device in preallocated tensors; the loop synchronises with the host
only every ``log_every`` steps (progress bar, divergence check), so a step costs what its
arithmetic costs. Several :class:`Runs` (the shards of an ensemble) are stepped concurrently by
worker threads (torch releases the GIL in its kernels), each with its own optimiser. The optimiser
is the engine's own :class:`Adam` over torch's functional fused kernel (``torch.optim``'s classes import
``torch._dynamo`` on first use, about 1.3 s), and training flushes denormal floats to zero
(:func:`flush_denormals`), where Adam's decaying second moments otherwise slow its kernel severalfold.
"""

from __future__ import annotations

import collections
import contextlib
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mibound.inputs.checks import check_choice, check_float, check_int
from mibound.neural.objectives import Loss
from mibound.registry import NEURAL_DEFAULTS
from mibound.results import TrainingDiverged

__all__ = ["DistContext", "Runs", "SingleRun", "train", "evaluate", "Adam", "Schedule", "make_optimizer",
           "make_scheduler", "LR_SCHEDULES", "ON_DIVERGE", "torch_threads", "flush_denormals", "logged_steps"]

#: learning-rate schedules: constant, or a cosine decay to 2% of the rate
LR_SCHEDULES = ("constant", "cosine")
#: what :func:`train` does when a run's loss or value is not finite
ON_DIVERGE = ("raise", "record")

Batch = Callable[[int], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and its device.

    ``backend`` is ``None`` when no process group is in use (a single process, the default).
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def active(self) -> bool:
        """Whether collectives go through a process group."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class Runs:
    """The strategy of one training path: ``R`` runs that step together on one optimiser.

    Subclasses implement :meth:`forward` and :meth:`report` and list their modules; the defaults
    of :meth:`sync_gradients` and :meth:`all_mean` suit one process.

    Attributes
    ----------
    runs : int
        ``R``.
    labels : list of str
        How a divergence names each run (e.g. ``"nwj"`` or ``"nwj (run 3 of the ensemble)"``).
    """

    runs: int = 1
    labels: list[str]
    #: Whether every parameter holds the runs along its first axis, in run order (then
    #: :func:`~mibound.neural.engine.train` can give each run its own learning rate).
    run_axis: bool = False
    #: Whether this strategy may step in a worker thread next to another one (false when a step
    #: runs collectives, whose order must be the same on every process).
    concurrent: bool = True

    def modules(self) -> list[nn.Module]:
        """The modules whose parameters train and whose mode switches for evaluation."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-run ``(loss, value)`` on one step's batch, each of shape ``(R,)``."""
        raise NotImplementedError

    def report(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-run reported value on one held-out batch, shape ``(R,)`` (no surrogate, no state update)."""
        raise NotImplementedError

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules() for p in m.parameters() if p.requires_grad]

    def sync_gradients(self, params: list[nn.Parameter]) -> None:
        """Make the gradients the ones of the global objective (distributed: an all-reduce)."""

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Combine logged values over processes (one process: unchanged)."""
        return t

    def _state(self) -> list[torch.Tensor]:
        return [t for m in self.modules() for t in list(m.parameters()) + list(m.buffers())]

    @torch.no_grad()
    def snapshot(self, improved: torch.Tensor) -> None:
        """Keep a copy of the current state of the runs where ``improved`` (bool, ``(R,)``) is true."""
        if not hasattr(self, "_best"):
            self._best = [t.detach().clone() for t in self._state()]
        elif bool(improved.all()):
            for b, t in zip(self._best, self._state()):
                b.copy_(t)
        else:
            self._copy_runs(improved, self._best, self._state())

    def _copy_runs(self, mask: torch.Tensor, dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
        """Copy the runs in ``mask`` from ``src`` to ``dst`` (one run: all or nothing)."""
        if bool(mask.any()):
            for d, t in zip(dst, src):
                d.copy_(t)

    @torch.no_grad()
    def restore(self) -> None:
        """Put the state kept by :meth:`snapshot` back (no-op without one)."""
        if hasattr(self, "_best"):
            for t, b in zip(self._state(), self._best):
                t.copy_(b)
            del self._best

    def split(self, keep: Sequence[int]) -> "tuple[Runs, Callable[[list[torch.Tensor]], list[torch.Tensor]]] | None":
        """The runs ``keep`` (local indices) as a Runs of their own, or ``None`` when this strategy cannot split.

        Returns ``(runs, take)``: ``take`` maps a list of tensors laid out as :meth:`_state` (the
        state, a snapshot, or an optimiser's per-parameter moments at the parameters' positions) to the
        new Runs' layout (views; the caller copies). :func:`~mibound.neural.engine.train` splits a Runs
        whose runs stop at different steps (stacked candidate rates, :class:`mibound.neural.stacking.CandidateRuns`): the
        survivors continue as one Runs with their optimiser state, the stopped ones keep their checkpoint.
        """
        return None

    def close(self) -> None:
        """Called once when :func:`~mibound.neural.engine.train` returns, after the checkpoints are put back
        (default: nothing)."""


class SingleRun(Runs):
    """One critic and its :class:`~mibound.neural.objectives.Loss`: ``critic(x (K, dx), y (K, dy)) -> S (K, K)``.

    Any module works (a ready :class:`~mibound.neural.critics.GaussianOptimalCritic` too; one without
    trainable parameters is only read, never stepped).
    """

    def __init__(self, critic: nn.Module, loss: Loss, label: str | None = None):
        self.critic, self.loss = critic, loss
        self.labels = [label or loss.name]

    def modules(self) -> list[nn.Module]:
        return [self.critic, self.loss]

    def forward(self, x, y):
        loss, value = self.loss(self.critic(x, y), y)
        return loss.reshape(1), value.reshape(1)

    def report(self, x, y):
        return self.loss.report(self.critic(x, y), y).reshape(1)


# ---------------------------------------------------------------------------------------------
# optimiser and schedule
# ---------------------------------------------------------------------------------------------
class Adam:
    """Adam (AdamW's decoupled weight decay when ``weight_decay > 0``) through torch's functional kernels.

    The update is ``torch.optim.Adam``'s (``AdamW``'s) to the bit: the same public functional
    :func:`torch.optim.adam.adam` (:func:`torch.optim.adamw.adamw`), on the fused kernel where this torch
    supports it, with the same state (``state[p]``: ``"step"``, ``"exp_avg"``, ``"exp_avg_sq"``, made at a
    parameter's first step) and the same ``param_groups`` (``"params"``, ``"lr"``). The fused kernel applies
    the element-wise update to every parameter in one call instead of a dozen small operations per
    tensor; Adam has no reduction across elements, so parameters stacked along a run axis
    (:mod:`mibound.neural.stacking`) get exactly the per-run update.

    Why not ``torch.optim.Adam`` itself: constructing any ``torch.optim.Optimizer`` imports
    ``torch._dynamo`` (about 1.3 s, once a process: a third of a small ``auto`` fit started from the
    command line), and its ``step`` spends about 0.1 ms a step in Python around the kernel (7% of a
    default critic's step). ``tests/neural/test_training_overhead.py`` holds the two equal.

    Parameters
    ----------
    groups : list of dict
        ``{"params": [tensor, ...], "lr": float}`` each; or a flat iterable of tensors (one group at
        ``learning_rate``).
    learning_rate : float
        The rate of a flat iterable (and of a group without ``"lr"``).
    weight_decay : float, default 0.0
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    """

    def __init__(self, groups, learning_rate: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        groups = list(groups)
        if not groups or not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups = [{"params": list(g["params"]), "lr": float(g.get("lr", learning_rate))} for g in groups]
        self.weight_decay, self.betas, self.eps = float(weight_decay), betas, float(eps)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = collections.defaultdict(dict)
        if self.weight_decay:
            from torch.optim.adamw import adamw as update
        else:
            from torch.optim.adam import adam as update
        self._update = update
        first = next((p for g in self.param_groups for p in g["params"]), None)
        self.fused = first is not None and _fused_adam_works(first)

    def _slot_state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        st = self.state[p]
        if "step" not in st:  # as torch.optim.Adam makes it: float32 on the device (fused), else on the CPU
            st["step"] = (torch.zeros((), dtype=torch.float32, device=p.device) if self.fused
                          else torch.tensor(0.0, dtype=_scalar_dtype()))
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``set_to_none``)."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every parameter that has a gradient, each group at its ``"lr"``."""
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if not params:
                continue
            states = [self._slot_state(p) for p in params]
            self._update(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                         [s["exp_avg_sq"] for s in states], [], [s["step"] for s in states],
                         **({"fused": True} if self.fused else {}), amsgrad=False, beta1=self.betas[0],
                         beta2=self.betas[1], lr=g["lr"], weight_decay=self.weight_decay, eps=self.eps,
                         maximize=False)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


_FUSED: dict[tuple[str, torch.dtype], bool] = {}


def _fused_adam_works(p: torch.Tensor) -> bool:
    """Whether the fused Adam kernel runs for ``p``'s device and dtype here (torch >= 2.4 on CPU)."""
    key = (p.device.type, p.dtype)
    if key not in _FUSED:
        from torch.optim.adam import adam

        t = torch.zeros(2, dtype=p.dtype, device=p.device)
        try:
            adam([t], [torch.ones_like(t)], [torch.zeros_like(t)], [torch.zeros_like(t)], [],
                 [torch.zeros((), dtype=torch.float32, device=p.device)], fused=True, amsgrad=False, beta1=0.9,
                 beta2=0.999, lr=1e-3, weight_decay=0.0, eps=1e-8, maximize=False)
            _FUSED[key] = True
        except (RuntimeError, TypeError, ValueError):  # torch < 2.4 on CPU, or an unsupported dtype/device
            _FUSED[key] = False
    return _FUSED[key]


def make_optimizer(params, learning_rate: float, weight_decay: float = 0.0) -> Adam:
    """The optimiser of every fit: :class:`Adam` over ``params`` (tensors, or groups with their own ``"lr"``)."""
    return Adam(params, learning_rate, weight_decay)


class Schedule:
    """The learning rate of each group at step ``last_epoch``: ``base * factor(last_epoch)``.

    ``torch.optim.lr_scheduler.LambdaLR``'s rule (the rate of step ``t``, 0-based, is ``base * factor(t)``;
    :meth:`step` moves to the next step), for :class:`Adam`.

    Attributes
    ----------
    last_epoch : int
        The step whose rate the groups hold.
    base_lrs : list of float
        Each group's rate at construction.
    """

    def __init__(self, opt: Adam, factor: Callable[[int], float]):
        self.opt, self.factor, self.last_epoch = opt, factor, 0
        self.base_lrs = [g["lr"] for g in opt.param_groups]
        self.at(0)

    def at(self, epoch: int) -> None:
        """Put every group at step ``epoch``'s rate."""
        self.last_epoch = int(epoch)
        f = self.factor(self.last_epoch)
        for g, base in zip(self.opt.param_groups, self.base_lrs):
            g["lr"] = base * f

    def step(self) -> None:
        self.at(self.last_epoch + 1)


def make_scheduler(opt: Adam, schedule: str, steps: int) -> Schedule | None:
    """A per-step :class:`Schedule` for ``schedule`` (``None`` for ``"constant"``).

    ``"cosine"`` decays the rate from its initial value to 2% of it over ``steps`` steps. On a
    stationary task the last, small steps remove most of Adam's parameter noise: with the Poole
    critic at 2 nats (K = 64, 4000 steps) the held-out InfoNCE rose from about 1.70 to 1.78 nats
    (the optimal critic's value is 1.81). Keep ``"constant"`` when the data change during training
    (the staircase).
    """
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return Schedule(opt, lambda s: 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    raise ValueError(f"unknown lr_schedule {schedule!r}; valid: {', '.join(LR_SCHEDULES)}")


@contextlib.contextmanager
def flush_denormals():
    """Flush denormal floats to zero on this thread while the block runs, then put the flag back.

    Adam's second moment of a parameter whose gradients are tiny decays into the denormal range
    (below 1.2e-38 in float32), where CPU arithmetic runs tens of times slower. Measured on a default
    fit (``mixture-x-corr0.9`` of the 110-task suite, one thread): the fused Adam kernel took 1.36 s
    of 4.7 s, and 0.31 s with denormals flushed, with the same estimate to the bit. TensorFlow's CPU
    executor flushes them by default. The flag (``torch.set_flush_denormal``; x86 with SSE3, AArch64) is
    per thread: :func:`train` sets it on its own thread and its worker threads; torch's intra-op
    threads keep theirs. Yields whether it could be set.
    """
    was = _denormals_flushed()
    ok = torch.set_flush_denormal(True)
    try:
        yield ok
    finally:
        if ok and not was:
            torch.set_flush_denormal(False)


def _denormals_flushed() -> bool:
    """Whether this thread flushes denormals now: a float32 denormal survives a product only when it does not."""
    return bool(torch.tensor(1e-39, dtype=torch.float32) * 2.0 == 0)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Set torch's intra-op threads for a block (``None``: leave them); yields the count in force."""
    if n is None:
        yield torch.get_num_threads()
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


def logged_steps(steps: int, log_every: int) -> torch.Tensor:
    """The steps kept in a history: every ``log_every``-th and the last."""
    idx = torch.arange(log_every - 1, max(steps, log_every - 1), log_every)  # empty when steps < log_every
    if steps and (idx.numel() == 0 or idx[-1] != steps - 1):
        idx = torch.cat([idx, torch.tensor([steps - 1])])
    return idx


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
class _Slot:
    """One :class:`Runs` with its parameters, optimiser and schedule, and its columns of the history.

    ``learning_rate`` is one rate, or one per run (a tuple; runs stacked along the parameters' first axis,
    :attr:`Runs.run_axis`): the optimiser then holds run ``r``'s slice of every parameter (a view of
    its storage) in a parameter group of its own at rate ``r``, and each step hands every slice its slice of
    the gradient. Adam's update of a slice is then exactly the one a separate Adam at that rate makes.
    """

    def __init__(self, runs: Runs, cols: torch.Tensor, learning_rate: float | tuple[float, ...], lr_schedule: str,
                 steps: int, weight_decay: float = 0.0, optimizer: bool = True):
        self.runs, self.cols = runs, cols
        lo = int(cols[0]) if len(cols) else 0  # the history's columns: a slice when contiguous (no index_put)
        self.span = slice(lo, lo + len(cols)) if cols.tolist() == list(range(lo, lo + len(cols))) else cols
        self.rate = learning_rate
        self.lr_schedule, self.steps, self.weight_decay = lr_schedule, steps, weight_decay
        self.params = runs.parameters()
        self.views = None  # per run, its slice of every parameter (per-run rates)
        if not isinstance(learning_rate, numbers.Real):
            if not runs.run_axis:
                raise ValueError(f"per-run learning rates need runs stacked along the parameters' first axis; "
                                 f"{type(runs).__name__} is not")
            self.views = [[p.detach()[r] for p in self.params] for r in range(runs.runs)]
            groups = [{"params": v, "lr": lr} for v, lr in zip(self.views, learning_rate)]
        top = learning_rate if self.views is None else max(learning_rate)
        self.opt = (make_optimizer(self.params if self.views is None else groups, top, weight_decay)
                    if self.params and optimizer else None)
        self.sched = make_scheduler(self.opt, lr_schedule, steps) if self.opt is not None else None
        self.stopped = False  # early stopping ended this slot's training; it repeats its last record
        self.stopped_step: int | None = None  # steps this slot took before it stopped
        self.stop_reason: str | None = None  # "patience" or "race"
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.stopped:
            return self.last
        self.last = self._step(x, y)
        return self.last

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.opt is None:  # nothing to train (e.g. the analytic optimal critic): just read the bound
            with torch.no_grad():
                return self.runs.forward(x, y)
        loss, value = self.runs.forward(x, y)
        for p in self.params:  # Optimizer.zero_grad(set_to_none=True) without its profiler hooks (~0.1 ms a step)
            p.grad = None
        loss.sum().backward()  # runs are independent: d(sum)/d(theta_r) = d(loss_r)/d(theta_r)
        self.runs.sync_gradients(self.params)
        if self.views is not None:  # each run's slice of the gradient to its slice of the parameters
            for r, views in enumerate(self.views):
                for v, p in zip(views, self.params):
                    v.grad = None if p.grad is None else p.grad[r]
        self.opt.step()
        if self.sched is not None:
            self.sched.step()
        return loss.detach(), value.detach()

    def stop(self, step: int, reason: str) -> None:
        self.stopped, self.stopped_step, self.stop_reason = True, step + 1, reason

    @torch.no_grad()
    def split(self, stop: torch.Tensor, step: int, reason: str) -> "list[_Slot] | None":
        """This slot as one slot of the runs that go on (optimiser state, schedule and checkpoint carried
        over) and one stopped slot per run in ``stop`` (bool, local), or ``None`` when its Runs cannot split."""
        keep = [i for i in range(self.runs.runs) if not bool(stop[i])]
        pieces = [self.runs.split(keep)] + [self.runs.split([i]) for i in range(self.runs.runs) if bool(stop[i])]
        if any(p is None for p in pieces):
            return None
        state, best = self.runs._state(), getattr(self.runs, "_best", None)
        rates = self.rate if not isinstance(self.rate, numbers.Real) else [self.rate] * self.runs.runs
        (runs, take), out = pieces[0], []
        for t, src in zip(runs._state(), take(state)):
            t.copy_(src)
        if best is not None:
            runs._best = [b.clone(memory_format=torch.contiguous_format) for b in take(best)]
        kept = [rates[i] for i in keep]
        go_on = _Slot(runs, self.cols[keep], kept[0] if len(kept) == 1 else tuple(kept), self.lr_schedule,
                      self.steps, self.weight_decay)
        if self.opt is not None:  # Adam's moments and step count, run by run
            where = {id(t): i for i, t in enumerate(state)}
            new_pos = {id(t): i for i, t in enumerate(runs._state())}
            for key in {k for st in self.opt.state.values() for k in st}:
                laid, count = list(state), None
                for k, p in enumerate(self.params):
                    st = ([self.opt.state.get(v[k], {}).get(key) for v in self.views] if self.views is not None
                          else [self.opt.state.get(p, {}).get(key)])
                    if any(t is None for t in st):
                        continue
                    if st[0].ndim == 0:
                        count = st[0]  # the step count, the same for every parameter
                    else:
                        laid[where[id(p)]] = st[0] if self.views is None else torch.stack(st)
                moved = take(laid)
                for k, p in enumerate(go_on.params):
                    value = count if count is not None else moved[new_pos[id(p)]]
                    if go_on.views is None:
                        go_on.opt.state[p][key] = value.clone(memory_format=torch.contiguous_format)
                        continue
                    for r, views in enumerate(go_on.views):  # the survivors stacked: run r's slice
                        go_on.opt.state[views[k]][key] = (value.clone() if count is not None else
                                                          value[r].clone(memory_format=torch.contiguous_format))
            if go_on.sched is not None and self.sched is not None:
                go_on.sched.at(self.sched.last_epoch)
        go_on.last = None if self.last is None else tuple(t[keep] for t in self.last)
        out.append(go_on)
        for i, (single, take_one) in zip([i for i in range(self.runs.runs) if bool(stop[i])], pieces[1:]):
            for t, src in zip(single._state(), take_one(best if best is not None else state)):
                t.copy_(src)  # a stopped run keeps its checkpoint
            done = _Slot(single, self.cols[i:i + 1], rates[i], self.lr_schedule, self.steps, optimizer=False)
            done.stop(step, reason)
            done.last = None if self.last is None else tuple(t[i:i + 1] for t in self.last)
            out.append(done)
        return out


def train(runs: Runs | Sequence[Runs], next_batch: Batch, steps: int, *,
          learning_rate: float | Sequence[float] = NEURAL_DEFAULTS["learning_rate"][0],
          log_every: int = NEURAL_DEFAULTS["log_every"], progress: bool = True, desc: str | None = None,
          record_every_step: bool = False, lr_schedule: str = NEURAL_DEFAULTS["lr_schedule"],
          on_diverge: str = "raise", num_threads: int | None = None,
          validate: Callable[[], torch.Tensor] | None = None, validation: Iterable | None = None,
          validate_every: int | None = None,
          patience: int | None = None, min_steps: int = 0, weight_decay: float = 0.0,
          race: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
          ) -> dict[str, torch.Tensor]:
    """Train every run of ``runs`` with Adam for ``steps`` steps (fewer when early stopping ends it).

    With ``validate``, the loop reads every run's validation value every ``validate_every`` steps,
    keeps each run's best state (its *checkpoint*) and puts it back at the end: the run is then
    the critic of its ``selected_step``, chosen on validation data only. Once every run of one
    element of ``runs`` has gone ``patience`` steps without a better validation value (and
    ``min_steps`` have passed) that element stops stepping (its history repeats its last
    values); training ends when all have stopped.

    Parameters
    ----------
    runs : Runs or sequence of Runs
        The strategy (see the module docstring). Several are stepped concurrently by worker
        threads on the same batch (one after the other when any is not ``concurrent``), each
        with its own optimiser; their runs are numbered in order.
    next_batch : callable ``step -> (x, y)``
        The batch of a step, in the shape the runs expect (``(K, d)``, or ``(R, K, d)`` stacks).
    steps : int
    learning_rate : float or sequence, default 5e-4
        Adam's rate; a sequence gives one rate per element of ``runs``, where an element may be a tuple of
        one rate per run of a Runs whose parameters hold the runs along their first axis
        (:attr:`Runs.run_axis`; the stacked candidate rates, :class:`mibound.neural.stacking.CandidateRuns`). The default is the first rate
        of the estimators' default (:data:`mibound.registry.NEURAL_DEFAULTS`; Poole et al. 2019), the
        one they train alone when no validation rows choose between rates: this loop trains each
        ``Runs`` at the one rate it is given and chooses none.
    log_every : int, default 100
        Host synchronisation period: history records, progress bar and divergence check.
    progress : bool, default True
    desc : str, optional
        Progress bar label.
    record_every_step : bool, default False
        Keep the reported value of every step (the staircase plot) instead of every ``log_every``.
    lr_schedule : {"constant", "cosine"}, default "cosine"
        See :func:`make_scheduler`; the estimators' default. ``"constant"`` where the data change during
        training (the staircase's MI levels, a generator's game).
    on_diverge : {"raise", "record"}, default "raise"
        ``"raise"``: a non-finite loss or value raises :class:`~mibound.results.TrainingDiverged`
        naming the run and the step, with the run's history up to it in ``partial``.
        ``"record"``: keep training; the diverged run's history holds the non-finite values,
        the other runs are unaffected.
    num_threads : int, optional
        torch intra-op threads during the call (``None``: leave torch's setting).
    validate : callable ``() -> Tensor (R,) or (R, B)``, optional
        Every run's value on the validation data, the same on every process (higher is better):
        one value per run, or its ``B`` per-batch values (:func:`evaluate` of the validation
        batches), whose mean is the run's validation value and whose spread a ``race`` reads.
    validation : iterable of ``(x, y)``, optional
        Validation batches instead of ``validate``: the loop reads them with :func:`evaluate` on the
        elements of ``runs`` that still step only (a stopped one keeps its last per-batch values, so
        validation costs nothing for a rate the race dropped or early stopping ended).
    validate_every : int, optional
        Steps between validations (default ``log_every``); the last step is always validated.
    patience : int, optional
        Stop when no run improved its validation value for this many steps (``None``: never stop
        early; the best checkpoint is still selected).
    min_steps : int, default 0
        Never stop before this many steps.
    weight_decay : float, default 0.0
        Decoupled weight decay (AdamW) of every parameter.
    race : callable ``(step, best (R,), values (R, B), alive (R,)) -> Tensor (R,) of bool``, optional
        Called after every validation with each run's best validation value so far, the per-batch
        values of this validation and which runs still step; the runs it returns true for are
        dropped: an element of ``runs`` whose runs are all dropped stops stepping (reason
        ``"race"``), like one that early stopping ends (reason ``"patience"``). An element some of whose
        runs stop (by the race or by patience) splits when its Runs can (:meth:`Runs.split`): the others
        step on as a Runs of their own with their optimiser state, schedule and checkpoints. The rule lives
        with the caller (the learning-rate race: :class:`mibound.neural.selection.RateRace`).

    Returns
    -------
    dict
        ``step`` (int64, ``(L,)``), ``value`` and ``loss`` (float, ``(L, R)``): the reported value
        on the training batch and the surrogate loss of every run at the logged steps (combined
        over processes by :meth:`Runs.all_mean`); ``steps_run`` (int): steps actually taken. With
        ``validate`` also ``validation_step`` (``(V,)``), ``validation_value`` (``(V, R)``),
        ``selected_step`` (``(R,)``, the step whose state each run ends with) and
        ``selected_value`` (``(R,)``, its validation value), ``validation_batches``
        (``(V, R, B)``, when ``validate`` gives per-batch values), ``stopped_step`` (``(R,)``, the
        steps each run took) and ``stop_reason`` (R strings: ``"patience"``, ``"race"``, ``"steps"``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    parts = [runs] if isinstance(runs, Runs) else list(runs)
    if not parts:
        raise ValueError("train needs at least one Runs object, got none")
    check_int(steps, "steps", minimum=0)
    check_int(log_every, "log_every", minimum=1)
    check_choice(lr_schedule, LR_SCHEDULES, "lr_schedule")
    check_choice(on_diverge, ON_DIVERGE, "on_diverge")
    validate_every = log_every if validate_every is None else check_int(validate_every, "validate_every", minimum=1)
    if patience is not None:
        check_int(patience, "patience", minimum=1)
    check_int(min_steps, "min_steps", minimum=0)
    rates = [learning_rate] * len(parts) if isinstance(learning_rate, numbers.Real) else list(learning_rate)
    if len(rates) != len(parts):
        raise ValueError(f"learning_rate must be one rate or one per Runs ({len(parts)}), got {len(rates)}")
    rates = [_check_rate(r, p.runs) for r, p in zip(rates, parts)]
    offsets = [sum(p.runs for p in parts[:i]) for i in range(len(parts) + 1)]
    slots = [_Slot(p, torch.arange(lo, lo + p.runs), lr, lr_schedule, steps, weight_decay)
             for p, lo, lr in zip(parts, offsets, rates)]
    labels = [lab for p in parts for lab in p.labels]
    total = offsets[-1]
    values = losses = torch.empty(0, total)  # allocated on the device of the first step's values
    pool = (ThreadPoolExecutor(len(slots), initializer=torch.set_flush_denormal, initargs=(True,))
            if len(slots) > 1 and all(p.concurrent for p in parts) else None)  # workers flush denormals too
    if validate is not None and validation is not None:
        raise ValueError("give validate or validation, not both")
    if validation is not None:
        validate = _ActiveValidation(slots, validation, total)
    sel = _Selection(slots, total) if validate is not None else None
    steps_run = steps
    bar = tqdm(total=steps, desc=desc or (labels[0] if total == 1 else f"ensemble of {total}"), disable=not progress,
               mininterval=0.5, leave=False, unit="step")
    start = 0
    try:
        with torch_threads(num_threads), flush_denormals():
            for step in range(steps):
                x, y = next_batch(step)
                if pool is None or sum(not s.stopped for s in slots) < 2:
                    out = [s.step(x, y) for s in slots]
                else:
                    out = [f.result() for f in [pool.submit(s.step, x, y) for s in slots]]
                if step == 0:
                    values = torch.empty(steps, total, device=out[0][1].device)
                    losses = torch.empty(steps, total, device=out[0][1].device)
                for slot, (loss, value) in zip(slots, out):
                    if not isinstance(slot.span, slice):  # index_put casts nothing
                        loss, value = loss.to(losses.dtype), value.to(values.dtype)
                    losses[step, slot.span] = loss
                    values[step, slot.span] = value
                if (step + 1) % log_every == 0 or step + 1 == steps:
                    window = parts[0].all_mean(torch.stack([values[start:step + 1], losses[start:step + 1]]))
                    values[start:step + 1], losses[start:step + 1] = window[0], window[1]
                    if on_diverge == "raise":
                        _check_finite(labels, values, losses, start, step + 1)
                    bar.update(step + 1 - start)
                    if total == 1:
                        bar.set_postfix(estimate=f"{values[step, 0].item():.3f}", refresh=False)
                    start = step + 1
                if sel is not None and ((step + 1) % validate_every == 0 or step + 1 == steps):
                    sel.update(step, validate())
                    if race is not None:
                        alive = torch.zeros(total, dtype=torch.bool)
                        for slot in slots:
                            alive[slot.cols] = not slot.stopped
                        dropped = torch.as_tensor(race(step, sel.best.clone(), sel.batches, alive.clone()),
                                                  dtype=torch.bool)
                        _stop(slots, dropped, step, "race")
                    if patience is not None and step + 1 >= min_steps:
                        _stop(slots, sel.exhausted(step, patience), step, "patience")
                    if all(slot.stopped for slot in slots):
                        steps_run = step + 1
                        break
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    if steps_run < steps:  # stopped early: close the last logging window
        values, losses = values[:steps_run], losses[:steps_run]
        if start < steps_run:
            window = parts[0].all_mean(torch.stack([values[start:], losses[start:]]))
            values[start:], losses[start:] = window[0], window[1]
            if on_diverge == "raise":
                _check_finite(labels, values, losses, start, steps_run)
    idx = torch.arange(steps_run) if record_every_step else logged_steps(steps_run, log_every)
    idx = idx.to(values.device)
    hist = {"step": idx.cpu(), "value": values[idx].cpu(), "loss": losses[idx].cpu(), "steps_run": steps_run}
    if sel is not None:
        hist.update(sel.finish())
    stopped, reasons = torch.full((total,), steps_run, dtype=torch.long), ["steps"] * total
    for s in slots:
        s.runs.close()
        stopped[s.cols] = s.stopped_step or steps_run
        for c in s.cols.tolist():
            reasons[c] = s.stop_reason or "steps"
    hist["stopped_step"], hist["stop_reason"] = stopped, reasons
    return hist


def _check_rate(rate, runs: int) -> float | tuple[float, ...]:
    """One positive rate, or one per run of a Runs (a tuple)."""
    if isinstance(rate, numbers.Real):
        return check_float(rate, "learning_rate", minimum=0.0, exclusive_min=True)
    rate = tuple(check_float(r, "learning_rate", minimum=0.0, exclusive_min=True) for r in rate)
    if len(rate) != runs:
        raise ValueError(f"per-run learning rates must give one rate per run ({runs}), got {len(rate)}")
    return rate


def _stop(slots: list[_Slot], stop: torch.Tensor, step: int, reason: str) -> None:
    """Stop the runs in ``stop`` (bool, ``(R,)``): a slot whose runs all stop stops stepping; one whose Runs can
    split (:meth:`Runs.split`) goes on with the others; otherwise it steps on until all stop. ``slots`` in place."""
    for slot in list(slots):
        if slot.stopped:
            continue
        mine = stop[slot.cols]
        if bool(mine.all()):
            slot.stop(step, reason)
        elif bool(mine.any()):
            pieces = slot.split(mine, step, reason)
            if pieces is not None:
                i = slots.index(slot)
                slots[i:i + 1] = pieces


class _ActiveValidation:
    """``validate()`` of :func:`train`'s ``validation`` batches: the stepping slots are read, the stopped repeat."""

    def __init__(self, slots: list[_Slot], batches: Iterable, total: int):
        self.slots, self.batches, self.total = slots, batches, total
        self.last: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        active = [s for s in self.slots if not s.stopped] if self.last is not None else list(self.slots)
        values = evaluate([s.runs for s in active], self.batches)
        if self.last is None:
            self.last = values
            return values.clone()
        lo = 0
        for s in active:
            self.last[s.cols] = values[lo:lo + s.runs.runs]
            lo += s.runs.runs
        return self.last.clone()


class _Selection:
    """Each run's best validation value so far, its step, and the kept state of that step."""

    def __init__(self, slots: list[_Slot], total: int):
        self.slots = slots  # train's list: a split slot is replaced there
        self.best = torch.full((total,), -math.inf, dtype=torch.float64)
        self.best_step = torch.full((total,), -1, dtype=torch.long)
        self.steps: list[int] = []
        self.values: list[torch.Tensor] = []
        self.per_batch: list[torch.Tensor] = []
        self.batches = torch.empty(total, 0, dtype=torch.float64)  # the last validation's per-batch values

    def update(self, step: int, value: torch.Tensor) -> None:
        value = value.detach().double().cpu()
        if value.ndim == 2 and value.shape[0] == self.best.numel():  # per-batch values: the mean is the run's
            self.per_batch.append(value)
            self.batches, value = value, value.mean(1)
        else:
            value = value.reshape(-1)
            self.batches = value[:, None]
        if value.numel() != self.best.numel():
            raise ValueError(f"validate() must return one value per run ({self.best.numel()}), got {value.numel()}")
        self.steps.append(step)
        self.values.append(value)
        improved = torch.nan_to_num(value, nan=-math.inf) > self.best
        self.best = torch.where(improved, value, self.best)
        self.best_step[improved] = step
        for slot in self.slots:
            slot.runs.snapshot(improved[slot.cols])

    def exhausted(self, step: int, patience: int) -> torch.Tensor:
        """Per run (bool, ``(R,)``): no better validation value for ``patience`` steps."""
        return step - self.best_step >= patience

    def finish(self) -> dict[str, torch.Tensor]:
        for slot in self.slots:
            slot.runs.restore()
        return {"validation_step": torch.tensor(self.steps, dtype=torch.long),
                "validation_value": torch.stack(self.values) if self.values else torch.empty(0, self.best.numel()),
                "selected_step": self.best_step.clone(), "selected_value": self.best.clone(),
                **({"validation_batches": torch.stack(self.per_batch)} if self.per_batch else {})}


def _check_finite(labels: list[str], values: torch.Tensor, losses: torch.Tensor, start: int, stop: int) -> None:
    ok = torch.isfinite(values[start:stop]) & torch.isfinite(losses[start:stop])
    if bool(ok.all()):
        return
    bad_step, run = (~ok).nonzero()[0].tolist()
    bad = start + bad_step
    col = values[:bad, run]
    finite = torch.isfinite(col).nonzero()
    last = float(col[int(finite[-1])]) if finite.numel() else None
    partial = {"step": torch.arange(bad), "value": col.cpu().clone(), "loss": losses[:bad, run].cpu().clone()}
    raise TrainingDiverged(labels[run], bad, last, partial=partial)


@torch.no_grad()
def evaluate(runs: Runs | Sequence[Runs], batches: Iterable["tuple[torch.Tensor, torch.Tensor]"]) -> torch.Tensor:
    """Every run's reported value on every held-out batch.

    Parameters
    ----------
    runs : Runs or sequence of Runs
    batches : iterable of ``(x, y)``
        Held-out batches in the shape the runs expect.

    Returns
    -------
    Tensor, shape (R, n_batches), float64, on the CPU
        Nats (combined over processes by :meth:`Runs.all_mean`).
    """
    parts = [runs] if isinstance(runs, Runs) else list(runs)
    mods = [m for p in parts for m in p.modules()]
    modes = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        vals = [torch.cat([p.report(x, y).double() for p in parts]) for x, y in batches]
    finally:
        for m, mode in zip(mods, modes):
            m.train(mode)
    total = sum(p.runs for p in parts)
    if not vals:
        return torch.empty(total, 0, dtype=torch.float64)
    return parts[0].all_mean(torch.stack(vals, dim=1)).cpu()
