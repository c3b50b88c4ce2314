"""The image and diffusion families and the optimizer contract, without training: data
paths (built-in digits, image directories, the CIFAR-10 converter), metrics, closed-form
references, reference-model sizing, validation, declarations, gates and claims."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time

import pytest
import torch
from conftest import LIBRARY, by_name, write_impl
from paperfoundry_trainer import baseline_diffusion as bd
from paperfoundry_trainer import baseline_image as bi
from paperfoundry_trainer import claims as claims_mod
from paperfoundry_trainer import data
from paperfoundry_trainer.compare import Arm, Comparison, Job, _skeleton, _write_outputs
from paperfoundry_trainer.families import (
    FamilyTrainer,
    build_reference,
    optimizer_state_floats,
    param_groups,
)
from paperfoundry_trainer.sagemaker import Paths, StopFlag
from paperfoundry_trainer.spec import BUDGET_NAMES, IMAGE_TASKS, get_budget
from paperfoundry_trainer.stats import MARGINS
from paperfoundry_trainer.tasks import make_task
from paperfoundry_trainer.tasks_diffusion import EVAL_T, cosine_alpha_bar
from paperfoundry_trainer.train import TrainConfig
from paperfoundry_trainer.validate import check_impl, load_impl

VITC = LIBRARY / "vitc_2106_14881.py"
DIT = LIBRARY / "dit_2212_09748.py"
LION = LIBRARY / "lion_2302_06675.py"
CPU = torch.device("cpu")


# -- data: the built-in digits and image directories -------------------------------------------


def test_digits_are_built_in_and_split_fixed():
    d = data.load_digits()
    assert (d.name, d.shape, d.num_classes, d.max_value) == ("digits", (1, 8, 8), 10, 16)
    sizes = {s: len(v) for s, v in d.splits.items()}
    assert sizes == {"train": 1297, "val": 200, "test": 300}
    for s in d.splits.values():
        assert s.images.dtype == torch.uint8 and int(s.images.max()) <= 16
        assert set(s.labels.tolist()) == set(range(10))  # every class in every split
    again = data.load_digits(("test",))
    assert torch.equal(again.splits["test"].images, d.splits["test"].images)
    # the splits partition the 1,797 images (rows of the file, not just distinct pixels)
    rows = torch.cat([torch.cat([s.images.flatten(1), s.labels[:, None].to(torch.uint8)], 1)
                      for s in d.splits.values()])  # fmt: skip
    assert len(rows) == 1797
    assert "BSD 3-Clause" in (data.DATASETS_DIR / "PROVENANCE.txt").read_text()


def test_image_directory_round_trip_and_the_worker_sees_train_only(tmp_path):
    assert data.prepare_data("digits", tmp_path / "dg") == 0
    meta = json.loads((tmp_path / "dg" / "meta.json").read_text())
    assert meta["format"] == data.IMAGE_FORMAT and meta["splits"]["test"] == 300
    back, ref = data.load_image_dir(tmp_path / "dg"), data.load_digits()
    for s in data.SPLITS:
        assert torch.equal(back.splits[s].images, ref.splits[s].images)
        assert torch.equal(back.splits[s].labels, ref.splits[s].labels)
    files = data.image_files(tmp_path / "dg", ("train",))
    assert [p.name for p in files] == ["meta.json", "train.bin"]


def test_image_directory_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare-data --corpus cifar10"):
        data.load_image_dir(tmp_path)
    data.prepare_data("digits", tmp_path / "dg")
    (tmp_path / "dg" / "val.bin").write_bytes(b"\x01" * 10)  # not whole 65-byte records
    with pytest.raises(ValueError, match="whole number"):
        data.load_image_dir(tmp_path / "dg", ("val",))
    with pytest.raises(ValueError, match="expects"):  # digits where CIFAR is expected
        make_task("image", get_budget("image", "medium").spec, {}, data_dir=tmp_path / "dg",
                  splits=("train",))  # fmt: skip
    with pytest.raises(FileNotFoundError, match="--corpus cifar10"):  # not built in
        make_task("image", get_budget("image", "medium").spec, {"dataset": "cifar10"})


def _fake_cifar_tarball(per_batch: int = 20) -> bytes:
    """The layout of cifar-10-binary.tar.gz, with tiny batches of known records."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for b, name in enumerate(names):
            recs = bytearray()
            for r in range(per_batch):
                recs += bytes([(b + r) % 10]) + bytes([(b * 7 + r) % 256]) * 3072
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(recs)
            tar.addfile(info, io.BytesIO(bytes(recs)))
    return buf.getvalue()


