"""Reproduce the reference values of docs/ground-truth.md ("Reference values") with the project's own code (nats).

    PYTHONPATH=. python benchmarks/ground_truth_check.py

Prints each reference value next to the value computed here. Takes a few seconds.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from mibound.data import ChannelSplitViews, GaussianRandomFieldCrops, MultivariateStudentT, mi_vs_offset
from mibound.data.encoders import AvgPool, cca_encoders, encoded_mi, random_linear_encoder
from mibound.functional.analytic import rho_from_mi


def row(label: str, ref, got, fmt: str = "{:.2f}") -> None:
    ref_s = " / ".join(fmt.format(v) for v in np.atleast_1d(ref))
    got_s = " / ".join(fmt.format(v) for v in np.atleast_1d(got))
    print(f"  {label:44s} reference {ref_s:52s} mibound {got_s}")


def main() -> None:
    print("Gaussian core: staircase correlations, d = 20, I = 2/4/6/8/10")
    row("rho", [0.426, 0.574, 0.672, 0.742, 0.795], [rho_from_mi(i, 20) for i in (2, 4, 6, 8, 10)], "{:.3f}")

    print("GRF crops: 8x8, power law alpha=2, f0=1/32, noise 0.1, horizontal offset")
    row("32 torus, offsets 0/2/4/6/8/12/16", [103.49, 77.95, 52.39, 26.83, 1.27, 0.05, 0.02],
        mi_vs_offset([0, 2, 4, 6, 8, 12, 16], torus_size=32))
    row("64 torus (no wrap), offsets 8/12/16/24", [1.268, 0.052, 0.007, 0.000], mi_vs_offset([8, 12, 16, 24]),
        "{:.3f}")

    print("Channel split: C = [[1,r,r],[r,1,.3],[r,.3,1]], 8x8 crop, noise 0")
    row("rho = .1/.3/.5/.7", [0.50, 4.77, 15.54, 44.86],
        [ChannelSplitViews(rho=r).mutual_information() for r in (0.1, 0.3, 0.5, 0.7)])
    print(f"  {'positive definite for |rho| <':44s} reference 0.806{'':35s} mibound {ChannelSplitViews.max_rho(3, 0.3):.3f}")

    print("Encoders on 8x8 crops at offset 6 (32 torus)")
    crops = GaussianRandomFieldCrops(offset=6, torus_size=32)
    row("I(v1; v2)", 26.83, crops.mutual_information())
    row("top-k CCA, k = 8/4/2/1", [16.16, 9.42, 5.35, 2.88],
        [encoded_mi(crops, *cca_encoders(crops, k)) for k in (8, 4, 2, 1)])
    row("avg-pool 2x2 / 4x4 / global mean", [9.30, 1.04, 0.16], [encoded_mi(crops, AvgPool(k)) for k in (2, 4, 8)])
    means, sds = [], []
    for k in (32, 16, 8, 4):
        vals = [encoded_mi(crops, random_linear_encoder(64, k, seed=s)) for s in range(20)]
        means.append(np.mean(vals))
        sds.append(np.std(vals))
    row("random shared A, k = 32/16/8/4 (one draw)", [4.14, 1.35, 0.44, 0.14], means)
    print(f"  {'':44s} {'(mibound: mean over 20 seeds; sd ' + ' / '.join(f'{s:.2f}' for s in sds) + ')'}")

    print("Student-t tail correction (not in the reference table; closed form vs scipy entropies)")
    s = MultivariateStudentT.correlated(0.5, 2, df=3.0)
    scale = s.scale_matrix()
    h = lambda m: stats.multivariate_t(np.zeros(m.shape[0]), m, df=3.0).entropy()  # noqa: E731
    row("I, 2+2 dims, df 3, rho .5", h(scale[:2, :2]) + h(scale[2:, 2:]) - h(scale), s.mutual_information(), "{:.6f}")


if __name__ == "__main__":
    main()
