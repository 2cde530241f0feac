"""Contrastive MI estimation across processes and machines with ``torch.distributed``.

Every process (launched by ``torchrun``) holds the same critic, reads its own local batch of
``k`` pairs and embeds it; the embeddings are all-gathered *with gradient flow*, so that each
process scores its ``k`` positives against all ``K = world_size * k`` candidates of the global
batch and InfoNCE's ceiling rises from ``log k`` to ``log K``.

Layout of the loss
------------------
The ``(K, K)`` score matrix ``S[i, j] = f(x_i, y_j)`` of the global batch is split by rows:
process ``r`` holds rows ``r k .. (r + 1) k - 1`` (its own positives, at column offset ``r k``)
against all gathered candidates, and computes the InfoNCE terms of those rows with
:func:`mibound.functional.bounds.infonce_rows`. Its local loss ``L_r`` is minus the mean of its terms minus
``log K``, so the global bound is the mean of the ``L_r`` over processes. The other bounds
(NWJ, DV, MINE, TUBA, JS, SMILE) do not split by rows; for them every process forms the whole
``(K, K)`` matrix from the gathered embeddings and applies the single-process
:class:`~mibound.neural.objectives.Loss` to it (``O(K^2)`` per process; fine up to ``K`` of a few thousand).

Gradients
---------
The gather's backward sums the gradients every process sends for a process's embeddings
(``sum_s dL_s / dv_r``); gradients are then averaged over processes (one flat ``all_reduce``).
With row blocks, the average is the gradient of ``mean_r L_r``, the global loss. With the whole
matrix on every process, each process's loss *is* the global loss ``L``, the backward delivers
``world_size * dL/dE_r`` to the embeddings of process ``r``, and the average is again ``dL/dθ``.
Either way the update equals the single-process update on the same global batch (tested to
float tolerance in ``tests/neural/test_distributed.py``). Parameters start equal (same seed on every
process, then a broadcast from rank 0) and stay equal (same averaged gradient, same Adam step).

Critics
-------
:class:`~mibound.neural.critics.SeparableCritic` and :class:`~mibound.neural.critics.BilinearCritic` gather
embeddings ``u_i, v_j`` with ``S = u v^T``. Any other critic (the concat critic, a user module)
gathers the raw inputs instead (no gradient needs to cross processes then) and evaluates
``critic(x_local, y_all)``: correct, but every process evaluates its ``k x K`` block itself.

Launch
------
``torchrun --nproc_per_node=N -m mibound estimate X.npy Y.npy --mmap --distributed``, or call
:func:`mibound.estimate_mi_distributed` from a script launched by ``torchrun``. Backend ``gloo`` on CPU,
``nccl`` on CUDA (one GPU per process, ``cuda:LOCAL_RANK``); several machines join through
torchrun's rendezvous flags (``--nnodes``, ``--rdzv-backend=c10d``, ``--rdzv-endpoint``).
Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything runs in one process.
See ``docs/distributed.md``.

References
----------
van den Oord et al. (2018), InfoNCE. Chen et al. (2020), "A Simple Framework for Contrastive
Learning of Visual Representations" (SimCLR: negatives gathered across devices).
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from mibound.inputs.checks import check_choice
from mibound.neural import engine
from mibound.neural.critics import BilinearCritic, ConvCritic, SeparableCritic
from mibound.neural.engine import DistContext
from mibound.neural.objectives import Loss

__all__ = ["DistContext", "resolve_device", "init_distributed", "all_gather_with_grad", "all_gather_nograd", "critic_embeddings", "global_loss", "sync_gradients", "broadcast_state", "DistributedRun"]

DEVICES = ("cpu", "cuda", "auto")


# ---------------------------------------------------------------------------------------------
# process group and device
# ---------------------------------------------------------------------------------------------
def resolve_device(device="auto", local_rank: int = 0) -> torch.device:
    """``"cpu"``, ``"cuda"`` (``cuda:local_rank``) or ``"auto"`` (CUDA when available) as a device.

    Raises ``ValueError`` when CUDA is asked for but not available.
    """
    if isinstance(device, torch.device):
        name = device.type
    else:
        name = check_choice(device, DEVICES, "device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise ValueError(f"unsupported device {device!r}; expected one of {DEVICES}")
    if not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch.cuda.is_available() is False "
                         "(no GPU, or a CPU-only torch build); use device 'cpu' or 'auto'")
    if isinstance(device, torch.device) and device.index is not None:
        return device
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(device="auto", backend: str | None = None,
                     timeout: timedelta | None = None) -> tuple[DistContext, bool]:
    """Join (or start) the process group and pick this process's device.

    * A process group already initialised by the caller is used as it is.
    * Otherwise, under ``torchrun`` (``WORLD_SIZE``, ``RANK`` and ``MASTER_ADDR`` in the
      environment) the default group is initialised from the environment with ``backend``
      (default: ``nccl`` for CUDA, ``gloo`` for CPU).
    * Otherwise the run is a single process and no group is created.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or torch.device
        CUDA processes use ``cuda:LOCAL_RANK``.
    backend : str, optional
    timeout : timedelta, optional
        Collective timeout of a group created here.

    Returns
    -------
    ctx : DistContext
    owned : bool
        Whether this call created the group (and the caller should destroy it when done).
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    owned = False
    if not (dist.is_available() and dist.is_initialized()):
        env = ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")
        if not all(k in os.environ for k in env):
            return DistContext(0, 1, dev, None), False
        if backend is None:
            backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        kwargs = {} if timeout is None else {"timeout": timeout}
        dist.init_process_group(backend=backend, init_method="env://", **kwargs)
        owned = True
    group_backend = str(dist.get_backend())
    if group_backend == "nccl" and dev.type != "cuda":
        if owned:
            dist.destroy_process_group()
        raise ValueError("the process group uses the nccl backend, which needs CUDA tensors, but the device "
                         "is 'cpu'; use device 'cuda' or a gloo process group")
    if dev.type == "cuda" and owned is False:
        torch.cuda.set_device(dev)
    return DistContext(dist.get_rank(), dist.get_world_size(), dev, group_backend), owned


