"""Command-line interface: ``mibound estimate``, ``experiment``, ``tasks``, ``bench``, ``bench-speed``.

Errors in the user's input, and a missing optional package (named with the extra that installs it),
end with a one-line message on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    """A problem with the command line or its input files (exit status 2)."""


def _split_cols(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _neural_options(args) -> dict:
    """The neural-estimator flags that were given (the rest keep the estimator's defaults)."""
    options = {k: getattr(args, k) for k in ("critic", "batch_size", "steps", "learning_rate", "validation_fraction",
                                             "eval_batch_size", "preprocess", "image_layout", "folds")
               if getattr(args, k, None) is not None}
    if "learning_rate" in options:  # one rate stays a float (one critic)
        rates = options["learning_rate"]
        options["learning_rate"] = rates[0] if len(rates) == 1 else tuple(rates)
    if args.threads is not None:
        from mibound.inputs.checks import check_int

        options["num_threads"] = check_int(args.threads, "--threads", minimum=1)
    return options


def _cmd_estimate(args) -> int:
    from mibound.api import estimate_mi
    from mibound.inputs.checks import require
    from mibound.inputs.files import load_pair
    from mibound.registry import DEFAULT_ESTIMATOR, NEURAL_DEFAULTS, estimator_class, is_neural, takes

    if len(args.files) > 2:
        raise _UsageError(f"expected one .npz/.csv file or two .npy files, got {len(args.files)} files")
    if args.mmap and not (len(args.files) == 2 and all(f.lower().endswith(".npy") for f in args.files)):
        raise _UsageError("--mmap needs two .npy files (x then y); convert the data with numpy.save")
    if args.permutations and (args.distributed or args.mmap):
        raise _UsageError("--permutations reads the data into memory: it does not combine with --distributed or --mmap")
    if args.estimator is None:  # auto reads everything into memory; scaled-out runs train one critic
        args.estimator = NEURAL_DEFAULTS["estimator"] if (args.distributed or args.mmap) else DEFAULT_ESTIMATOR
    neural = is_neural(args.estimator)
    options = _neural_options(args)
    if not neural and (args.distributed or args.device == "cuda"):
        raise _UsageError(f"--distributed and --device cuda apply to neural estimators, not {args.estimator!r}")
    flags = {"critic": "--critic", "batch_size": "--batch-size", "steps": "--steps", "learning_rate": "--learning-rate",
             "validation_fraction": "--validation-fraction", "eval_batch_size": "--eval-batch-size",
             "preprocess": "--preprocess", "num_threads": "--threads", "image_layout": "--image-layout",
             "folds": "--folds"}
    refused = [flags[k] for k in options if not takes(args.estimator, k)]
    if refused:
        raise _UsageError(f"{', '.join(refused)} do not apply to {args.estimator!r} (options of the estimators that "
                          "train with torch: the neural ones, flow, doe and auto)")
    options = {k: v for k, v in options.items() if takes(args.estimator, k)}
    extra = getattr(estimator_class(args.estimator), "requires_extra", None)
    if extra:  # a missing optional package fails before the data are read
        require(extra, f"the {args.estimator.strip().lower()!r} estimator")
    x, y, true_mi = load_pair(args.files[0], args.files[1] if len(args.files) == 2 else None,
                              x_cols=_split_cols(args.x_cols), y_cols=_split_cols(args.y_cols), mmap=args.mmap)
    if neural and (args.distributed or args.device != "cpu"):
        from mibound.neural.distributed import resolve_device

        if args.distributed or resolve_device(args.device).type == "cuda":
            return _estimate_scaled(args, x, y, true_mi, options)
    if args.permutations:
        return _estimate_permutations(args, x, y, true_mi, options)
    result = estimate_mi(x, y, estimator=args.estimator, seed=args.seed, true_mi=true_mi,
                         progress=not (args.quiet or args.json), **options)
    if args.json:
        print(result.to_json())
    else:
        print(result.summary(bits=args.bits))
    return 0


def _estimate_permutations(args, x, y, true_mi, options: dict) -> int:
    """``estimate --permutations N``: the estimate and the permutation test's keys in one report."""
    import json

    from mibound.api import permutation_test

    test = permutation_test(x, y, estimator=args.estimator, n_permutations=args.permutations, seed=args.seed,
                            progress=not (args.quiet or args.json), **options)
    result = test.observed
    if true_mi is not None:
        result.true_mi = float(true_mi)
    if args.json:
        print(json.dumps({**result.to_dict(), **test.keys()}))
    else:
        print(result.summary(bits=args.bits))
        print(test.summary())
    return 0


def _estimate_scaled(args, x, y, true_mi, options: dict) -> int:
    """``estimate --distributed`` (or on CUDA): mibound.neural.distributed, the summary on rank 0 only."""
    import os

    from mibound.estimators.distributed import DistributedNeuralEstimator

    if args.distributed and "WORLD_SIZE" not in os.environ:
        print("mibound: --distributed without torchrun (WORLD_SIZE is not set): running one process; launch with "
              "torchrun --nproc_per_node=N -m mibound estimate ... --distributed", file=sys.stderr)
    est = DistributedNeuralEstimator(estimator=args.estimator.strip().lower(), seed=args.seed, device=args.device,
                                     progress=not (args.quiet or args.json), **options).fit(x, y, true_mi=true_mi)
    if est.rank_ == 0:
        result = est.result_
        if args.json:
            print(result.to_json())
        else:
            s = result.settings
            print(result.summary(bits=args.bits))
            print(f"processes      {s['world_size']} x local batch {s['local_batch_size']} = K {result.batch_size}; "
                  f"backend {s['backend'] or 'none'}, device {s['device']}, data {s['data']}")
    if est.world_size_ > 1:
        # The work is done and printed. About 1 run in 30 (torch 2.13, gloo) a worker then aborts in
        # C++ teardown at interpreter exit ("terminate called without an active exception"), which
        # torchrun reports as a failed job; leave without running those destructors.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _cmd_experiment(args) -> int:
    import torch

    from mibound.experiments import EXPERIMENTS
    from mibound.inputs.checks import check_choice, check_int

    name = check_choice(args.name, EXPERIMENTS, "experiment")
    out = args.out or f"results/{name}"
    torch.set_num_threads(check_int(args.threads, "--threads", minimum=1))  # recorded in metadata.json
    EXPERIMENTS[name](out=out, quick=args.quick, seed=args.seed, progress=not args.quiet, resume=args.resume)
    print(f"{name}: results written to {out}/")
    return 0


def _cmd_tasks(args) -> int:
    from mibound.data import tasks

    if args.tasks_command == "list":
        for t in tasks.list(args.tag, suite=args.suite):
            print(f"{t.id:40s} dim_x={t.dim_x:<4d} dim_y={t.dim_y:<4d} true_mi={t.mutual_information():.4f} nats  "
                  f"{t.description}")
        return 0
    if args.tasks_command == "export":
        chosen = args.task or ([t.id for t in tasks.list(args.tag, suite=args.suite)] if args.tag else None)
        paths = tasks.export_tasks(args.dir, n=args.n, seed=args.seed, tasks=chosen, progress=not args.quiet,
                                   suite=args.suite)
        print(f"wrote {len(paths)} task files (n={args.n}, seed={args.seed}) to {args.dir}/")
        return 0
    raise _UsageError("give a tasks subcommand: list or export")


def _cmd_bench(args) -> int:
    from mibound.bench import run_bench, summarize
    from mibound.registry import takes

    names = [e.strip().lower() for e in args.estimator]
    options: dict[str, dict] = {}
    for name in names:
        given = _neural_options(args)
        options[name] = {k: v for k, v in given.items() if takes(name, k)}
        if args.subsamples is not None and takes(name, "n_subsamples"):
            options[name]["n_subsamples"] = args.subsamples
    frame = run_bench(args.dir, names, args.out, options=options, seed=args.seed, resume=args.resume,
                      progress=not args.quiet)
    summary = summarize(frame)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"{len(frame)} rows written to {args.out}")
    return 0


