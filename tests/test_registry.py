"""The registry against a real Redis: job records, status changes, models and names."""

import numpy as np

import nn


def _job(reg, name=None, y=("a", "b", "a", "b")):
    X = np.arange(8.0).reshape(4, 2)
    spec, data = nn.validate(
        {"layers": [{"units": 2}], "training": {"validation_split": 0}}, X, list(y)
    )
    return reg.create_job(name=name, spec=spec, data=data, X=X, y=np.asarray(y)), X


def _model_meta(job):
    X = np.arange(8.0).reshape(4, 2)
    model, history = nn.fit(job["spec"], X, ["a", "b", "a", "b"])
    return model.to_bytes(), {**model.describe(), "history": history.as_dict()}


def test_job_record_round_trip_and_data_as_npy(reg):
    job, X = _job(reg, name="spirals")
    assert job["status"] == "queued" and job["name"] == "spirals"
    assert job["created_at"].endswith("Z") and job["started_at"] is None
    assert job["spec"]["output"] == "sigmoid" and job["data"]["classes"] == ["a", "b"]
    assert job["model_id"] is None and job["error"] is None and job["progress"] is None
    x, y, _ = reg.load_data(job["id"])
    assert np.array_equal(x, X) and y.tolist() == ["a", "b", "a", "b"]
    assert reg.r.get(f"{reg.prefix}:job:{job['id']}:X").startswith(b"\x93NUMPY")


def test_status_changes_are_guarded(reg):
    job, _ = _job(reg)
    assert reg.start_job(job["id"], "w1")["status"] == "running"
    assert reg.start_job(job["id"], "w2") is None  # a duplicate delivery cannot start it again
    assert reg.report_progress(job["id"], {"epoch": 1, "epochs": 2}, [{"loss": 0.5}])
    assert reg.get_job(job["id"])["progress"] == {"epoch": 1, "epochs": 2}
    assert reg.get_job(job["id"])["history"] == {"loss": [0.5]}
    assert reg.fail_job(job["id"], "TrainingError", "diverged")
    failed = reg.get_job(job["id"])
    assert failed["status"] == "failed" and failed["error"]["message"] == "diverged"
    assert failed["finished_at"] is not None
    assert reg.load_data(job["id"]) is None  # the data goes when the job ends
    assert not reg.report_progress(job["id"], {"epoch": 2}, [])
    assert not reg.fail_job(job["id"], "X", "again")
    assert reg.cancel_job(job["id"])["status"] == "failed"  # an ended job stays ended
    assert reg.cancel_job("0" * 32) is None


def test_listing_is_newest_first_filtered_and_paginated(reg):
    ids = [_job(reg)[0]["id"] for _ in range(5)]
    reg.start_job(ids[1])
    reg.cancel_job(ids[2])
    jobs, total = reg.list_jobs()
    assert total == 5 and [j["id"] for j in jobs] == ids[::-1]
    assert "history" not in jobs[0]
    page, total = reg.list_jobs(offset=1, limit=2)
    assert [j["id"] for j in page] == [ids[3], ids[2]] and total == 5
    assert [j["id"] for j in reg.list_jobs("running")[0]] == [ids[1]]
    assert [j["id"] for j in reg.list_jobs("cancelled")[0]] == [ids[2]]
    assert reg.list_jobs("queued")[1] == 3


def test_success_stores_a_versioned_model_atomically(reg):
    job, _ = _job(reg, name="iris")
    reg.start_job(job["id"])
    blob, meta = _model_meta(job)
    model = reg.succeed_job(job["id"], blob, meta)
    assert (model["name"], model["version"], model["job_id"]) == ("iris", 1, job["id"])
    assert model["classes"] == ["a", "b"] and model["output"] == "sigmoid"
    done = reg.get_job(job["id"])
    assert done["status"] == "succeeded" and done["model_id"] == model["id"]
    assert done["history"]["loss"] and reg.load_data(job["id"]) is None
    assert nn.load(reg.model_blob(model["id"])).predict([[0, 1]])["classes"] == ["a", "b"]

    job2, _ = _job(reg, name="iris")
    reg.start_job(job2["id"])
    second = reg.succeed_job(job2["id"], blob, meta)
    assert second["version"] == 2
    assert reg.resolve_model("iris") == second["id"]
    assert reg.resolve_model("iris@1") == model["id"]
    assert reg.resolve_model(model["id"]) == model["id"]
    assert reg.resolve_model("iris@3") is None and reg.resolve_model("../etc") is None
    models, total = reg.list_models()
    assert total == 2 and [m["id"] for m in models] == [second["id"], model["id"]]
    assert reg.list_models(name="iris")[1] == 2 and reg.list_models(name="other")[1] == 0

    assert reg.delete_model("iris@2")
    assert not reg.model_exists(second["id"]) and reg.get_model(second["id"]) is None
    assert reg.resolve_model("iris") == model["id"]  # the latest remaining version
    assert not reg.delete_model("iris@2")
    job3, _ = _job(reg, name="iris")
    reg.start_job(job3["id"])
    assert reg.succeed_job(job3["id"], blob, meta)["version"] == 3  # versions are not reused


def test_a_cancelled_job_stores_no_model(reg):
    job, _ = _job(reg)
    reg.start_job(job["id"])
    blob, meta = _model_meta(job)
    assert reg.cancel_job(job["id"])["status"] == "cancelled"
    assert reg.succeed_job(job["id"], blob, meta) is None
    assert reg.list_models()[1] == 0 and reg.get_job(job["id"])["model_id"] is None


def test_delete_job_undoes_create(reg):
    job, _ = _job(reg)
    reg.delete_job(job["id"])
    assert reg.get_job(job["id"]) is None and reg.list_jobs()[1] == 0
    assert list(reg.r.scan_iter(f"{reg.prefix}:*")) == []


def test_things_made_in_one_millisecond_are_listed_newest_first(reg):
    # a sweep stores its jobs in one go: they share a creation millisecond
    ids = [_job(reg)[0]["id"] for _ in range(20)]
    assert [j["id"] for j in reg.list_jobs(limit=20)[0]] == ids[::-1]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
