"""Learned InfoMin views: an invertible per-pixel colour flow, split into two views, trained adversarially.

Tian et al. (2020, sec. 4) learn the views of contrastive learning: a flow ``g`` acts on the colour
channels of every pixel (the same invertible map ``R^C -> R^C`` at each pixel, so the image keeps
all its information), its output channels are split into two views ``v1 = g(x)[first]`` and
``v2 = g(x)[rest]``, and

* the **generator** ``g`` *minimises* the InfoNCE between ``v1`` and ``v2`` (what the views share),
* the **critic** *maximises* it (so the InfoNCE it reads is a real lower bound on ``I(v1; v2)``),
* in the **semi-supervised** form, small classifier heads on each view and the generator also
  minimise the cross-entropy of a label, so the label stays predictable from each view.

One backward pass does both directions: the views reach the critic through a gradient-reversal
layer (:func:`grad_reverse`, identity forward, ``-scale * grad`` backward; Ganin & Lempitsky
2015), so descending ``-InfoNCE + label_weight * CE`` moves the critic up the bound and the
generator down it, in the one training loop :func:`mibound.neural.engine.train` (strategy
:class:`InfoMinRun`).

The flow (:class:`ColorFlow`) is zuko's: ``blocks`` times an invertible channel mixing
``x -> L U x`` (zuko's ``LULinearTransform``, the paper's 1x1 convolution, with the diagonal of
``L`` parametrised as ``exp`` so it can never reach 0) followed by an affine coupling over the
channels (zuko's ``GeneralCouplingTransform``, bounded log-scales). Every layer starts as the
identity, so the generator starts from the input colour space (the RGB split).

References
----------
Tian, Sun, Poole, Krishnan, Schmid & Isola (2020), "What Makes for Good Views for Contrastive
Learning?", NeurIPS, sec. 4 (learned views with a flow over colour channels).
Ganin & Lempitsky (2015), "Unsupervised Domain Adaptation by Backpropagation", ICML (gradient reversal).
Kingma & Dhariwal (2018), "Glow", NeurIPS (invertible 1x1 convolutions, LU parametrisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mibound.estimators.flow import ViewFlow
from mibound.inputs.checks import check_float, check_int, require
from mibound.neural import engine
from mibound.neural.objectives import Loss

__all__ = ["ColorFlow", "grad_reverse", "standardize_channels", "InfoMinRun"]


def _lu_linear(off_diagonal: torch.Tensor, log_diagonal: torch.Tensor):
    """zuko's ``LULinearTransform`` with ``diag(L) = exp(log_diagonal)``: invertible for every parameter value."""
    from zuko.transforms import LULinearTransform

    return LULinearTransform(off_diagonal - torch.diag(torch.diagonal(off_diagonal)) + torch.diag(log_diagonal.exp()))