def test_cifar10_converter_without_network(tmp_path, monkeypatch):
    raw = _fake_cifar_tarball()
    asked = []

    def fake_download(url, timeout=60.0):
        asked.append(url)
        return raw

    monkeypatch.setattr(data, "download", fake_download)
    assert data.prepare_data("cifar10", tmp_path / "c10") == 0
    assert asked == [data.CIFAR10_URL]
    meta = json.loads((tmp_path / "c10" / "meta.json").read_text())
    assert meta["shape"] == [3, 32, 32] and meta["dataset"] == "cifar10"
    assert meta["splits"] == {"train": 90, "val": 10, "test": 20}  # val = last tenth here
    d = data.load_image_dir(tmp_path / "c10")
    assert d.splits["test"].labels.tolist()[:3] == [5, 6, 7]  # test_batch is batch index 5
    assert int(d.splits["test"].images[0, 0, 0, 0]) == 35  # (5 * 7 + 0) % 256
    val = d.splits["val"]  # the last records of data_batch_5
    assert int(val.images[-1, 2, 31, 31]) == (4 * 7 + 19) % 256
    task = make_task("image", get_budget("image", "medium").spec, {}, data_dir=tmp_path / "c10")
    assert task.dataset == "cifar10" and task.flip and task.pad == 4
    # a failed download is reported, not raised
    monkeypatch.setattr(data, "download", lambda url, timeout=60.0: b"not a tarball")
    assert data.prepare_data("cifar10", tmp_path / "bad") == 1


# -- the image task --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_task():
    b = get_budget("image", "small")
    return b, make_task("image", b.spec, b.task_args)


def test_image_batches_are_a_function_of_seed_and_step(image_task):
    b, task = image_task
    (x1,), y1 = task.batch(16, 3, 7)
    (x2,), y2 = task.batch(16, 3, 7)
    (x3,), _ = task.batch(16, 3, 8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert x1.shape == (16, 1, 8, 8) and y1.dtype == torch.int64


def test_image_eval_sets_are_the_whole_fixed_split(image_task):
    b, task = image_task
    test = task.eval_set("test", b.eval_batches, b.batch_size)
    assert sum(len(y) for _, y in test) == 300
    again = task.eval_set("test", b.eval_batches, b.batch_size)
    assert all(torch.equal(a[0][0], c[0][0]) for a, c in zip(test, again, strict=True))
    x = torch.cat([i[0] for i, _ in test])
    assert abs(float(x.mean())) < 0.2  # normalised with the training split's statistics
    assert sum(len(y) for _, y in task.eval_set("val", b.val_batches, b.batch_size)) == 200


def test_accuracy_metric(image_task):
    _, task = image_task
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert task.score(logits, torch.tensor([1, 1, 2])).tolist() == [1.0, 0.0, 1.0]
    assert task.metric == "accuracy" and task.higher_is_better and MARGINS["accuracy"] > 0


def test_augmentation_translates_within_the_padding():
    from paperfoundry_trainer.tasks_image import augment

    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 3] = 1.0
    out = augment(x, torch.Generator().manual_seed(0), 1, False)
    pos = out.flatten(1).argmax(1)
    rows, cols = pos // 8, pos % 8
    assert out.sum() == 64 and set(rows.tolist()) == {2, 3, 4} and set(cols.tolist()) == {2, 3, 4}


# -- the diffusion task ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def diffusion_task():
    b = get_budget("diffusion", "small")
    return b, make_task("diffusion", b.spec, b.task_args)


def test_cosine_schedule():
    ab = cosine_alpha_bar(1000)
    assert ab.shape == (1000,) and bool((ab[1:] < ab[:-1]).all())
    assert 0.99 < float(ab[0]) < 1.0 and float(ab[-1]) < 1e-3


