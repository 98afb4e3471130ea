"""Run exports (mlpbench.tracking.portable) and their restore (tracking.restore): a run made in one store,
restored into another, is the same run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.tracking import MlflowClient

from mlpbench.tracking import portable, restore

from support import run_at_once


def _store(path: Path) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{path}"
    return uri, MlflowClient(uri)


def _made_runs(root: Path) -> tuple[str, dict[str, str]]:
    """A store with a sweep parent, a FINISHED child (history, dataset input, artifact) and a KILLED child."""
    uri, client = _store(root / "source.db")
    exp = client.create_experiment("made", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp, run_name="sweep", tags={"sweep": "parent"}).info.run_id
    ids = {"parent": parent}
    for name, status in (("done", "FINISHED"), ("stopped", "KILLED")):
        run = client.create_run(exp, start_time=1_000, run_name=name,
                                tags={"mlflow.parentRunId": parent, "backend": "numpy", "report_run_id": "elsewhere"})
        run_id = ids[name] = run.info.run_id
        client.log_batch(run_id, params=[Param("optim.lr", "0.1"), Param("model.hidden_sizes", "[16]")],
                         metrics=[Metric("val/acc", 0.5 + e / 10, 1_000 + e, e) for e in range(1, 4)]
                         + [Metric("test/acc", 0.8, 5_000, 0)])
        client.log_inputs(run_id, [DatasetInput(Dataset("mnist-train", "abc-training", "local", '{"uri": "/d"}'),
                                                [InputTag("mlflow.data.context", "training")])])
        (root / f"{name}.txt").write_text(f"artifact of {name}\n")
        client.log_artifact(run_id, str(root / f"{name}.txt"), "files")
        client.set_terminated(run_id, status, end_time=9_000)
    client.set_terminated(parent, "FINISHED", end_time=9_500)
    return uri, ids


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[str, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("source")
    uri, ids = _made_runs(root)
    return uri, ids, portable.export_runs(uri, list(ids.values()), root / "runs" / "made")


@pytest.fixture
def exported(source, tmp_path) -> tuple[str, dict[str, str], Path]:
    """The source store's uri, its run ids, and a copy of their export in ``tmp_path/runs/made``."""
    uri, ids, folder = source
    return uri, ids, Path(shutil.copytree(folder, tmp_path / "runs" / "made"))


def test_a_restored_run_is_the_run_that_was_exported(exported, tmp_path):
    uri, ids, folder = exported
    other, client = _store(tmp_path / "clone.db")
    mapping, imported = restore.restore(other, [folder])
    assert imported == 3 and set(mapping) == set(ids.values())
    source = MlflowClient(uri)
    for name, run_id in ids.items():
        a, b = source.get_run(run_id), client.get_run(mapping[run_id])
        assert (b.info.run_name, b.info.status, b.info.start_time, b.info.end_time) == \
               (a.info.run_name, a.info.status, a.info.start_time, a.info.end_time), name
        assert b.data.params == a.data.params and b.data.metrics == a.data.metrics
        assert b.data.tags[portable.SOURCE_TAG] == run_id and "report_run_id" not in b.data.tags
        history = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(mapping[run_id], "val/acc")]
        assert history == [(m.step, m.timestamp, m.value) for m in source.get_metric_history(run_id, "val/acc")]
    done = client.get_run(mapping[ids["done"]])
    assert done.data.tags["mlflow.parentRunId"] == mapping[ids["parent"]]  # the sweep stays one sweep
    (dataset,) = done.inputs.dataset_inputs
    assert (dataset.dataset.name, dataset.dataset.digest, dataset.tags[0].value) == ("mnist-train", "abc-training",
                                                                                        "training")
    local = Path(client.download_artifacts(mapping[ids["done"]], "files/done.txt", str(tmp_path / "dl")))
    assert local.read_text() == "artifact of done\n"
    assert client.get_experiment(done.info.experiment_id).name == "made"


def test_restoring_twice_or_into_the_store_that_has_the_runs_imports_nothing(exported, tmp_path):
    uri, ids, folder = exported
    other, client = _store(tmp_path / "clone.db")
    first, _ = restore.restore(other, [folder])
    again, imported = restore.restore(other, [folder])
    assert (again, imported) == (first, 0)
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 3
    same, imported = restore.restore(uri, [folder])
    assert imported == 0 and same == {i: i for i in ids.values()}


