"""Train many independent critics at once: one vectorised pass over ``R`` stacked runs.

An ensemble holds ``R`` runs whose critics have the same architecture and shapes; the runs may
differ in everything else: estimator (loss), initial weights, seed, data stream, MI level. Every
``nn.Linear`` of the ``R`` critics becomes one :class:`StackedLinear` holding ``R`` weight matrices,
so a step is a handful of batched matrix products (``torch.baddbmm``) instead of ``R`` Python
loops of small ones; the critics' own ``forward`` code runs unchanged on ``(R, K, d)`` inputs
(it acts on the last dimensions only), so there is one implementation of each critic and each
bound (:mod:`mibound.functional.bounds` accepts ``(R, K, K)`` stacks).

Independence of the runs
------------------------
The training objective is the *sum* of the ``R`` per-run losses, so the gradient of run ``r``'s
weights is exactly ``d loss_r / d theta_r``. Adam is element-wise with no reduction across
elements, so one Adam over the stacked tensors applies to every slice exactly the update a
separate Adam would (its moment estimates are per-element, hence per run; the step count is the
same for all runs because they step together). No quantity mixes two runs: a run that diverges
turns only its own slice into NaN. Results therefore equal those of training the runs one by
one with :func:`mibound.neural.engine.train` (same initial weights and batches give the same
trajectory up to floating-point summation order), which ``tests/neural/test_stacking.py`` checks. The
ensemble is one strategy (:class:`StackedRuns`, :func:`shards`) of the one loop,
:func:`mibound.neural.engine.train`; the estimators' stacked fits (cross-fitting, permutation
nulls, ``fit_samplers``) run it through their one driver, ``mibound.estimators.neural.fit_critics``.

Runs are grouped by estimator (and its options) so that each group's loss is evaluated once on
its ``(R_g, K, K)`` slice of scores; group members are made contiguous internally, so slices
are views, not copies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from mibound.inputs.checks import check_choice, check_int
from mibound.neural import engine
from mibound.neural.critics import CRITICS
from mibound.neural.objectives import Loss
from mibound.registry import NEURAL_DEFAULTS

__all__ = [
    "StackedRuns",
    "CandidateRuns",
    "StackedLinear",
    "stack_modules",
    "unstack_into",
    "stack_batches",
    "train_ensemble",
    "shards",
    "evaluate_ensemble",
]

StackedBatch = Callable[[int], "tuple[torch.Tensor, torch.Tensor]"]


class StackedLinear(nn.Module):
    """``R`` independent affine maps applied to ``R`` stacked inputs.

    Holds ``weight`` of shape ``(R, in, out)`` (each slice is the transpose of an ``nn.Linear``
    weight, so that the forward is a plain batched product) and ``bias`` of shape ``(R, out)``.

    Shapes
    ------
    ``forward(x: (R, ..., in)) -> (R, ..., out)``; the middle dimensions are flattened into one
    matrix per run, so a ``(R, r, K, H)`` block of pair activations is one ``bmm``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    @classmethod
    def from_linears(cls, layers: Sequence[nn.Linear]) -> "StackedLinear":
        """Stack the parameters of ``R`` ``nn.Linear`` layers of equal shape (copies them)."""
        weight = torch.stack([lin.weight.detach().T for lin in layers]).contiguous()
        has_bias = [lin.bias is not None for lin in layers]
        if any(has_bias) != all(has_bias):
            raise ValueError("cannot stack linear layers with and without bias")
        bias = torch.stack([lin.bias.detach() for lin in layers]).contiguous() if all(has_bias) else None
        return cls(weight, bias)

    @property
    def runs(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, d_in, d_out = self.weight.shape
        if x.ndim < 2 or x.shape[0] != r or x.shape[-1] != d_in:
            raise ValueError(f"StackedLinear expects input of shape ({r}, ..., {d_in}), got {tuple(x.shape)}")
        flat = x if x.ndim == 3 else x.reshape(r, -1, d_in)
        if self.bias is None:
            out = torch.bmm(flat, self.weight)
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight)
        # a 3-D input gives the fresh product itself (not a view), so in-place activations after
        # this layer cost no copies in the backward pass
        return out if x.ndim == 3 else out.view(*x.shape[:-1], d_out)

    def extra_repr(self) -> str:
        r, d_in, d_out = self.weight.shape
        return f"runs={r}, in_features={d_in}, out_features={d_out}, bias={self.bias is not None}"


