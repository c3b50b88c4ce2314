"""apply_metrics keeps every key the harness writes for the image, diffusion and optimizer
runs (tests/reporting/fixtures), still reads schema 2 runs written before those keys, and
marks a run failed (never raises) when one of them is malformed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from paperfoundry.models import TrainingRun
from paperfoundry.reporting import verdicts as vw
from paperfoundry.training import SCHEMA2_FIELDS, apply_metrics

TESTS = Path(__file__).resolve().parents[1]
FAMILIES = ("vitc_image.json", "dit_diffusion.json", "lion_optimizer.json")
# metrics.json keys a TrainingRun does not keep as a field of its own: read into other
# fields (status, failure, verdict, curves, wall_seconds, schema), known to the run already
# (task, budget, impl) or files and sweep grids the report does not show
NOT_KEPT = {"task", "budget", "impl", "status", "failure", "verdict", "curves", "plots",
            "lr_grids", "schema", "wall_seconds"}  # fmt: skip


def _metrics(name: str) -> dict:
    folder = TESTS / "reporting" / "fixtures"
    path = folder / name if (folder / name).is_file() else TESTS / "fixtures" / "metrics" / name
    return json.loads(path.read_text())


def _run(task: str = "image") -> TrainingRun:
    return TrainingRun(
        run_id="r", arxiv_id="2302.06675", day=date(2025, 3, 14), task=task, budget="small",
        backend="local",
    )  # fmt: skip


@pytest.mark.parametrize("name", FAMILIES)
def test_every_key_of_a_family_run_is_kept(name):
    metrics = _metrics(name)
    run = apply_metrics(_run(metrics["task"]), metrics)
    assert run.status == "completed" and run.error is None, run.error
    assert set(metrics) - NOT_KEPT <= set(SCHEMA2_FIELDS)
    assert run.contract == metrics["contract"] and run.images_per_run == metrics["images_per_run"]
    assert run.tokens_per_run is None
    for model, figures in metrics["efficiency"].items():
        kept = run.efficiency[model].model_dump()
        assert {k: kept[k] for k in figures} == figures, model
    for key, reference in (metrics.get("references") or {}).items():
        assert run.references[key].model_dump(exclude_defaults=True) == reference, key
    if metrics.get("candidate_model"):
        assert run.candidate_model.model_dump() == metrics["candidate_model"]
    else:
        assert run.candidate_model is None
    # and survives storage (report.json, SQLite, DynamoDB all go through JSON)
    assert TrainingRun.model_validate_json(run.model_dump_json()) == run


def test_the_families_new_figures_in_detail():
    image = apply_metrics(_run(), _metrics("vitc_image.json"))
    assert image.contract == "model" and image.images_per_run == 96_000
    assert image.references["baseline:resnet"].config["kind"] == "resnet"
    base = image.efficiency["baseline"]
    assert base.flops_per_image == 633_312 and base.train_images_per_s == pytest.approx(
        1396.56, abs=0.01
    )
    assert image.efficiency["candidate"].flops_per_image is None  # not counted
    diffusion = apply_metrics(_run("diffusion"), _metrics("dit_diffusion.json"))
    pixelwise = diffusion.references["pixelwise"]
    assert pixelwise.value == pytest.approx(0.29126, abs=1e-5) and pixelwise.name is None
    assert "independently" in pixelwise.detail
    lion = apply_metrics(_run(), _metrics("lion_optimizer.json"))
    assert lion.contract == "optimizer" and vw.optimizer_run(lion)
    assert lion.candidate_model.config == lion.baseline.config  # AdamW's model, trained twice
    assert lion.efficiency["candidate"].optimizer_state_floats == 29_962
    assert lion.efficiency["baseline"].optimizer_state_floats == 59_924


def test_a_schema_2_run_from_before_the_new_keys_still_loads():
    run = apply_metrics(_run("mqar"), _metrics("based_mqar.json"))
    assert run.status == "completed" and run.error is None, run.error
    assert run.contract is None and run.candidate_model is None and run.references == {}
    assert run.images_per_run is None and run.tokens_per_run == 4000 * 128 * 256
    assert run.efficiency["candidate"].train_images_per_s is None
    assert run.efficiency["candidate"].optimizer_state_floats is None
    assert not vw.optimizer_run(run)


def test_a_run_stored_before_the_new_fields_still_loads():
    lion = apply_metrics(_run(), _metrics("lion_optimizer.json"))
    stored = lion.model_dump(mode="json")
    for key in ("contract", "candidate_model", "references", "images_per_run"):
        stored.pop(key)
    for figures in stored["efficiency"].values():
        for key in ("train_images_per_s", "infer_images_per_s", "flops_per_image",
                    "optimizer_state_floats", "optimizer_state_source"):  # fmt: skip
            figures.pop(key)
    run = TrainingRun.model_validate(stored)
    assert run.contract is None and run.images_per_run is None
    # an optimizer run stored then is still read as one, by its baseline's name
    assert vw.optimizer_run(run) and vw.baseline_short(run) == "AdamW"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("contract", "both"),
        ("images_per_run", "many"),
        ("references", ["pixelwise"]),
        ("references", {"pixelwise": {"value": "low"}}),
        ("candidate_model", {"name": "ViT", "config": "big"}),
        ("efficiency", {"candidate": {"train_images_per_s": "fast"}}),
        ("efficiency", {"candidate": {"optimizer_state_floats": [1, 2]}}),
    ],
)
def test_a_malformed_new_key_marks_the_run_failed(key, value):
    metrics = _metrics("lion_optimizer.json")
    metrics[key] = value
    run = apply_metrics(_run(), metrics)
    assert run.status == "failed" and "unreadable metrics.json" in run.error


def test_a_retried_run_does_not_keep_the_last_attempts_new_keys():
    lion = apply_metrics(_run(), _metrics("lion_optimizer.json"))
    failed = apply_metrics(
        lion, {"schema": 2, "status": "failed", "failure": {"stage": "import", "type": "E"}}
    )
    assert failed.status == "failed" and failed.contract is None
    assert failed.candidate_model is None and failed.references == {}
    assert failed.images_per_run is None and failed.efficiency == {}