def test_diffusion_eval_inputs_are_fixed_and_timestep_major(diffusion_task):
    b, task = diffusion_task
    test = task.eval_set("test", b.eval_batches, b.batch_size)
    assert sum(len(e) for _, e in test) == 300 * len(EVAL_T)
    again = task.eval_set("test", b.eval_batches, b.batch_size)
    for (i1, e1), (i2, e2) in zip(test, again, strict=True):
        assert all(torch.equal(a, c) for a, c in zip(i1, i2, strict=True))
        assert torch.equal(e1, e2)
    (xt, t, y), eps = test[0]
    assert set(t.tolist()) == {EVAL_T[0]} and len(set(y.tolist())) > 1  # distinct images
    val_eps = task.eval_set("val", b.val_batches, b.batch_size)[0][1]
    assert not torch.equal(val_eps[:8], eps[:8])  # each split its own noise seed
    # x_t is the forward process applied to the scaled test images
    x0 = task.scale(task.data.splits["test"].images[: len(eps)])
    a = task.alpha_bar[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)


def test_denoising_metric_and_closed_form_references(diffusion_task):
    b, task = diffusion_task
    test = task.eval_set("test", b.eval_batches, b.batch_size)
    eps = torch.cat([e for _, e in test])
    assert float(torch.cat([task.score(e, e) for _, e in test]).max()) == 0.0  # perfect
    zero = torch.cat([task.score(torch.zeros_like(e), e) for _, e in test]).mean()
    pixel = task.pixelwise_denoiser_mse(test).mean()
    linear = task.linear_denoiser_mse(test).mean()
    assert abs(float(zero) - float(eps.pow(2).mean())) < 1e-6 and 0.9 < float(zero) < 1.1
    assert float(linear) < float(pixel) < float(zero)  # more structure, lower error
    assert not task.higher_is_better and MARGINS["denoise_mse"] > 0


def test_diffusion_training_batches(diffusion_task):
    _, task = diffusion_task
    (xt, t, y), eps = task.batch(8, 1, 5)
    (xt2, *_), _ = task.batch(8, 1, 5)
    assert torch.equal(xt, xt2) and xt.shape == eps.shape == (8, 1, 8, 8)
    assert t.dtype == torch.int64 and 0 <= int(t.min()) and int(t.max()) < 1000
    assert task.loss(eps, eps) == 0


# -- reference models ------------------------------------------------------------------------

CONFIGS = [
    bi.ImageRefConfig("vit", 8, 1, 10, d_model=32, n_layer=2, n_head=1, mlp_hidden=77, patch=2),
    bi.ImageRefConfig("vit", 32, 3, 10, d_model=64, n_layer=3, n_head=2, mlp_hidden=256, patch=4),
    bi.ImageRefConfig("resnet", 8, 1, 10, d_model=8, n_layer=1, last_width=30),
    bi.ImageRefConfig("resnet", 32, 3, 10, d_model=6, n_layer=2, last_width=24),
    bd.DiTConfig("dit", 8, 1, 10, 24, 2, 1, 50, 2, "adaln-zero"),
    bd.DiTConfig("dit", 8, 1, 10, 32, 2, 1, 70, 2, "in-context"),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.kind}-{c.image_size}")
def test_reference_param_counts_are_exact_and_shapes_right(cfg):
    model = build_reference(cfg.to_dict())
    count = bd.count_params(cfg) if cfg.kind == "dit" else bi.count_params(cfg)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == count
    x = torch.randn(2, cfg.channels, cfg.image_size, cfg.image_size)
    if cfg.kind == "dit":
        out = model(x, torch.tensor([0, 999]), torch.tensor([1, 2]))
        assert out.shape == x.shape
        if cfg.conditioning == "adaln-zero":  # every block and the decoder start at zero
            assert float(out.detach().abs().max()) == 0.0
    else:
        assert model(x).shape == (2, cfg.num_classes)