def _cmd_bench_speed(args) -> int:
    """Run ``benchmarks/bench_speed.py`` of the source checkout this package is imported from.

    The benchmark is a script of the repository, not part of the package: an installed wheel has
    no ``benchmarks/`` folder next to it, and the command says so (exit status 2).
    """
    import importlib.util
    from pathlib import Path

    import mibound

    script = Path(mibound.__file__).resolve().parents[1] / "benchmarks" / "bench_speed.py"
    if not script.is_file():
        print(f"mibound: bench-speed runs benchmarks/bench_speed.py of a source checkout, and {script} does not "
              "exist (an installed package): clone the mibound repository and run `python benchmarks/bench_speed.py "
              "[options]` there", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("_mibound_bench_speed", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look up their module there
    spec.loader.exec_module(module)
    return module.run(args)


def build_parser() -> argparse.ArgumentParser:
    from mibound.registry import DEFAULT_ESTIMATOR, DISTRIBUTED_DEFAULTS, ESTIMATORS, NEURAL_DEFAULTS as nd
    names = ", ".join(ESTIMATORS)
    parser = argparse.ArgumentParser(prog="mibound", description="Mutual-information estimation (nats) with "
                                     "variational bounds, checked against exact ground truth.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    from mibound import __version__

    parser.add_argument("--version", action="version", version=f"mibound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    est = sub.add_parser("estimate", help="estimate I(x;y) from a file of paired samples",
                         description="Estimate I(x;y) in nats. FILE is a .npz with arrays x and y (a scalar "
                         "true_mi is reported too), two .npy files (x then y), or a .csv with --x-cols/--y-cols (by "
                         "name with a header row, by 0-based position in a file whose first row is numbers). "
                         "Arrays may be images (n, H, W) or channel-first (n, C, H, W): neural estimators then use "
                         "the conv critic, the others flatten the pixels.")
    est.add_argument("files", nargs="+", metavar="FILE")
    est.add_argument("--estimator", default=None, help=f"{names} (default {DEFAULT_ESTIMATOR}; {nd['estimator']} "
                     "with --distributed or --mmap)")
    est.add_argument("--critic", default=None, help=f"auto, separable, bilinear, concat or conv (default "
                     f"{nd['critic']}: conv for images, separable otherwise)")
    est.add_argument("--image-layout", default=None, choices=["auto", "channels_first"],
                     help="auto (default) refuses 4-D arrays that look channel-last (n, H, W, C <= 4); "
                     "channels_first takes every 4-D array as (n, C, H, W)")
    est.add_argument("--steps", type=int, default=None, help=f"training steps (default {nd['steps']})")
    est.add_argument("--batch-size", type=int, default=None, help=f"K, pairs per score matrix (default "
                     f"{nd['batch_size']}); with --distributed, pairs per process")
    est.add_argument("--learning-rate", type=float, nargs="+", default=None, metavar="RATE",
                     help="Adam learning rate(s); with several, a critic per rate and the one best on the validation "
                     f"rows is read (default {' '.join(f'{r:g}' for r in nd['learning_rate'])})")
    est.add_argument("--validation-fraction", type=float, default=None, help="share of the rows for choosing the "
                     f"critic's checkpoint (default {nd['validation_fraction']}; 0: the last step's critic)")
    est.add_argument("--eval-batch-size", type=int, default=None, help="K of the held-out readout (default: as "
                     "large as gives four test batches, at most 1024)")
    est.add_argument("--folds", type=int, default=None, help=f"neural estimators: cross-fit F critics, each read on "
                     f"the fold it did not train on (default {nd['folds']}: one critic, one test part)")
    est.add_argument("--preprocess", default=None, help=f"robust, standardize or none (default {nd['preprocess']}): "
                     "a per-column increasing map fitted on training rows, which leaves the MI unchanged")
    est.add_argument("--seed", type=int, default=0)
    est.add_argument("--permutations", type=int, default=0, metavar="N",
                     help="also test independence: the estimate against N row-shuffled pairs (p-value; JSON keys "
                          "null_mean, null_std, p_value, excess, n_permutations, null)")
    est.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    est.add_argument("--x-cols", default=None, help="CSV: comma-separated columns of x: names when the first row is a "
                     "header, 0-based positions when the first row is all numbers (then it is data, not a header)")
    est.add_argument("--y-cols", default=None, help="CSV: columns of y, as --x-cols (none in both)")
    est.add_argument("--json", action="store_true", help="print one JSON object")
    est.add_argument("--bits", action="store_true", help="display bits instead of nats")
    est.add_argument("--quiet", action="store_true", help="no progress bar")
    est.add_argument("--distributed", action="store_true",
                     help="spread the batch over the processes of a torchrun launch (global negatives: "
                     "K = processes x --batch-size); see docs/distributed.md")
    est.add_argument("--device", choices=["cpu", "cuda", "auto"], default=DISTRIBUTED_DEFAULTS["device"],
                     help="neural estimators: cuda, cpu, or auto = cuda when available (default "
                     f"{DISTRIBUTED_DEFAULTS['device']})")
    est.add_argument("--mmap", action="store_true",
                     help="memory-map two .npy files and read batches from them (data larger than memory)")
    est.set_defaults(func=_cmd_estimate)

    from mibound.experiments import MODULES, describe  # the registry of experiments; imports no torch

    listing = "\n".join(f"  {name:18s}{describe(name)}" for name in MODULES)
    exp = sub.add_parser("experiment", help="run a named experiment (CSV + metadata + figure)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Run a named experiment: it writes a tidy CSV, metadata.json and a figure "
                         "(PNG and SVG) to --out.", epilog=f"experiments:\n{listing}")
    exp.add_argument("name", help=f"experiment name: {', '.join(MODULES)}")
    exp.add_argument("--quick", action="store_true", help="small setting that finishes in minutes")
    exp.add_argument("--out", default=None, help="output folder (default results/NAME)")
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--resume", action="store_true", help="keep finished runs in --out and do the rest")
    exp.add_argument("--quiet", action="store_true", help="no progress bars")
    exp.add_argument("--threads", type=int, default=1,
                     help="torch intra-op threads (default 1: small critics gain nothing from more, and two "
                     "threads fighting another busy process slow every step down many times)")
    exp.set_defaults(func=_cmd_experiment)

    tsk = sub.add_parser("tasks", help="list the built-in tasks or export them to a task folder",
                         description="Built-in tasks: named samplers with exact MI (nats).")
    tsub = tsk.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND")
    tls = tsub.add_parser("list", help="print task ids, dimensions and true MI")
    tls.add_argument("--tag", default=None, help="only tasks with this tag (e.g. gaussian, image)")
    suite_help = ("the suite: default (the 110 low-dimensional tasks), wide (views of 64-1024 dims; digit label "
                  "pairs carry an upper bound, true_mi_kind in the file) or all")
    tls.add_argument("--suite", default="default", choices=("default", "wide", "all"), help=suite_help)
    tex = tsub.add_parser("export", help="write one .npz per task (x, y flattened; scalar true_mi)",
                          description="Write the built-in tasks to DIR as <id>.npz files with arrays x, y (2-D) "
                          "and a scalar true_mi (nats): the task-folder format `mibound bench` reads.")
    tex.add_argument("dir", metavar="DIR")
    tex.add_argument("--n", type=int, default=10_000, help="pairs per task (default 10000)")
    tex.add_argument("--seed", type=int, default=0)
    tex.add_argument("--task", action="append", default=None, metavar="ID", help="only this task (repeatable)")
    tex.add_argument("--tag", default=None, help="only tasks with this tag")
    tex.add_argument("--suite", default="default", choices=("default", "wide", "all"), help=suite_help)
    tex.add_argument("--quiet", action="store_true", help="no progress bar")
    tsk.set_defaults(func=_cmd_tasks)

    bench = sub.add_parser("bench", help="run estimators over a task folder and write a CSV",
                           description="Run estimators over every .npz task file in DIR (arrays x, y and a scalar "
                           "true_mi). Writes one row per (task, estimator); failures are recorded, not fatal.")
    bench.add_argument("dir", metavar="DIR")
    bench.add_argument("--estimator", action="append", required=True, metavar="NAME",
                       help="estimator name, repeatable (e.g. ksg, gaussian, infonce)")
    bench.add_argument("--out", required=True, help="CSV file to write")
    bench.add_argument("--steps", type=int, default=None,
                       help=f"neural estimators: training steps (default {nd['steps']})")
    bench.add_argument("--batch-size", type=int, default=None, help=f"neural estimators: K (default {nd['batch_size']})")
    bench.add_argument("--learning-rate", type=float, nargs="+", default=None, metavar="RATE",
                       help="neural estimators: Adam learning rate(s), the best on validation rows (default "
                       f"{' '.join(f'{r:g}' for r in nd['learning_rate'])})")
    bench.add_argument("--critic", default=None,
                       help=f"neural estimators: auto, separable, bilinear, concat or conv (default {nd['critic']}: "
                       "conv for image tasks)")
    bench.add_argument("--threads", type=int, default=None, help="neural estimators: torch intra-op threads")
    bench.add_argument("--subsamples", type=int, default=None, help="gaussian, gcmi, tcmi, discrete, flow: "
                       "half-samples for the interval (default: the estimator's)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--resume", action="store_true", help="keep the ok rows already in --out")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.set_defaults(func=_cmd_bench)

    speed = sub.add_parser("bench-speed", help="time mibound against a minimal PyTorch loop and torch-mist",
                           description="In one process, alternating the contenders, time the Poole configuration "
                           "(d=20, K=64, separable 2x256 critic, InfoNCE) for a fixed number of steps and print "
                           "ms/step, ratios, held-out estimates, the concat critic's GFLOP/s against a large matmul, "
                           "and the FLOPs of the Poole staircase. torch-mist is included when installed.")
    speed.add_argument("--steps", type=int, default=200, help="steps per contender per repeat (default 200)")
    speed.add_argument("--repeats", type=int, default=5, help="alternating repeats (default 5)")
    speed.add_argument("--runs", type=int, default=8, help="R, runs of the ensemble (default 8)")
    speed.add_argument("--threads", type=int, default=1, help="torch threads of the single-run contenders (default 1)")
    speed.add_argument("--ensemble-workers", type=int, default=2, help="worker threads of the ensemble, one "
                       "intra-op thread each (default 2; the ensemble is also timed with 1)")
    speed.add_argument("--mi", type=float, default=2.0, help="true MI of the Gaussian task, nats (default 2)")
    speed.add_argument("--concat-k", type=int, default=64, help="K of the concat-critic FLOP-rate test (default 64)")
    speed.add_argument("--memory-k", type=int, default=None, help="also measure the concat critic's peak memory "
                       "at this K in a subprocess (e.g. 1024)")
    speed.add_argument("--staircase", action="store_true", help="also train the separable half of the Poole "
                       "staircase (6 estimators) as one ensemble and report its wall time (minutes)")
    speed.add_argument("--staircase-steps", type=int, default=20000, help="steps per estimator of the staircase "
                       "(default 20000)")
    speed.add_argument("--seed", type=int, default=0)
    speed.add_argument("--no-torch-mist", action="store_true", help="skip torch-mist even if installed")
    speed.add_argument("--no-tune-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    speed.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    speed.set_defaults(func=_cmd_bench_speed)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    from mibound.inputs.checks import MissingDependency

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("mibound: interrupted", file=sys.stderr)
        return 130
    except (_UsageError, MissingDependency, ValueError, TypeError, RuntimeError, OSError) as exc:
        if args.debug:
            raise
        msg = " ".join(str(exc).split())
        print(f"mibound: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
