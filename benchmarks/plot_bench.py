"""Figure of a bench CSV: estimate / true MI per task, one row of points per estimator, coloured by family.

Usage: ``python benchmarks/plot_bench.py BENCH.csv [MORE.csv ...] --out docs/figures/bench.png``
(CSVs written by ``mibound bench``; the family is the task id's first word, as in ``mibound.data.tasks``).
"""

from __future__ import annotations

import argparse

import pandas as pd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from mibound.data import tasks
    from mibound.experiments.plotting import _mpl

    frame = pd.concat([pd.read_csv(p) for p in args.csv], ignore_index=True)
    family = {t.id: t.family for t in tasks.list()}
    frame["family"] = frame["task"].map(family).fillna("other")
    from mibound.bench import summarize

    within = summarize(frame).set_index("estimator")["within_10pct"]  # a failed run counts as a miss
    frame = frame[(frame["status"] == "ok") & (frame["true_mi"] > 0)].copy()
    frame["ratio"] = (frame["estimate"] / frame["true_mi"]).clip(-0.5, 3.0)
    plt, sns = _mpl()
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.9 * frame["estimator"].nunique()))
    ax.axvspan(0.9, 1.1, color="0.9", zorder=0)
    ax.axvline(1.0, color="black", lw=1)
    sns.stripplot(frame, x="ratio", y="estimator", hue="family", dodge=False, jitter=0.25, size=4, ax=ax)
    for i, (name, g) in enumerate(frame.groupby("estimator", sort=False)):
        ax.text(3.02, i, f"{within[name]:.0%} within 10%", va="center", fontsize=8)
    ax.set(xlabel="estimate / true MI (clipped to [-0.5, 3]; grey band: within 10%)", ylabel="", xlim=(-0.55, 3.6))
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.6 / frame["estimator"].nunique()))
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