@pytest.mark.parametrize("budget", ["tiny", "small"])
@pytest.mark.parametrize("frac", [0.87, 1.0, 1.13])
def test_references_are_sized_to_the_candidate_within_2_percent(budget, frac):
    for task in IMAGE_TASKS:
        spec = get_budget(task, budget).spec
        target = int(spec.param_budget * frac)
        if task == "image":
            cfgs = [bi.size_to(a, spec, target) for a in bi.ARCHS]
            counts = [bi.count_params(c) for c in cfgs]
        else:
            cfgs = [bd.size_to(spec, target, c) for c in bd.CONDITIONINGS]
            counts = [bd.count_params(c) for c in cfgs]
        for cfg, n in zip(cfgs, counts, strict=True):
            assert abs(n - target) <= 0.02 * target, (cfg, n, target)


def test_gpu_budgets_are_sized_too():
    for task in IMAGE_TASKS:
        for budget in ("medium", "large"):
            spec = get_budget(task, budget).spec
            assert spec.image_size == 32 and spec.channels == 3
            fam = {"image": bi.size_to("resnet", spec, spec.param_budget),
                   "diffusion": bd.size_to(spec, spec.param_budget)}[task]  # fmt: skip
            count = bi.count_params(fam) if task == "image" else bd.count_params(fam)
            assert abs(count / spec.param_budget - 1) <= 0.02


def test_flops_are_counted():
    vit = bi.size_to("vit", get_budget("image", "small").spec, 30_000)
    resnet = bi.size_to("resnet", get_budget("image", "small").spec, 30_000)
    assert bi.flops_per_image(vit) > 2 * 30_000 * 16 * 0.5  # ~2 x params x tokens
    assert bi.flops_per_image(resnet) > 0
    assert bd.flops_per_image(bd.size_to(get_budget("diffusion", "small").spec, 30_000)) > 0


# -- the contracts: validation ---------------------------------------------------------------

IMAGE_MODEL = """
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, spec, d):
        super().__init__()
        self.stem = nn.Conv2d(spec.channels, d, 3, padding=1)
        self.head = nn.Linear(d, spec.num_classes)

    def forward(self, x):
        return self.head(self.extra(torch.relu(self.stem(x)).mean((2, 3))))

    def extra(self, h):
        return h


def build_model(spec):
    d = round((spec.param_budget - spec.num_classes) / (9 * spec.channels + 1 + spec.num_classes))
    return Model(spec, d)
"""

BATCH_POOLING = (
    IMAGE_MODEL
    + """

def _pool(self, h):
    return h + h.mean(0, keepdim=True)  # shares information across the batch


Model.extra = _pool
"""
)

WRONG_OUTPUT = IMAGE_MODEL.replace(
    "return self.head(self.extra(torch.relu(self.stem(x)).mean((2, 3))))",
    "return self.head(self.extra(torch.relu(self.stem(x)).mean((2, 3))))[:, :3]",
)

FIXED_LR_SGD = """
import torch


class Fixed(torch.optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": 0.01})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-0.01)  # ignores group["lr"]


def build_optimizer(params, spec):
    return Fixed(params)
"""

NOT_AN_OPTIMIZER = "def build_optimizer(params, spec):\n    return object()\n"
BOTH = "def build_model(spec):\n    pass\n\n\ndef build_optimizer(params, spec):\n    pass\n"


def test_image_model_contract(tmp_path):
    spec = get_budget("image", "tiny").spec
    ok = check_impl(write_impl(tmp_path, "ok.py", IMAGE_MODEL), spec)
    assert ok["ok"] and ok["contract"] == "model", ok
    bad = check_impl(write_impl(tmp_path, "pool.py", BATCH_POOLING), spec)
    assert (bad["failure"]["stage"], bad["failure"]["type"]) == ("forward", "BatchDependenceError")
    bad = check_impl(write_impl(tmp_path, "shape.py", WRONG_OUTPUT), spec)
    assert (bad["failure"]["stage"], bad["failure"]["type"]) == ("shape", "ShapeError")
    assert "(B, num_classes)" in bad["failure"]["message"]
    # an image model on a diffusion task fails the shape check with what was expected
    bad = check_impl(
        write_impl(tmp_path, "ok.py", IMAGE_MODEL), get_budget("diffusion", "tiny").spec
    )
    assert bad["failure"]["stage"] in ("forward", "shape")