class ColorFlow(nn.Module):
    """An invertible map of the ``C`` colour channels applied at every pixel (a flow over channels).

    Parameters
    ----------
    channels : int, default 3
    blocks : int, default 2
        Each block is an LU channel mixing followed by an affine coupling over the channels.
    hidden : int, default 16
        Hidden units of each coupling's network (one hidden layer).

    Shapes
    ------
    ``forward(x (n, C, H, W)) -> (z (n, C, H, W), log|det dz/dx| (n,))``: the log-determinant of
    the whole image map, the sum over the ``H W`` pixels (nats). :meth:`inverse` maps ``z`` back.
    """

    def __init__(self, channels: int = 3, blocks: int = 2, hidden: int = 16):
        super().__init__()
        require("flow", "ColorFlow, the learned InfoMin views")
        from zuko.flows import GeneralCouplingTransform, UnconditionalTransform

        self.channels = check_int(channels, "channels", minimum=2)
        check_int(blocks, "blocks", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        layers: list[nn.Module] = []
        for b in range(blocks):
            layers.append(UnconditionalTransform(_lu_linear, torch.zeros(channels, channels), torch.zeros(channels)))
            mask = (torch.arange(channels) + b) % 2 == 1  # the conditioning channels alternate between blocks
            coupling = GeneralCouplingTransform(channels, 0, mask=mask, hidden_features=(hidden,))
            with torch.no_grad():  # start at the identity: zero output layer of the coupling's network
                last = [m for m in coupling.hyper.modules() if isinstance(getattr(m, "weight", None), torch.Tensor)][-1]
                for prm in last.parameters():
                    prm.zero_()
            layers.append(coupling)
        self.flow = ViewFlow(layers, conditioned=[False] * len(layers))

    def _pixels(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"ColorFlow takes images (n, {self.channels}, H, W) (channel first), got shape "
                             f"{tuple(x.shape)}" + (" -- channel last? use x.permute(0, 3, 1, 2)"
                                                    if x.ndim == 4 and x.shape[-1] == self.channels else ""))
        return x.permute(0, 2, 3, 1).reshape(-1, self.channels)

    def _image(self, p: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        n, c, h, w = shape
        return p.reshape(n, h, w, c).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, ladj = self.flow(self._pixels(x))
        return self._image(z, x.shape), ladj.reshape(x.shape[0], -1).sum(1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """``x`` with ``forward(x)[0] == z`` (each layer's analytic inverse)."""
        p = self._pixels(z)
        for layer in reversed(self.flow.layers):
            p = layer(None).inv(p)
        return self._image(p, z.shape)

    def jacobian(self, pixel: torch.Tensor) -> torch.Tensor:
        """``dz/dx`` of the map of one pixel ``(C,)``, shape ``(C, C)`` (detached)."""
        pixel = pixel.reshape(1, self.channels).to(next(self.parameters()).dtype)
        jac = torch.autograd.functional.jacobian(lambda p: self.flow(p)[0], pixel)
        return jac.reshape(self.channels, self.channels).detach()


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-scale`` in the backward pass."""
    return _GradReverse.apply(x, scale)


def standardize_channels(v: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each channel of ``v (n, c, H, W)`` to zero mean, unit variance over the batch and pixels.

    A per-channel affine map of a view (invertible), so it does not change ``I(v1; v2)``; it takes
    the scale of the generator's outputs away from the critic, which would otherwise be a way to
    lower the InfoNCE of a fixed-learning-rate critic without sharing less information.
    """
    mean = v.mean(dim=(0, 2, 3), keepdim=True)
    std = v.std(dim=(0, 2, 3), keepdim=True)
    return (v - mean) / (std + eps)


class InfoMinRun(engine.Runs):
    """The adversarial InfoMin strategy for :func:`mibound.neural.engine.train`: generator, critic, label heads.

    ``next_batch(step)`` yields ``(x, labels)``: images flattened to ``(K, C H W)`` and integer
    labels ``(K,)`` (any values when there are no heads). Per step the loss is
    ``-InfoNCE(critic(R(v1), R(v2))) + label_weight * (CE(head1(v1)) + CE(head2(v2)))`` with
    ``R = grad_reverse(., reverse_scale)``: the critic ascends the bound, the generator descends it
    (and the label losses), the heads descend the label losses. The reported value is the
    training critic's InfoNCE on the batch: a lower bound on ``I(v1; v2)`` of the current views,
    capped at ``log K``.

    Parameters
    ----------
    flow : ColorFlow
    critic : nn.Module
        ``(v1 (K, d1), v2 (K, d2)) -> (K, K)``, e.g. a :class:`~mibound.neural.critics.SeparableCritic`.
    image_shape : (C, H, W)
    first : sequence of int, default (0,)
        The output channels of view 1; view 2 gets the others.
    heads : (nn.Module, nn.Module), optional
        Classifiers ``v1 (K, d1) -> logits`` and ``v2 (K, d2) -> logits`` (semi-supervised form).
    label_weight : float, default 1.0
    reverse_scale : float, default 1.0
    warmup_steps : int, default 0
        For its first ``warmup_steps`` steps the flow is held fixed (no gradient reaches it) while
        the critic and the heads train: the trajectory then starts from the InfoNCE of a trained
        critic on the initial views, and the generator's first steps face a critic, not noise.

    Attributes
    ----------
    trace : list of Tensor
        Per step ``[mean log-det of the flow per image (nats), label cross-entropy (nats)]``
        (detached; the cross-entropy is 0 without heads).
    """

    def __init__(self, flow: ColorFlow, critic: nn.Module, image_shape: Sequence[int], first: Sequence[int] = (0,),
                 heads: tuple[nn.Module, nn.Module] | None = None, label_weight: float = 1.0,
                 reverse_scale: float = 1.0, warmup_steps: int = 0, label: str = "infomin"):
        self.flow, self.critic = flow, critic
        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3 or self.image_shape[0] != flow.channels:
            raise ValueError(f"image_shape must be (C={flow.channels}, H, W), got {tuple(image_shape)}")
        c = flow.channels
        self.first = sorted({int(i) for i in first})
        if not self.first or self.first[0] < 0 or self.first[-1] >= c or len(self.first) == c:
            raise ValueError(f"first must name some but not all of the channels 0..{c - 1}, got {tuple(first)}")
        self.rest = [i for i in range(c) if i not in self.first]
        self.heads = None if heads is None else nn.ModuleList(heads)
        self.label_weight = check_float(label_weight, "label_weight", minimum=0.0)
        self.reverse_scale = check_float(reverse_scale, "reverse_scale", minimum=0.0, exclusive_min=True)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        self.steps_taken = 0
        d2 = len(self.rest) * self.image_shape[1] * self.image_shape[2]
        self.loss = Loss("infonce", d2)
        self.labels = [label]
        self.trace: list[torch.Tensor] = []

    def modules(self) -> list[nn.Module]:
        return [self.flow, self.critic, self.loss] + ([self.heads] if self.heads is not None else [])

    def views(self, x: torch.Tensor, frozen: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(v1 (K, d1), v2 (K, d2), log-det (K,))`` of flat images ``x (K, C H W)``; each channel standardised.

        ``frozen``: no gradient flows into the flow.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            z, ladj = self.flow(x.reshape(-1, *self.image_shape))
        v1 = standardize_channels(z[:, self.first]).flatten(1)
        v2 = standardize_channels(z[:, self.rest]).flatten(1)
        return v1, v2, ladj

    def forward(self, x, y):
        v1, v2, ladj = self.views(x, frozen=self.steps_taken < self.warmup_steps)
        self.steps_taken += 1
        scores = self.critic(grad_reverse(v1, self.reverse_scale), grad_reverse(v2, self.reverse_scale))
        loss, value = self.loss(scores, v2)
        ce = loss.new_zeros(())
        if self.heads is not None:
            y = y.reshape(-1).long()
            ce = (nn.functional.cross_entropy(self.heads[0](v1), y) + nn.functional.cross_entropy(self.heads[1](v2), y))
            loss = loss + self.label_weight * ce
        self.trace.append(torch.stack([ladj.mean(), ce]).detach())
        return loss.reshape(1), value.reshape(1)

    def report(self, x, y):
        v1, v2, _ = self.views(x)
        return self.loss.report(self.critic(v1, v2), v2).reshape(1)