def test_an_export_replaces_the_old_one_only_when_complete(exported, monkeypatch):
    uri, ids, folder = exported
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(portable, "run_record", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        portable.export_runs(uri, [ids["done"]], folder)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in folder.parent.iterdir()] == ["made"]  # no staging folder left behind


def test_a_failed_import_leaves_no_run_behind(exported, tmp_path, monkeypatch):
    _, ids, folder = exported
    other, client = _store(tmp_path / "clone.db")
    monkeypatch.setattr(restore, "_log_inputs", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        restore.restore(other, [folder])
    monkeypatch.undo()
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
    assert restore.restore(other, [folder])[1] == 3  # and the next restore imports them whole


@pytest.mark.parametrize("content, message", [("{not json", "cannot be read"),
                                              (json.dumps({"format": 99, "run_id": "x"}), "not an mlpbench run export")])
def test_an_unreadable_export_fails_naming_the_file(tmp_path, content, message):
    folder = tmp_path / "runs" / "bad"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text(content)
    with pytest.raises(portable.ExportError, match=message) as err:
        restore.restore(f"sqlite:///{tmp_path / 'db.db'}", [folder])
    assert str(folder / "x.json") in str(err.value)
    with pytest.raises(portable.ExportError, match="not found"):
        restore.restore(f"sqlite:///{tmp_path / 'db.db'}", [tmp_path / "missing"])


@pytest.mark.slow  # four processes that import mlflow: about 20 s
def test_processes_restoring_at_once_import_each_run_once(exported, tmp_path):
    _, ids, folder = exported
    other, client = _store(tmp_path / "clone.db")
    client.search_experiments()  # the schema exists before the processes start (a fresh store races in it)
    outputs = run_at_once("""
        from mlpbench.tracking import restore
        at_once()
        print(restore.restore(args[0], [args[1]])[1])
    """, tmp_path, 4, other, str(folder))
    assert sorted(int(o.split()[-1]) for o in outputs) == [0, 0, 0, 3]
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 3


def test_the_command_restores_every_export_under_runs(exported, tmp_path, capsys):
    _, _, folder = exported
    other = f"sqlite:///{tmp_path / 'clone.db'}"
    assert restore.main(["--root", str(tmp_path), "--uri", other]) == 0
    assert "3 of 3 exported run(s) imported from 1 folder(s)" in capsys.readouterr().out
    assert restore.main(["--root", str(tmp_path), "--uri", other]) == 0
    assert "0 of 3" in capsys.readouterr().out
    (folder / "broken.json").write_text("{")
    assert restore.main(["--root", str(tmp_path), "--uri", other]) == 1
    assert "dvc repro -s -f" in capsys.readouterr().err


def test_only_an_export_is_replaced_by_an_export(exported, tmp_path):
    _, _, folder = exported
    assert portable.foreign_entries(folder) == [] and portable.foreign_entries(tmp_path / "none") == []
    portable.check_replaceable(folder, "outputs.export_dir")
    (folder / "notes.txt").write_text("mine")
    (folder / "data").mkdir()
    with pytest.raises(portable.ExportError, match=r"outputs.export_dir=.* holds files that are not a run export "
                                                   r"\(data, notes.txt\)"):
        portable.check_replaceable(folder, "outputs.export_dir")


def test_only_the_runs_asked_for_are_imported(exported, tmp_path):
    _, ids, folder = exported
    other, client = _store(tmp_path / "clone.db")
    mapping, imported = restore.restore(other, [folder], only=[ids["done"]])
    assert imported == 1 and list(mapping) == [ids["done"]]
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 1


def test_an_export_with_a_symbolic_link_is_refused_before_anything_is_copied(exported, tmp_path):
    _, ids, folder = exported
    (tmp_path / "secret").write_text("not for the store")
    (folder / ids["done"] / "files" / "link.txt").symlink_to(tmp_path / "secret")
    other, client = _store(tmp_path / "clone.db")
    with pytest.raises(portable.ExportError, match=r"holds a symbolic link .*link.txt"):
        restore.restore(other, [folder], only=[ids["done"]])
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