def _signature(module: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    state = module.state_dict()
    return [(k, tuple(v.shape), v.dtype) for k, v in state.items()]


def stack_modules(modules: Sequence[nn.Module]) -> nn.Module:
    """One module that computes ``R`` modules of the same architecture on stacked inputs.

    A deep copy of ``modules[0]`` in which every ``nn.Linear`` is replaced by a
    :class:`StackedLinear` built from the ``R`` corresponding layers, and every other parameter or
    buffer by the stack of the ``R`` values along a new leading axis. The copy's ``forward`` must
    act on the last dimensions only (true of the critics in :data:`mibound.neural.critics.CRITICS` and
    of :func:`mibound.neural.critics.mlp`).

    Parameters
    ----------
    modules : sequence of nn.Module, length R >= 1
        Same type and the same parameter names, shapes and dtypes.

    Returns
    -------
    nn.Module
        Parameters are copies: train the stack, then write back with :func:`unstack_into`.
    """
    modules = list(modules)
    if not modules:
        raise ValueError("stack_modules needs at least one module, got an empty sequence")
    first = modules[0]
    sig = _signature(first)
    for i, m in enumerate(modules[1:], start=1):
        if type(m) is not type(first):
            raise TypeError(f"all modules must have the same type; module 0 is {type(first).__name__}, "
                            f"module {i} is {type(m).__name__}")
        if _signature(m) != sig:
            raise ValueError(f"module {i} has different parameter shapes than module 0; an ensemble needs "
                             "critics of the same shape (same dims, hidden_dim, layers, embed_dim)")
    for name, sub in first.named_modules():
        if sub is first or isinstance(sub, nn.Linear):
            continue
        if any(True for _ in sub.parameters(recurse=False)):
            raise TypeError(f"cannot stack submodule {name!r} of type {type(sub).__name__}: only nn.Linear "
                            "layers, parameter-free modules and top-level parameters can be stacked")
    stacked = copy.deepcopy(first)
    per_module = [dict(m.named_modules()) for m in modules]
    for name, sub in list(stacked.named_modules()):
        if isinstance(sub, nn.Linear):
            _set_submodule(stacked, name, StackedLinear.from_linears([mods[name] for mods in per_module]))
    for name, param in list(stacked.named_parameters(recurse=False)):
        values = [getattr(m, name).detach() for m in modules]
        setattr(stacked, name, nn.Parameter(torch.stack(values).contiguous(), requires_grad=param.requires_grad))
    for mod_name, sub in list(stacked.named_modules()):
        if isinstance(sub, StackedLinear):
            continue
        for buf_name, buf in list(sub.named_buffers(recurse=False)):
            full = f"{mod_name}.{buf_name}" if mod_name else buf_name
            values = [m.get_buffer(full) for m in modules]
            sub.register_buffer(buf_name, torch.stack(values).clone())
    return stacked


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


@torch.no_grad()
def unstack_into(stacked: nn.Module, modules: Sequence[nn.Module]) -> None:
    """Copy run ``r`` of a :func:`stack_modules` result into ``modules[r]`` (in place)."""
    modules = list(modules)
    subs = dict(stacked.named_modules())
    for r, m in enumerate(modules):
        for name, sub in m.named_modules():
            st = subs[name]
            if isinstance(st, StackedLinear):
                sub.weight.copy_(st.weight[r].T)
                if sub.bias is not None:
                    sub.bias.copy_(st.bias[r])
                continue
            for pname, p in sub.named_parameters(recurse=False):
                p.copy_(getattr(st, pname)[r])
            for bname, b in sub.named_buffers(recurse=False):
                b.copy_(st.get_buffer(bname)[r])


def stack_batches(streams: Sequence[Callable[[int], "tuple[torch.Tensor, torch.Tensor]"]]) -> StackedBatch:
    """Turn ``R`` per-run batch functions ``step -> (x (K, dx), y (K, dy))`` into one stacked function.

    Each run keeps its own stream (its own generator), so an ensemble sees exactly the batches the
    runs would see one by one. Cost: ``R`` small sampling calls and one copy per step; a
    vectorised sampler returning ``(R, K, d)`` directly avoids both.
    """
    streams = list(streams)

    def batch(step: int):
        xs, ys = zip(*(s(step) for s in streams))
        return torch.stack(xs), torch.stack(ys)

    return batch


def _loss_key(loss: Loss) -> tuple:
    return (loss.name, loss.clip, loss.ema_rate, loss.alpha)


def _check_batch(x: torch.Tensor, y: torch.Tensor, runs: int) -> None:
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != runs or y.shape[0] != runs or x.shape[1] != y.shape[1]:
        raise ValueError(f"an ensemble batch must be x (R, K, dx) and y (R, K, dy) with R={runs}, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")


class StackedRuns(engine.Runs):
    """Runs ``lo .. hi - 1`` of an ensemble as one stacked critic: the ensemble's strategy for :func:`mibound.neural.engine.train`.

    Runs are grouped by estimator (and its options) so that each group's loss is evaluated once
    on its ``(R_g, K, K)`` slice of scores; group members are made contiguous internally (slices
    are views, not copies), and per-run outputs come back in run order.

    Parameters
    ----------
    critics, losses : sequences of R
        As for :func:`train_ensemble`; copied into the stack (:meth:`write_back` copies back).
    lo, hi : int, optional
        The slice of the runs this object steps (a worker's shard; it reads rows ``lo .. hi - 1``
        of the ensemble's stacked batch); default all.
    compute_dtype : torch.float32 or torch.bfloat16
        See :func:`train_ensemble`.
    """

    def __init__(self, critics: Sequence[nn.Module], losses: Sequence[Loss], lo: int = 0, hi: int | None = None,
                 compute_dtype: torch.dtype = torch.float32):
        self.total = len(critics)
        hi = self.total if hi is None else hi
        self.lo, self.hi, self.runs = lo, hi, hi - lo
        self.autocast = compute_dtype != torch.float32
        keys = [_loss_key(l) for l in losses[lo:hi]]
        order: list[int] = []
        self.groups: list[tuple[slice, list[int]]] = []
        for key in dict.fromkeys(keys):  # first-seen order
            members = [i for i, k in enumerate(keys) if k == key]
            self.groups.append((slice(len(order), len(order) + len(members)), members))
            order += members
        self.order = order
        self.identity = order == list(range(len(order)))
        self.perm = torch.tensor(order)
        self.inverse = torch.empty(len(order), dtype=torch.long)
        self.inverse[self.perm] = torch.arange(len(order))
        self.critic = stack_modules([critics[lo + i] for i in order])
        self.losses = nn.ModuleList([stack_modules([losses[lo + i] for i in members]) for _, members in self.groups])
        self.labels = [f"{losses[r].name} (run {r} of the ensemble)" for r in range(lo, hi)]

    def modules(self) -> list[nn.Module]:
        return [self.critic, self.losses]

    def _inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_batch(x, y, self.total)
        x, y = x[self.lo:self.hi], y[self.lo:self.hi]
        if self.identity or self.runs == 1:
            return x, y
        return x.index_select(0, self.perm), y.index_select(0, self.perm)

    def _scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.autocast:
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.critic(x, y)  # hidden layers in bfloat16, scores float32
        return self.critic(x, y)

    def _run_order(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.identity else t.index_select(0, self.inverse)

    def forward(self, x, y):
        x, y = self._inputs(x, y)
        scores = self._scores(x, y)
        parts = [lf(scores[sl], y[sl]) for (sl, _), lf in zip(self.groups, self.losses)]
        loss, value = (parts[0] if len(parts) == 1 else
                       (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])))
        return self._run_order(loss), self._run_order(value)

    def report(self, x, y):
        if x.ndim == 2 and y.ndim == 2:  # a held-out batch shared by every run
            x, y = x.expand(self.total, -1, -1), y.expand(self.total, -1, -1)
        x, y = self._inputs(x, y)
        scores = self._scores(x, y)
        return self._run_order(torch.cat([lf.report(scores[sl], y[sl]) for (sl, _), lf in zip(self.groups, self.losses)]))

    def _state_runs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every stacked tensor with the run (in run order) of each position of its leading axis."""
        crit = [(t, self.perm) for t in list(self.critic.parameters()) + list(self.critic.buffers())]
        return crit + [(t, torch.tensor(members)) for (_, members), lf in zip(self.groups, self.losses)
                       for t in list(lf.parameters()) + list(lf.buffers())]

    def _state(self) -> list[torch.Tensor]:
        return [t for t, _ in self._state_runs()]

    def _copy_runs(self, mask, dst, src):
        for d, t, (_, runs) in zip(dst, src, self._state_runs()):
            m = mask[runs]
            if bool(m.any()):
                d[m] = t[m]

    @torch.no_grad()
    def write_back(self, critics: Sequence[nn.Module], losses: Sequence[Loss]) -> None:
        """Copy the trained stack into run ``lo + r``'s critic and loss."""
        unstack_into(self.critic, [critics[self.lo + i] for i in self.order])
        for (_, members), stacked in zip(self.groups, self.losses):
            unstack_into(stacked, [losses[self.lo + i] for i in members])


