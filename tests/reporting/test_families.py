"""The report's words for the image and diffusion task families and the optimizer contract:
a report with an image run (ViT_C), a diffusion run (DiT) and an optimizer run (Lion on
image), read from hand-made metrics.json in the harness's format (fixtures/README.md)."""

from __future__ import annotations

import re

import pytest
from paperfoundry.reporting import render_html
from paperfoundry.reporting import verdicts as vw
from paperfoundry.reporting.digest import claim_lines, pick_line

from .factories import build_families_report, run_from_metrics

VITC, DIT, LION = "2106.14881", "2212.09748", "2302.06675"


def _text(fragment: str) -> str:
    """Visible text (tags dropped, entities kept), whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(build_families_report())


def _pick(html: str, arxiv_id: str) -> str:
    start = html.index(f'id="pick-{arxiv_id.replace(".", "-")}"')
    return _text(html[start : html.index("</article>", start)])


def test_image_run_names_its_task_metric_and_references(html):
    sec = _pick(html, VITC)
    assert "task image classification (image) · budget small" in sec
    assert (
        "Candidate vs the ViT baseline on accuracy (higher is better, test split, 3 vs 3 "
        "seeds): better (effect +0.0344, 95% CI [+0.0233, +0.0456], margin ±0.02)." in sec
    )
    assert (
        "metric accuracy (higher is better): top-1, the share of test images classified "
        "correctly, 0 to 1" in sec
    )
    assert "the ViT baseline learned the task (0.926 ≥ 0.85 test accuracy)" in sec
    assert "baseline competence (ResNet reference) passed" in sec
    assert "the ResNet reference learned the task (0.961 ≥ 0.85 test accuracy)" in sec
    assert (
        "batch independence: candidate passed max change 0 (tolerance 0.001) the candidate "
        "scores each example independently of the rest of its batch" in sec
    )
    # the claim against the ResNet is judged on the comparison with the ResNet reference
    assert "candidate (ViT_C (convolutional stem)) vs ResNet reference −0.0011" in sec
    assert "Effect = model − baseline, so that positive = better" in sec
    # per-token figures belong to sequence tasks: no empty token columns
    assert "tok/s" not in sec and "FLOPs/token" not in sec


def test_image_runs_show_images_per_second_and_flops_per_image(html):
    sec = _pick(html, VITC)
    assert (
        "model train img/s infer img/s peak memory FLOPs/image optimizer state (floats) "
        "candidate (ViT_C (convolutional stem)) 1.73k 20.8k 326 MB process rss – 39.4k "
        "baseline (ViT) 1.4k 6.79k 322 MB process rss 633k 39.3k" in sec
    )
    assert "ResNet reference 1.47k 3.86k 321 MB process rss 387k 39.6k" in sec
    assert "FLOPs/image estimates: 2 x multiply-adds of a forward pass" in sec
    assert "images per run 96,000" in sec and "state (floats/seq)" not in sec
    assert "ResNet reference ResNet-8 (CIFAR-style basic blocks" in sec  # its setting
    dit = _pick(html, DIT)
    assert "baseline (in-context DiT) 1.96k 7.38k 322 MB process rss 703k 40k" in dit
    assert "pixelwise reference denoising MSE 0.291: the best denoiser that treats pixels" in dit
    lion = _pick(html, LION)  # the optimizer's state: half AdamW's
    assert "candidate optimizer (Lion) 2.89k 12.5k 321 MB process rss 643k 30k" in lion
    assert "AdamW (baseline) 5.9k 19k 322 MB process rss 643k 59.9k" in lion
    assert "Optimizer state: counted in the worker" in lion


def test_diffusion_run_reads_lower_is_better_and_its_gate_as_a_ceiling(html):
    sec = _pick(html, DIT)
    assert "task diffusion denoising (diffusion) · budget small" in sec
    assert (
        "Candidate vs the in-context DiT baseline on denoising MSE (lower is better, test "
        "split, 3 vs 3 seeds): better (effect +0.0159" in sec
    )
    assert (
        "the in-context DiT baseline uses spatial context: its denoising MSE 0.212 ≤ 0.262, "
        "at most 0.9× the best pixel-wise denoiser&#39;s MSE (lower is better)" in sec
    )
    assert "denoising MSE, better (lower) than the baseline" in sec
    assert "Effect = baseline − model (denoising MSE: lower is better), so that positive" in sec
    assert "effect on denoising MSE (baseline − model)" in sec  # the effects chart's axis
    assert "metric denoising MSE (lower is better): mean squared error of the predicted noise" in (
        sec
    )
    assert "scored at t 50/150/250/350/450/550/650/750/850/950" in sec
    assert "≥ 0.262" not in sec and "learned the task" not in sec


def test_a_failed_diffusion_gate_says_the_mse_is_above_the_bar():
    run = run_from_metrics("dit_diffusion.json", DIT)
    gate = next(g for g in run.gates if g.name == "baseline_competence")
    failed = gate.model_copy(update={"passed": False, "value": 0.3042})
    assert vw.gate_sentence(failed, run) == (
        "the in-context DiT baseline did not learn to denoise: its denoising MSE 0.304 > "
        "0.262, above 0.9× the best pixel-wise denoiser's MSE (lower is better)"
    )


def test_optimizer_run_reads_as_optimizer_vs_adamw(html):
    sec = _pick(html, LION)
    assert "task image classification (image) · optimizer vs AdamW · budget small" in sec
    assert (
        "5 claims: 2 supported, 3 untestable here. Optimizer vs AdamW (the harness&#39;s ViT, "
        "same initial weights, data and steps) on accuracy (higher is better, test split, 3 "
        "vs 3 seeds): equivalent (effect +0.0033" in sec
    )
    assert "Comparisons against AdamW on accuracy" in sec
    assert "candidate optimizer (Lion) +0.0033" in sec and "AdamW (baseline) 29,962" in sec
    assert "accuracy, equivalent to AdamW (condition:" in sec
    assert "optimizer state, better (smaller) than AdamW" in sec
    assert "2.00x smaller than AdamW&#39;s (30k vs 59.9k)" in sec
    assert "contract optimizer vs AdamW: the task&#39;s baseline model trained twice" in sec
    assert "the AdamW baseline learned the task (0.93 ≥ 0.85 test accuracy)" in sec
    # never worded as a model against a baseline model
    assert "Candidate vs" not in sec and "candidate (Lion)" not in sec


def test_glance_and_digest_use_the_same_words():
    report = build_families_report()
    html = render_html(report)
    start = html.index('id="glance"')
    glance = _text(html[start : html.index("</section>", start)])
    assert "optimizer vs AdamW on accuracy: equivalent (effect +0.0033" in glance
    assert "denoising MSE vs the in-context DiT baseline: better (effect +0.0159" in glance
    lion = next(p for p in report.picks if p.pick.arxiv_id == LION)
    assert "SUPPORTED 2/5 (toy scale): optimizer vs AdamW on accuracy: equivalent" in (
        pick_line(lion)
    )
    lines = [text for _, text in claim_lines(lion.run)]
    assert (
        "supported: Lion keeps only the momentum: half the optimizer state of AdamW " in (lines[3])
    )
    assert lines[3].endswith("(2.00x smaller than AdamW's (30k vs 59.9k))")
    assert lines[-1].startswith("ablation: without momentum interpolation vs AdamW: worse")


def test_the_contract_decides_an_optimizer_run():
    lion = run_from_metrics("lion_optimizer.json", LION)
    assert lion.contract == "optimizer" and vw.optimizer_run(lion)
    # a model run is one whatever its baseline is called; a run stored before TrainingRun
    # kept `contract` (None) is recognised by the harness's "AdamW-trained" baseline name
    assert not vw.optimizer_run(lion.model_copy(update={"contract": "model"}))
    assert vw.optimizer_run(lion.model_copy(update={"contract": None}))
    vitc = run_from_metrics("vitc_image.json", VITC)
    assert not vw.optimizer_run(vitc)
    assert not vw.optimizer_run(vitc.model_copy(update={"contract": None}))


def test_task_and_metric_labels():
    assert vw.task_label("image") == "image classification (image)"
    assert vw.task_label("diffusion") == "diffusion denoising (diffusion)"
    assert vw.task_label("mqar") == "multi-query associative recall (mqar)"
    assert vw.task_label("") == "–" and vw.task_label("video") == "video"
    assert vw.metric_label("denoise_mse") == "denoising MSE"
    assert vw.metric_label("optimizer_state") == "optimizer state"


def test_the_diffusion_gate_share_is_the_harnesses():
    families = pytest.importorskip("paperfoundry_trainer.families")
    assert vw.DIFFUSION_PIXELWISE_SHARE == families.DIFFUSION_PIXELWISE_SHARE
