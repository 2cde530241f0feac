import math
import re

import numpy as np
import pytest

import mibound.data.tasks as tasks
from mibound.cli import main
from mibound.data import CorrelatedPairs, Sampler, student_t_correction


def test_registry_has_at_least_40_tasks_with_stable_unique_ids():
    all_tasks = tasks.list()
    assert len(all_tasks) >= 40
    ids = [t.id for t in all_tasks]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9._-]+", i) for i in ids)
    assert tasks.ids() == ids
    # a few ids other people may already depend on
    for fixed in ("gaussian-pairs-d5-mi1", "student-t-d1-df3-rho0", "grf-crop8-off8-noise0.1",
                  "channels-crop8-rho0.1", "rendered-10px-d3-mi1", "encoded-crop8-off6-avgpool4"):
        assert fixed in ids


def test_every_task_has_a_stated_mi_and_consistent_shapes():
    for t in tasks.list():
        mi, se = t.mutual_information(), t.mi_standard_error()
        assert math.isfinite(mi) and mi >= 0, t.id
        assert (mi == 0) == (t.family == "independent"), t.id  # zero MI exactly where meant
        assert 0 <= se < 0.01, t.id
        assert (se > 0) == (t.family == "mixture"), t.id  # only the mixtures are Monte-Carlo values
        assert isinstance(t.sampler, Sampler)
        x, y = t.sample(3, seed=1, flat=True)
        assert x.shape == (3, t.dim_x) and y.shape == (3, t.dim_y), t.id
        assert np.isfinite(x).all() and np.isfinite(y).all(), t.id
        assert t.id in repr(t) and "nats" in repr(t)


def test_the_suite_covers_the_benchmark_families():
    all_tasks = tasks.list()
    assert 90 <= len(all_tasks) <= 115
    assert all(t.family in tasks.FAMILIES for t in all_tasks)
    counts = {f: len([t for t in all_tasks if t.family == f]) for f in tasks.FAMILIES}
    assert all(c >= 2 for c in counts.values()), counts
    ids = tasks.ids()
    # Student-t: dof 1, 2, 3, 5 in 1+1, 2+2, 3+3 and 5+5 dims, MI from the closed form
    for d in (1, 2, 3, 5):
        for df in (1, 2, 3, 5):
            t = tasks.get(f"student-t-d{d}-df{df}-rho0")
            assert t.mutual_information() == pytest.approx(student_t_correction(df, d, d), rel=1e-12)
    # Gaussian interactions up to 50 + 50 dims at about 1 nat, sparse and dense
    for tid in ("gaussian-sparse-25x25-k2-mi1", "gaussian-sparse-50x50-k2-mi1", "gaussian-dense-25x25-a0.5-mi1",
                "gaussian-dense-50x50-a0.5-mi1"):
        assert tasks.get(tid).mutual_information() == pytest.approx(1.0, rel=1e-9)
    assert tasks.get("gaussian-sparse-50x50-k2-mi1").dim_x == 50
    assert max(t.mutual_information() for t in all_tasks if t.family == "high-mi") == pytest.approx(20.0)
    for tag in ("wiggly", "bimodal", "spiral", "uniform-margins", "half-cube", "heavy-tails", "discretised",
                "onehot", "inliers", "concentric", "sparse", "dense"):
        assert tasks.ids(tag), tag
    for tid in ("mixture-x-corr0.9", "mixture-ai", "mixture-galaxy-speed0.5-dist3", "mixture-waves-k12-amp5-freq3",
                "shells-2x2-mi1", "discrete-bool-phi0.6", "mixed-binned-w1", "additive-uniform-eps0.1",
                "independent-gaussian-1x1", "highmi-pairs-d50-mi20"):
        assert tid in ids


def test_export_of_the_whole_suite(tmp_path):
    paths = tasks.export_tasks(tmp_path, n=40, seed=0)
    assert len(paths) == len(tasks.list())
    for path, t in zip(paths, tasks.list()):
        with np.load(path, allow_pickle=False) as d:
            assert d["x"].shape == (40, t.dim_x) and d["y"].shape == (40, t.dim_y), t.id
            assert float(d["true_mi"]) == t.mutual_information()
            assert float(d["true_mi_se"]) == t.mi_standard_error()
            assert str(d["tags"]).split(",")[0] == t.family and str(d["tags"]).split(",") == list(t.tags)


def test_get_list_by_tag_and_errors():
    t = tasks.get("gaussian-pairs-d5-mi1")
    assert t.mutual_information() == pytest.approx(1.0)
    assert tasks.get(" Gaussian-Pairs-D5-MI1 ") is t
    assert all("image" in t.tags for t in tasks.list("image")) and len(tasks.list("image")) >= 10
    with pytest.raises(ValueError, match="did you mean 'gaussian-pairs-d5-mi1'"):
        tasks.get("gaussian-pairs-d5-mi1.0x")
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(tasks.Task("gaussian-pairs-d5-mi1", "dup", lambda: CorrelatedPairs([0.5])))
    with pytest.raises(ValueError, match="task id"):
        tasks.Task("Bad Id", "x", lambda: CorrelatedPairs([0.5]))


def test_export_writes_the_task_folder_format(tmp_path):
    chosen = ["gaussian-pairs-d2-mi1", "grf-crop4-ch2-off4-noise0.5", "rendered-10px-d2-mi0.5"]
    paths = tasks.export_tasks(tmp_path, n=50, seed=3, tasks=chosen)
    assert [p.name for p in paths] == [f"{c}.npz" for c in chosen]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left
    for path, tid in zip(paths, chosen):
        with np.load(path, allow_pickle=False) as d:
            x, y, mi = d["x"], d["y"], d["true_mi"]
            assert x.ndim == 2 and y.ndim == 2 and x.shape[0] == y.shape[0] == 50
            assert x.dtype == np.float32 and mi.shape == () and mi.dtype == np.float64
            assert float(mi) == pytest.approx(tasks.get(tid).mutual_information())
            assert str(d["task_id"]) == tid
            assert int(np.prod(d["shape_x"])) == x.shape[1]
    with np.load(paths[1]) as d:
        assert tuple(d["shape_x"]) == (2, 4, 4)
    again = tasks.export_tasks(tmp_path / "again", n=50, seed=3, tasks=chosen[:1])
    with np.load(paths[0]) as a, np.load(again[0]) as b:
        np.testing.assert_array_equal(a["x"], b["x"])
    assert tasks.task_seed(3, chosen[0]) != tasks.task_seed(3, chosen[1])
    assert tasks.task_seed(3, chosen[0]) != tasks.task_seed(4, chosen[0])


def test_cli_tasks_list_and_export(tmp_path, capsys):
    assert main(["tasks", "list", "--tag", "student-t"]) == 0
    out = capsys.readouterr().out
    assert "student-t-d1-df3-rho0" in out and "true_mi=" in out
    assert main(["tasks", "export", str(tmp_path / "f"), "--n", "20", "--seed", "1", "--quiet",
                 "--task", "gaussian-pairs-d1-mi0.5", "--task", "student-t-d1-df1-rho0.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["gaussian-pairs-d1-mi0.5.npz",
                                                                   "student-t-d1-df1-rho0.5.npz"]
    assert main(["tasks", "export", str(tmp_path / "g"), "--task", "nope", "--quiet"]) == 2
    assert "unknown task id 'nope'" in capsys.readouterr().err
    assert main(["tasks", "export", str(tmp_path / "h"), "--n", "0", "--quiet"]) == 2