@pytest.mark.parametrize("task", ["mqar", "image", "diffusion"])
def test_lion_passes_the_optimizer_contract(task):
    result = check_impl(LION, get_budget(task, "tiny").spec)
    assert result["ok"] and result["contract"] == "optimizer", result


def test_optimizer_contract_failures(tmp_path):
    spec = get_budget("image", "tiny").spec
    bad = check_impl(write_impl(tmp_path, "fixed.py", FIXED_LR_SGD), spec)["failure"]
    assert (bad["stage"], bad["type"]) == ("train", "ContractError") and "group['lr']" in bad[
        "message"
    ]
    bad = check_impl(write_impl(tmp_path, "obj.py", NOT_AN_OPTIMIZER), spec)["failure"]
    assert (bad["stage"], bad["type"]) == ("build", "ContractError")
    bad = check_impl(write_impl(tmp_path, "both.py", BOTH), spec)["failure"]
    assert (bad["stage"], bad["type"]) == ("import", "ContractError")


def test_param_groups_and_optimizer_state():
    model = build_reference(CONFIGS[0].to_dict())
    groups = param_groups(model, 0.1, 1e-3)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.dim() >= 2 for p in groups[0]["params"])
    assert all(p.dim() < 2 for p in groups[1]["params"])
    n = sum(p.numel() for p in model.parameters())
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    lion = load_impl(LION).build_optimizer(groups, get_budget("image", "tiny").spec)
    adamw = torch.optim.AdamW(param_groups(model, 0.1, 1e-3))
    for opt in (lion, adamw):
        model(torch.randn(2, 1, 8, 8)).sum().backward()
        opt.step()
    assert optimizer_state_floats(lion) == n and optimizer_state_floats(adamw) == 2 * n
    assert lion.param_groups[0]["weight_decay"] == pytest.approx(1.0)  # 10x AdamW's


def test_family_trainer_trains_an_image_model():
    b = get_budget("image", "tiny")
    task = make_task("image", b.spec, b.task_args)
    torch.manual_seed(0)
    model = build_reference(bi.size_to("resnet", b.spec, b.spec.param_budget).to_dict())
    cfg = TrainConfig(steps=20, batch_size=32, lr=1e-2, log_every=10)
    tr = FamilyTrainer(model, task, cfg, seed=0, device=CPU)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker: tiny ops, and a busy machine, hate threads
    try:
        first = float(tr.train_step())
        for _ in range(19):
            tr.train_step()
    finally:
        torch.set_num_threads(threads)
    assert tr.step == 20 and tr.pop_mean_loss() < first
    state = tr.state_dict()
    assert state["step"] == 20 and "model" in state and "opt" in state


# -- declarations ----------------------------------------------------------------------------


def test_declarations_for_the_new_contracts(tmp_path):
    decl = claims_mod.read_declarations(VITC)
    assert decl.contract == "model" and decl.baseline == {"arch": "vit", "short_conv": 0}
    assert decl.against == ("resnet",) and not decl.problems
    decl = claims_mod.read_declarations(LION)
    assert decl.contract == "optimizer" and decl.optimizer == {"lr_scale": 0.1}
    assert not decl.problems
    decl = claims_mod.read_declarations(DIT)
    assert decl.baseline["conditioning"] == "in-context" and not decl.problems
    odd = write_impl(tmp_path, "odd.py", (
        'BASELINE = {"arch": "swin", "shape": 3}\nOPTIMIZER = {"lr_scale": 100}\n'
        'CLAIMS = [{"id": "x", "metric": "accuracy", "comparison": "better", '
        '"against": "mlp-mixer"}]\ndef build_model(spec):\n    pass\n'))  # fmt: skip
    decl = claims_mod.read_declarations(odd)
    assert len(decl.problems) == 4 and not decl.claims and decl.baseline == {"short_conv": 0}


# -- the report: gates, comparisons with a second reference, claims --------------------------