@contextlib.contextmanager
def _group(device, backend):
    """:func:`init_distributed` for one fit; a group created here is destroyed when the fit ends.

    On success every process first waits at a barrier, so no process tears the group down while
    another still has collectives in flight (gloo aborts the process with SIGABRT otherwise).
    """
    ctx, owned = init_distributed(device, backend)
    ok = False
    try:
        yield ctx
        ok = True
    finally:
        if owned:
            if ok:
                dist.barrier()
            dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# collectives
# ---------------------------------------------------------------------------------------------
class _GatherRows(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every process's gradient for the local rows."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
        tensor = tensor.contiguous()
        parts = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(parts, tensor)
        ctx.rank, ctx.rows = rank, tensor.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return grad[start:start + ctx.rows], None, None


def all_gather_with_grad(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every process's ``tensor`` (equal shapes) along dim 0, with gradient flow.

    Parameters
    ----------
    tensor : Tensor, shape (k, ...)

    Returns
    -------
    Tensor, shape (world_size * k, ...)
        Rows ``r k .. (r + 1) k - 1`` come from process ``r``. The backward hands each process
        the sum over processes of the gradients for its rows.
    """
    if not ctx.active:
        return tensor
    return _GatherRows.apply(tensor, ctx.rank, ctx.world_size)


@torch.no_grad()
def all_gather_nograd(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every process's ``tensor`` along dim 0 (data only, no gradient)."""
    if not ctx.active:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(ctx.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def _all_mean(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean over processes (a new tensor; the input is untouched)."""
    if not ctx.active:
        return tensor.clone()
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / ctx.world_size


def sync_gradients(params: list[nn.Parameter], ctx: DistContext) -> None:
    """Average the gradients of ``params`` over processes, in one flat ``all_reduce``.

    A parameter without a gradient counts as a zero gradient (and gets one).
    """
    if not ctx.active or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


@torch.no_grad()
def broadcast_state(modules: list[nn.Module], ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if not ctx.active:
        return
    for module in modules:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


# ---------------------------------------------------------------------------------------------
# the loss over the global batch
# ---------------------------------------------------------------------------------------------
def critic_embeddings(critic: nn.Module, x: torch.Tensor,
                      y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Embeddings ``(u, v)`` with ``critic(x, y) == u @ v.T``, or ``None`` for a non-separable critic.

    Separable: ``u = g(x) / T`` and ``v = h(y)`` (normalised when ``cosine``). Bilinear:
    ``u = g(x) W`` and ``v = h(y)``. Conv (:class:`~mibound.neural.critics.ConvCritic`): its
    embeddings, with ``W`` and the temperature on ``u``.

    Returns
    -------
    u : Tensor, shape (k, e)
    v : Tensor, shape (k, e)
    """
    if isinstance(critic, SeparableCritic):
        gx, hy = critic.embed(x, y)
        return (gx if critic.temperature == 1.0 else gx / critic.temperature), hy
    if isinstance(critic, BilinearCritic):
        return critic.g(x) @ critic.W, critic.h(y)
    if isinstance(critic, ConvCritic):
        gx, hy = critic.embed(x, y)
        gx = gx if critic.W is None else gx @ critic.W
        return (gx if critic.temperature == 1.0 else gx / critic.temperature), hy
    return None


def _uses_rows(loss_fn: Loss, rows: bool | None) -> bool:
    splits = loss_fn.objective.rows is not None
    if rows is None:
        return splits
    if rows and not splits:
        from mibound.neural.objectives import OBJECTIVES

        names = ", ".join(n for n, o in OBJECTIVES.items() if o.rows is not None)
        raise ValueError(f"the row-block layout applies to {names} only (bounds that are a mean over rows), "
                         f"not {loss_fn.name!r}; use rows=False")
    return bool(rows)


def global_loss(critic: nn.Module, loss_fn: Loss, x: torch.Tensor, y: torch.Tensor, ctx: DistContext, *,
                rows: bool | None = None, report_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's share of the loss and reported value on the global batch.

    Parameters
    ----------
    critic : nn.Module
    loss_fn : Loss
    x, y : Tensor, shapes (k, dx) and (k, dy)
        This process's local batch (the same ``k`` on every process).
    ctx : DistContext
    rows : bool, optional
        ``True``: this process's rows of ``S`` against all candidates (InfoNCE only);
        ``False``: the whole ``(K, K)`` matrix on every process; ``None``: rows for InfoNCE,
        whole matrix otherwise.
    report_only : bool, default False
        Compute only the reported value (held-out evaluation: no surrogate, MINE's moving
        average untouched); ``loss`` is then the negated value.

    Returns
    -------
    loss, value : Tensor, shape ()
        The global loss and reported value (nats) are the means over processes of these; the
        average over processes of the gradients of ``loss`` is the gradient of the global loss.
    """
    use_rows = _uses_rows(loss_fn, rows)
    emb = critic_embeddings(critic, x, y)
    if emb is not None:
        u, v = emb
        v_all = all_gather_with_grad(v, ctx)
        u_rows = u if use_rows else all_gather_with_grad(u, ctx)
        scores = u_rows @ v_all.T
    else:  # a joint critic: gather the inputs, evaluate the block here
        y_all = all_gather_nograd(y, ctx)
        scores = critic(x if use_rows else all_gather_nograd(x, ctx), y_all)
    if use_rows:
        value = loss_fn.objective.rows(scores, ctx.rank * x.shape[0])
        return -value, value.detach()
    y_all = all_gather_nograd(y, ctx) if loss_fn.objective.baseline else y
    if report_only:
        value = loss_fn.report(scores, y_all)
        return -value, value.detach()
    return loss_fn(scores, y_all)


# ---------------------------------------------------------------------------------------------
# the strategy of the one training loop
# ---------------------------------------------------------------------------------------------
class DistributedRun(engine.SingleRun):
    """One critic whose batch is spread over the processes: the distributed strategy of :func:`mibound.neural.engine.train`.

    The loss is this process's share of the global loss (:func:`global_loss`), gradients are
    averaged over processes before each step (:func:`sync_gradients`) and logged or held-out
    values are averaged over processes, so every process sees the same numbers.
    """

    concurrent = False  # its steps all-reduce: every process must step its runs in the same order

    def __init__(self, critic: nn.Module, loss: Loss, ctx: DistContext, rows: bool | None = None):
        super().__init__(critic, loss)
        self.ctx, self.rows = ctx, rows

    def forward(self, x, y):
        loss, value = global_loss(self.critic, self.loss, x, y, self.ctx, rows=self.rows)
        return loss.reshape(1), value.reshape(1)

    def report(self, x, y):
        return global_loss(self.critic, self.loss, x, y, self.ctx, rows=self.rows, report_only=True)[1].reshape(1)

    def sync_gradients(self, params):
        sync_gradients(params, self.ctx)

    def all_mean(self, t):
        return _all_mean(t, self.ctx)