class CandidateRuns(StackedRuns):
    """The candidate learning rates of one fit trained as one stacked critic: the rate race's strategy.

    ``R`` :class:`~mibound.neural.engine.SingleRun` s of one estimator, with the same critic
    architecture and initial weights, that see the same batches (``(K, d)``, shared by every run, as
    when they were stepped one by one). :func:`mibound.neural.engine.train` steps them as one
    :class:`StackedRuns` with a rate per run (its ``learning_rate`` element is a tuple) and reads their
    validation batches in one stacked pass. When a run stops (the race drops it, or early stopping
    ends it) :meth:`split` hands the survivors on, each with its critic, Adam moments, step count
    and checkpoint: one survivor trains on as its own ``SingleRun`` (the one-critic step, no stacked
    overhead). The ``SingleRun`` s' critics and losses hold the trained state when training ends.

    Parameters
    ----------
    singles : sequence of R SingleRun
        The candidates, in rate order (run ``r`` is ``singles[r]``).
    """

    def __init__(self, singles: Sequence[engine.SingleRun]):
        self.singles = list(singles)
        if len(self.singles) < 2:
            raise ValueError(f"CandidateRuns stacks at least two runs, got {len(self.singles)}")
        for s in self.singles:
            if type(s.critic) not in CRITICS.values():  # a critic of its own may not act on (R, K, d) stacks
                raise TypeError(f"CandidateRuns stacks the critics of mibound.neural.critics.CRITICS, got a "
                                f"{type(s.critic).__name__}")
        if len({_loss_key(s.loss) for s in self.singles}) != 1:
            raise ValueError("the candidates of one fit share their estimator and its options")
        super().__init__([s.critic for s in self.singles], [s.loss for s in self.singles])
        self.labels = [lab for s in self.singles for lab in s.labels]
        self.run_axis = True  # one estimator: one group in run order

    def _inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim == 2 and y.ndim == 2:  # one batch shared by every candidate (no copy)
            x, y = x.expand(self.total, -1, -1), y.expand(self.total, -1, -1)
        return super()._inputs(x, y)

    def _names(self) -> list[tuple[str, str, bool]]:
        """Per tensor of :meth:`_state`: its module ("critic" or "loss"), its name there, and whether it is a
        :class:`StackedLinear` weight (stored transposed)."""
        out = []
        for kind, mod in (("critic", self.critic), ("loss", self.losses[0])):
            subs = dict(mod.named_modules())
            for name, _ in list(mod.named_parameters()) + list(mod.named_buffers()):
                owner, _, leaf = name.rpartition(".")
                out.append((kind, name, isinstance(subs[owner], StackedLinear) and leaf == "weight"))
        return out

    def split(self, keep):
        keep = list(keep)
        if len(keep) > 1:
            runs = CandidateRuns([self.singles[i] for i in keep])
            idx = torch.tensor(keep)
            return runs, lambda ts: [t.index_select(0, idx.to(t.device)) for t in ts]
        r, single = keep[0], self.singles[keep[0]]
        at = {(kind, name): (i, tr) for i, (kind, name, tr) in enumerate(self._names())}
        order = [at[(kind, name)] for kind, mod in (("critic", single.critic), ("loss", single.loss))
                 for name, _ in list(mod.named_parameters()) + list(mod.named_buffers())]
        return single, lambda ts: [ts[i][r].T if tr else ts[i][r] for i, tr in order]

    def close(self) -> None:
        """Write the stacked state (checkpoints put back) into the candidates' own critics and losses."""
        self.write_back([s.critic for s in self.singles], [s.loss for s in self.singles])