def image_comparison(tmp_path, impl, budget="small") -> tuple[Comparison, list[Arm], object]:
    b = get_budget("image", budget)
    job = Job(impl=impl, task="image", budget=b, paths=Paths(model_dir=tmp_path / "out"))
    c = Comparison(job, CPU, _skeleton(job, CPU), StopFlag(), time.time())
    c.task = make_task("image", b.spec, b.task_args)
    c.wall_before = 0.0
    c.metrics["metric"] = {"name": "accuracy", "higher_is_better": True, "split": "test"}
    c.metrics["setting"] = {**b.task_args, **c.family.setting(b.spec, c.task)}
    decl = claims_mod.read_declarations(impl)
    c.metrics["contract"] = decl.contract
    return c, c._arms(29_370, decl), decl


def fake_run(model, seed, value, independent=True):
    r = {
        "model": model, "lr": 1e-2, "seed": seed, "split": "test", "value": value,
        "final_loss": 0.1, "diverged": False, "curve": {"step": [10], "loss": [1.0]},
        "params": 29_370, "embedding_params": 0, "state_size": None,
        "train_tokens_per_s": 500.0,
    }  # fmt: skip
    if not model.startswith("baseline"):
        bad = [] if independent else [{"batch": 64, "kept": 1, "max_change": 0.3}]
        r["independence"] = {"passed": independent, "failed": bad, "tolerance": 1e-3,
                             "max_relative_change": 0.0 if independent else 0.3}  # fmt: skip
    if seed == 1:
        r["infer_tokens_per_s"] = {"8": 9000.0}
        r["peak_memory"] = {"peak_mb": 200.0, "kind": "process rss"}
        r["optimizer_state"] = 2 * 29_370
    return r


VALUES = {
    "candidate": [0.97, 0.965, 0.975],
    "ablation:without conv stem": [0.93, 0.94, 0.935],
    "baseline": [0.93, 0.935, 0.94],
    "baseline:resnet": [0.995, 0.995, 1.0],
}


def image_report(tmp_path, values=VALUES, independent=True):
    c, arms, decl = image_comparison(tmp_path, VITC)
    finals = [fake_run(m, s, v, independent or m != "candidate")
              for m, vs in values.items() for s, v in enumerate(vs, start=1)]  # fmt: skip
    c._report(arms, {}, finals, decl)
    _write_outputs(c.job, c.metrics)
    return json.loads((c.job.paths.model_dir / "metrics.json").read_text())


def test_image_arms_include_the_reference_a_claim_is_about(tmp_path):
    c, arms, _ = image_comparison(tmp_path, VITC)
    assert [a.name for a in arms] == ["candidate", "ablation:without conv stem", "baseline",
                                      "baseline:resnet"]  # fmt: skip
    assert by_name([a.__dict__ for a in arms], "baseline:resnet")["sweeps"] is True
    assert c.metrics["baseline"]["config"]["kind"] == "vit" and "control" not in c.metrics
    assert c.metrics["references"]["baseline:resnet"]["config"]["kind"] == "resnet"
    assert abs(c.metrics["params"]["match"]) <= 0.02


def test_image_report_gates_comparisons_and_claims(tmp_path):
    m = image_report(tmp_path)
    assert [g["name"] for g in m["gates"]] == [
        "baseline_competence", "baseline_competence:resnet", "params_matched",
        "independent:candidate", "independent:ablation:without conv stem"]  # fmt: skip
    assert all(g["passed"] for g in m["gates"])
    comps = {(c["model"], c["against"]): c["outcome"] for c in m["comparisons"]}
    assert comps == {("candidate", "baseline"): "better",
                     ("ablation:without conv stem", "baseline"): "equivalent",
                     ("candidate", "baseline:resnet"): "worse"}  # fmt: skip
    claims = {c["id"]: c["outcome"] for c in m["claims"]}
    assert claims == {"accuracy": "supported", "cnn-parity": "contradicted",
                      "stability": "untestable"}  # fmt: skip
    assert by_name(m["claims"], "cnn-parity")["against"] == "resnet"
    eff = m["efficiency"]["baseline"]
    assert eff["train_images_per_s"] == 500.0 and eff["infer_images_per_s"] == 9000.0
    assert eff["flops_per_image"] > 0 and eff["optimizer_state_floats"] == 2 * 29_370
    assert m["tokens_per_run"] is None and m["images_per_run"] > 0