def _check_inputs(critics, losses) -> tuple[list[nn.Module], list[Loss]]:
    critics, losses = list(critics), list(losses)
    if not critics:
        raise ValueError("an ensemble needs at least one run, got no critics")
    if len(losses) != len(critics):
        raise ValueError(f"need one loss per critic, got {len(critics)} critics and {len(losses)} losses")
    for i, c in enumerate(critics):
        if type(c) not in CRITICS.values():
            raise TypeError(f"critic {i} is a {type(c).__name__}; ensembles train the critics "
                            f"{', '.join(cls.__name__ for cls in CRITICS.values())}")
    for i, l in enumerate(losses):
        if not isinstance(l, Loss):
            raise TypeError(f"loss {i} must be a mibound.neural.objectives.Loss, got {type(l).__name__}")
    if len({id(c) for c in critics}) != len(critics) or len({id(l) for l in losses}) != len(losses):
        raise ValueError("each run needs its own critic and loss objects (got the same object twice)")
    return critics, losses


def _as_stacked_batch(batches, runs: int) -> StackedBatch:
    if callable(batches):
        return batches
    if isinstance(batches, Sequence) and len(batches) == runs and all(callable(b) for b in batches):
        return stack_batches(batches)
    raise TypeError("batches must be a function step -> (x (R, K, dx), y (R, K, dy)) or a sequence of "
                    f"{runs} per-run functions step -> (x (K, dx), y (K, dy))")


def shards(critics: Sequence[nn.Module], losses: Sequence[Loss], workers: int = 1,
           compute_dtype: torch.dtype = torch.float32) -> list[StackedRuns]:
    """The ensemble cut into ``workers`` contiguous shards of runs, one :class:`StackedRuns` each."""
    critics, losses = _check_inputs(critics, losses)
    check_int(workers, "workers", minimum=1)
    if compute_dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"compute_dtype must be torch.float32 or torch.bfloat16, got {compute_dtype!r}")
    runs = len(critics)
    workers = min(workers, runs)
    cuts = [round(i * runs / workers) for i in range(workers + 1)]
    return [StackedRuns(critics, losses, lo, hi, compute_dtype) for lo, hi in zip(cuts[:-1], cuts[1:])]


def train_ensemble(critics: Sequence[nn.Module], losses: Sequence[Loss], batches, steps: int, *,
                   learning_rate: float = NEURAL_DEFAULTS["learning_rate"][0],
                   log_every: int = NEURAL_DEFAULTS["log_every"], progress: bool = True, desc: str | None = None, record_every_step: bool = False,
                   num_threads: int | None = None, workers: int = 1, compute_dtype: torch.dtype = torch.float32,
                   on_diverge: str = "raise",
                   lr_schedule: str = NEURAL_DEFAULTS["lr_schedule"]) -> list[dict[str, torch.Tensor]]:
    """Train ``R`` critics, each with its own loss and data, in one vectorised pass.

    :func:`mibound.neural.engine.train` of a :class:`StackedRuns` per shard: the critics and losses
    are trained in place, and each run gets its own history.

    Parameters
    ----------
    critics : sequence of R critics
        Instances of the same class from :data:`mibound.neural.critics.CRITICS`, with the same shapes.
    losses : sequence of R :class:`~mibound.neural.objectives.Loss`
        Any mix of estimators; each run keeps its own state (TUBA baseline, MINE moving average).
    batches : callable or sequence of R callables
        ``step -> (x (R, K, dx), y (R, K, dy))`` (run ``r`` trains on ``x[r], y[r]``), or one
        function ``step -> (x (K, dx), y (K, dy))`` per run (see :func:`stack_batches`). To feed
        every run the same batch, return ``x.expand(R, -1, -1)`` (no copy).
    steps : int
    learning_rate : float, default 5e-4
        Shared by all runs (one Adam; its state is per element, hence per run); the default as
        :func:`mibound.neural.engine.train`.
    log_every, progress, desc, record_every_step, lr_schedule
        As :func:`mibound.neural.engine.train`.
    num_threads : int, optional
        torch intra-op threads for the call (restored after); ``None`` leaves torch's setting.
        With ``workers > 1`` it defaults to 1 (each worker thread computes on its own core).
    workers : int, default 1
        Split the runs into this many contiguous shards, each a stacked ensemble with its own
        optimiser, stepped concurrently by its own Python thread (torch releases the GIL inside
        its kernels). Unlike intra-op threads, which wait for each other at every small matrix
        product, the shards only meet once per step, so this uses several cores for small critics
        and degrades gracefully when another process takes a core. Results do not depend on it.
    compute_dtype : torch.float32 or torch.bfloat16, default torch.float32
        ``torch.bfloat16`` runs the critics' hidden layers under bfloat16 autocast (matrix
        products about twice as fast on CPUs with AVX-512 BF16) while weights, optimiser state,
        scores and losses stay float32. Opt-in: check the held-out estimates against a float32
        run for your setting (the speed benchmark prints both).
    on_diverge : {"raise", "record"}, default "raise"
        ``"raise"``: a non-finite loss or value in any run raises
        :class:`~mibound.results.TrainingDiverged` naming the run. ``"record"``: keep training;
        the diverged run's history holds the non-finite values and its weights end as NaN,
        while the other runs are unaffected.

    Returns
    -------
    list of R dicts
        Per run: ``step`` (int64, ``(L,)``), ``value`` and ``loss`` (float, ``(L,)``) at the logged steps.
    """
    if num_threads is not None:
        check_int(num_threads, "num_threads", minimum=1)
    check_choice(on_diverge, engine.ON_DIVERGE, "on_diverge")
    parts = shards(critics, losses, workers, compute_dtype)
    if len(parts) > 1 and num_threads is None:
        num_threads = 1
    hist = engine.train(parts, _as_stacked_batch(batches, len(critics)), steps, learning_rate=learning_rate,
                        log_every=log_every, progress=progress, desc=desc, record_every_step=record_every_step,
                        lr_schedule=lr_schedule, on_diverge=on_diverge, num_threads=num_threads)
    for part in parts:
        part.write_back(critics, losses)
    return [{"step": hist["step"], "value": hist["value"][:, r].clone(), "loss": hist["loss"][:, r].clone()}
            for r in range(len(critics))]


def evaluate_ensemble(critics: Sequence[nn.Module], losses: Sequence[Loss],
                      batches: Iterable["tuple[torch.Tensor, torch.Tensor]"]) -> torch.Tensor:
    """Each run's reported value on each held-out batch, in one vectorised pass per batch.

    Parameters
    ----------
    critics, losses : sequences of R
        As for :func:`train_ensemble`.
    batches : iterable of ``(x, y)``
        Either shared batches ``x (K, dx), y (K, dy)`` (every run reads the same pairs) or
        per-run stacks ``x (R, K, dx), y (R, K, dy)``.

    Returns
    -------
    Tensor, shape (R, n_batches), float64
        Nats; row ``r`` equals :func:`mibound.neural.engine.evaluate` of run ``r`` alone.
    """
    return engine.evaluate(shards(critics, losses), batches)