def test_an_untrained_baseline_or_a_batch_pooling_model_is_invalid(tmp_path):
    low = {**VALUES, "baseline": [0.5, 0.55, 0.6]}
    m = image_report(tmp_path / "a", values=low)
    gate = by_name(m["gates"], "baseline_competence")
    assert not gate["passed"] and gate["threshold"] == 0.85
    assert {c["outcome"] for c in m["comparisons"]} == {"invalid"}
    low = {**VALUES, "baseline:resnet": [0.5, 0.55, 0.6]}  # only its own comparison
    m = image_report(tmp_path / "b", values=low)
    outcomes = {(c["model"], c["against"]): c["outcome"] for c in m["comparisons"]}
    assert outcomes[("candidate", "baseline:resnet")] == "invalid"
    assert outcomes[("candidate", "baseline")] == "better"
    m = image_report(tmp_path / "c", independent=False)
    main = m["comparisons"][0]
    assert main["outcome"] == "invalid" and "mixes examples" in main["reason"]


def test_diffusion_gate_uses_the_closed_form_denoisers(tmp_path):
    b = get_budget("diffusion", "small")
    job = Job(impl=DIT, task="diffusion", budget=b, paths=Paths(model_dir=tmp_path / "out"))
    c = Comparison(job, CPU, _skeleton(job, CPU), StopFlag(), time.time())
    c.task, c.closed_form = None, {"pixelwise": 0.28, "linear": 0.225}
    for mse, ok in ((0.20, True), (0.26, False)):
        gates = c.family.gates(None, {"baseline": {"mean": mse}}, c.closed_form)
        assert gates[0]["passed"] is ok and gates[0]["threshold"] == pytest.approx(0.252)
    assert "beats the linear" in c.family.gates(None, {"baseline": {"mean": 0.2}},
                                                c.closed_form)[0]["detail"]  # fmt: skip


def test_optimizer_arms_train_the_baseline_model(tmp_path):
    b = get_budget("image", "small")
    job = Job(impl=LION, task="image", budget=b, paths=Paths(model_dir=tmp_path / "out"))
    c = Comparison(job, CPU, _skeleton(job, CPU), StopFlag(), time.time())
    c.task = make_task("image", b.spec, b.task_args)
    decl = claims_mod.read_declarations(LION)
    c.metrics["contract"] = decl.contract
    arms = c._arms(12345, decl)  # validation's count is not the model trained
    cand = arms[0]
    assert cand.source["contract"] == "optimizer" and cand.lr_scale == 0.1
    assert cand.source["config"] == arms[2].source["config"]  # the baseline's own model
    assert [a.name for a in arms] == ["candidate", "ablation:without momentum interpolation",
                                      "baseline"]  # fmt: skip
    assert c.metrics["params"]["match"] == 0.0 and "AdamW" in c.metrics["baseline"]["name"]
    assert c.cand_params == bi.count_params(bi.ImageRefConfig(**cand.source["config"]))


@pytest.mark.parametrize("task", IMAGE_TASKS)
def test_every_budget_exists_for_the_new_families(task):
    for name in BUDGET_NAMES:
        b = get_budget(task, name)
        assert b.spec.task == task and b.spec.image_size and b.spec.num_classes == 10
        assert b.smoke == (name == "tiny")
    assert get_budget("diffusion", "small").spec.timesteps == 1000


README_EXAMPLES = [("image", "image"), ("diffusion", "diffusion"), ("optimizer", "image")]


@pytest.mark.parametrize("kind,task", README_EXAMPLES)
def test_readme_examples_of_the_new_contracts_are_valid(kind, task, tmp_path):
    from conftest import TRAINER_ROOT

    text = (TRAINER_ROOT / "README.md").read_text()
    match = re.search(rf"Minimal {kind} example.*?```python\n(.*?)```", text, re.S)
    impl = write_impl(tmp_path, f"{kind}.py", match.group(1))
    for budget in ("tiny", "small"):
        result = check_impl(impl, get_budget(task, budget).spec)
        assert result["ok"], result
        assert result["contract"] == ("optimizer" if kind == "optimizer" else "model")
    assert not claims_mod.read_declarations(impl).problems


def test_worker_trains_a_sequence_model_with_a_candidate_optimizer():
    """The optimizer contract on a sequence task: the worker builds the reference model,
    then swaps the trainer's AdamW for the file's optimizer."""
    from dataclasses import asdict

    from paperfoundry_trainer import baseline as ref
    from paperfoundry_trainer.worker import Session

    b = get_budget("mqar", "tiny")
    decl = claims_mod.read_declarations(LION)
    c_ref = ref.size_to("mqar", b.spec, b.spec.param_budget, decl.baseline.get("short_conv", 0))
    train = TrainConfig(steps=6, batch_size=8, lr=1e-3, log_every=3)
    header = {"spec": b.spec.to_dict(), "task_args": b.task_args, "seed": 1, "device": "cpu",
              "train": asdict(train), "state_lengths": [],
              "model": {"source": "impl", "path": str(LION), "kwargs": {}, "contract": "optimizer",
                        "config": c_ref.to_dict()}}  # fmt: skip
    s = Session()
    built, _ = s.build(header, {})
    assert built["params"] == ref.count_params(c_ref)
    assert type(s.trainer.opt).__name__ == "Lion" and s.trainer.opt.param_groups[0]["lr"] == 1e-3
    reply, _ = s.train({"until": 6}, {})
    assert reply["step"] == 6 and not reply["diverged"] and len(reply["points"]) == 2
    mem, _ = s.memory({}, {})
    assert mem["optimizer_state"] == built["params"]  # one momentum buffer per parameter


NEW_LIBRARY = [(VITC, "image"), (DIT, "diffusion"), (LION, "image"), (LION, "lm")]


@pytest.mark.parametrize("impl,task", NEW_LIBRARY, ids=["vitc", "dit", "lion-image", "lion-lm"])
def test_new_reference_impls_validate_for_their_tasks(impl, task):
    result = check_impl(impl, get_budget(task, "tiny").spec)
    assert result["ok"], result
    catalog = json.loads((LIBRARY / "catalog.json").read_text())
    entry = next(e for e in catalog if e["file"] == impl.name)
    assert task in entry["tasks"] and entry["task"] in entry["tasks"]


@pytest.mark.parametrize("impl,task", NEW_LIBRARY[:2], ids=["vitc", "dit"])
def test_new_reference_models_hit_every_budget(impl, task):
    module = load_impl(impl)
    for budget in BUDGET_NAMES:
        spec = get_budget(task, budget).spec
        with torch.device("meta"):
            n = sum(p.numel() for p in module.build_model(spec).parameters())
        assert abs(n / spec.param_budget - 1) <= 0.05, (budget, n)


def test_claims_against_a_reference():
    claims = [
        claims_mod._clean_claim(c, i)
        for i, c in enumerate([
            {"id": "vit", "task": "image", "metric": "accuracy", "comparison": "better",
             "against": "vit"},
            {"id": "resnet", "task": "image", "metric": "accuracy", "comparison": "equivalent",
             "against": "ResNet"},
        ])
    ]  # fmt: skip
    main = {"outcome": "better", "effect": 0.05, "ci95": [0.03, 0.07]}
    other = {"outcome": "equivalent", "effect": 0.0, "ci95": [-0.01, 0.01]}
    args = {"task": "image", "setting": {}, "comparison": main, "efficiency": {},
            "invalid_reason": None, "smoke": False, "primary": "vit"}  # fmt: skip
    out = claims_mod.evaluate(claims, **args)  # the primary is the ViT; no ResNet trained
    assert [c["outcome"] for c in out] == ["supported", "untestable"]
    assert "no resnet reference" in out[1]["reason"]
    out = claims_mod.evaluate(claims, **args, others={"resnet": other})
    assert [c["outcome"] for c in out] == ["supported", "supported"]
    assert out[1]["against"] == "resnet"
    invalid = {**other, "outcome": "invalid", "reason": "the resnet did not learn"}
    out = claims_mod.evaluate(claims, **args, others={"resnet": invalid})
    assert out[1]["outcome"] == "invalid" and out[1]["reason"] == "the resnet did not learn"
