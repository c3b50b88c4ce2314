"""Can the harness test this paper? A cheap estimate from the title and abstract, no LLM.

The harness (containers/trainer) trains small models from scratch on these task families:
`mqar` (multi-query associative recall: sequence mixers, attention variants, recurrence,
state-space layers, long-context architectures), `lm` (byte-level language modelling: LM
architecture, normalisation, positional encoding, mixture of experts, tokenizer-free
modelling), `image` (small-image classification: vision backbones, ViT and CNN blocks),
`diffusion` (a small DiT-style denoiser: diffusion architectures and noise schedules) and
`optimizer` (an optimiser against AdamW on the baseline models). Everything else (code
generation models, agents, benchmarks and datasets, surveys, detection, video and 3D,
text-to-image systems, speech, robotics, retrieval, inference tricks for pretrained LLMs,
fine-tuning and alignment) it cannot test.

`estimate` is keyword/phrase rules, readable top to bottom, and says which phrases decided:

1. An out-of-scope phrase in the title (e.g. "code generation", "agents", "benchmark",
   "vision", "KV cache", "survey") decides: not testable. Titles name what a paper is about.
2. Otherwise each family scores its cue phrases: 3 per cue in the title, 1 per further cue
   in the abstract. The best family (ties: in the order of `FAMILIES`, the sharper test
   first) wins when it reaches 3 (a title cue, or three abstract cues) and outweighs the
   abstract's out-of-scope cues: 1/2 each ("on standard benchmarks" is in most abstracts),
   3/2 for a domain (video and 3D, audio, robotics, multimodal, other sciences, languages;
   not for the image families, whose papers are about images).
3. Otherwise not testable, with the out-of-scope cues found, or "no cue" as the reason.

It is an estimate: selection uses it to keep untestable papers from taking a pick slot,
and the LLM reviewers' implementability judgement overrides it when there is one
(`review/combined.py` sets `Score.implementable`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .models import Paper

Family = Literal["mqar", "lm", "image", "diffusion", "optimizer"]


def _cues(table: dict[str, tuple[str, ...]]) -> list[tuple[str, re.Pattern[str]]]:
    """(label, one pattern of the label's phrases), matched case-insensitively."""
    return [(label, re.compile("|".join(phrases), re.I)) for label, phrases in table.items()]


MQAR_CUES = _cues({
    "linear attention": (
        r"linear(?:[- ]time)? attention", r"lineari[sz]ed attention", r"kernel(?:ized)? attention",
        r"attention-free",
    ),
    "state-space model": (
        r"state[- ]spaces? (?:model|layer|dualit|duality)", r"\bssms?\b", r"\bs[456]\b",
        r"selective scan", r"\bmamba",
    ),
    "recurrence": (
        r"\brnns?\b", r"recurren(?:t|ce)", r"\blstms?\b", r"\bxlstm\b", r"\bgru\b", r"\brwkv",
    ),
    "delta rule": (r"delta (?:rule|net)", r"deltanet", r"gated delta"),
    "associative recall": (
        r"associative (?:recall|memory|memories)", r"in-context recall", r"\bmqar\b",
        r"recall-intensive", r"\brecall\b",
    ),
    "sequence mixer": (
        r"sequence (?:mixer|mixing)", r"token[- ]mix(?:er|ing)", r"sequence model(?:l?ing)?\b",
        r"long convolution", r"\bhyena\b",
    ),
    "attention variant": (
        r"(?:sparse|sliding[- ]window|softmax|gated|differential|grouped[- ]query|multi-?query"
        r"|latent|linear|selective) attention",
        r"attention (?:mechanism|variant|pattern|sink)s?",
    ),
    "subquadratic cost": (
        r"sub-?quadratic", r"linear[- ]time", r"linear (?:complexity|scaling)",
        r"constant[- ](?:memory|state)", r"fixed-size (?:state|memory)",
    ),
    "memory layer": (
        r"test[- ]time (?:training|regression|memori[sz]ation)", r"fast[- ]weights?",
        r"memory (?:layer|module|mixture)", r"mixture[- ]of[- ]memories",
    ),
    "long-context architecture": (
        r"long[- ](?:context|sequence|range) (?:model(?:l?ing)?|architecture|transformer)s?",
        r"length (?:generali[sz]ation|extrapolation)",
    ),
})  # fmt: skip
LM_CUES = _cues({
    "normalisation": (
        r"\blayer ?norm", r"\brms ?norm", r"layer normali[sz]ation",
        r"normali[sz]ation (?:layer|free|-free)", r"without normali[sz]ation",
        r"\bpre-?(?:ln|norm)\b", r"\bpost-?(?:ln|norm)\b", r"hybridnorm",
    ),
    "tokenizer-free modelling": (
        r"tokeni[sz]er-free", r"byte-level", r"character-level", r"\bbyte (?:language )?models?",
        r"raw bytes",
    ),
    "positional encoding": (
        r"positional (?:encoding|embedding)s?", r"position (?:encoding|embedding)s?", r"\brotary\b",
        r"\bro?pe\b", r"\balibi\b",
    ),
    "mixture of experts": (
        r"mixture[- ]of[- ]experts", r"\bmoe\b", r"expert (?:routing|load balanc\w*)",
        r"load[- ]balanc\w*",
    ),
    "transformer block": (
        r"feed-?forward (?:network|layer|block)s?", r"\bffns?\b", r"\bmlp (?:block|layer)s?",
        r"residual (?:stream|connection)s?", r"activation functions?",
        r"parameter (?:sharing|efficien\w+)", r"weight tying", r"initiali[sz]ation",
        r"transformer (?:architecture|block|layer|scaling)s?", r"decoder-only", r"encoder-decoder",
    ),
    "LM pretraining": (
        r"(?:language model|llm)s? (?:pre-?)?training",
        r"pre-?train\w* (?:from scratch|language models?)", r"next[- ]token prediction",
        r"perplexity", r"scaling laws?", r"training (?:stability|dynamics|efficiency)",
        r"small language models?", r"\bslms?\b",
    ),
})  # fmt: skip
IMAGE_CUES = _cues({
    "vision backbone": (
        r"vision (?:transformer|backbone|mlp)s?", r"visual backbones?", r"\bvits?\b",
        r"\bresnets?\b", r"\bconvnext\b", r"\bmlp-mixer\b", r"backbones?",
    ),
    "image classification": (
        r"image classification", r"imagenet", r"cifar", r"\bmnist\b", r"image recognition",
    ),
    "convolution or patch block": (
        r"convolution(?:al)? (?:neural )?networks?", r"\bcnns?\b", r"patch (?:embedding|merging)s?",
        r"depthwise", r"inductive bias",
    ),
})  # fmt: skip
DIFFUSION_CUES = _cues({
    "diffusion architecture": (
        r"diffusion transformers?", r"\bdits?\b", r"\bu-?nets?\b",
        r"denois(?:ing|er) (?:network|model|backbone)s?",
    ),
    "diffusion training": (
        r"noise schedules?", r"\bddpm\b", r"score-based", r"diffusion models?",
        r"denoising (?:diffusion|score matching|objective|loss)", r"flow matching",
        r"noise prediction", r"v-prediction",
    ),
})  # fmt: skip
OPTIMIZER_CUES = _cues({
    "optimiser": (
        r"\boptimi[sz]ers?\b(?! of)", r"\badam(?:w|-mini)?\b", r"\bmuon\b", r"\bsgd\b",
        r"\bshampoo\b", r"\blion\b", r"\bsophia\b", r"\badafactor\b",
    ),
    "update rule": (
        r"learning[- ]rate (?:schedule|warm-?up)s?", r"weight decay", r"second-order",
        r"preconditioner", r"momentum", r"gradient (?:descent|clipping|orthogonali[sz]ation)",
        r"update rule",
    ),
})  # fmt: skip
FAMILIES: dict[Family, list[tuple[str, re.Pattern[str]]]] = {
    "mqar": MQAR_CUES, "lm": LM_CUES, "optimizer": OPTIMIZER_CUES,
    "image": IMAGE_CUES, "diffusion": DIFFUSION_CUES,
}  # fmt: skip
IMAGE_FAMILIES = {"image", "diffusion"}
# What a paper is about or works on: in the title, any of these decides (not testable).
OUT_OF_SCOPE = _cues({
    "code generation": (
        r"code generation", r"program synthesis",
        r"\bcode (?:llms?|models?|completion|editing|repair)", r"generat\w* code", r"\bcoding\b",
        r"software engineering", r"\bprogramming\b", r"\bbugs?\b", r"\bfuzz\w*",
    ),
    "agents": (
        r"\bagent(?:s|ic)?\b", r"tool[- ](?:use|integrated|augmented)", r"function[- ]calling",
        r"web (?:navigation|browsing)", r"\bgui\b",
    ),
    "benchmark or dataset": (
        r"\bbenchmark(?:s|ing)?\b", r"\bdatasets?\b", r"leaderboard", r"\bcorpus\b", r"evaluat\w*",
        r"(?<!retri)eval\b", r"haystack",
    ),
    "survey": (r"\bsurvey\b", r"\boverview\b", r"\btutorial\b", r"position paper"),
    # images themselves are testable (image, diffusion); these uses of them are not
    "video, 3D or dense vision": (
        r"\bvideos?\b", r"\b[23]d\b", r"point clouds?", r"gaussian splatting", r"segmentation",
        r"detection", r"\byolo\b", r"open-vocabulary", r"\bcameras?\b", r"\brendering\b",
        r"\bmotion\b", r"\bdepth estimation\b", r"\bocr\b", r"\bdocuments?\b",
    ),
    "image generation system": (
        r"text-to-(?:image|video)", r"image (?:editing|generation|synthesis)", r"\bediting\b",
        r"\bstable diffusion\b", r"\bpersonali[sz]\w*", r"\bcustomi[sz]\w*",
    ),
    "robotics": (
        r"\brobot\w*", r"embodied", r"manipulation", r"locomotion", r"autonomous driving",
        r"vision-language-action",
    ),
    "speech or audio": (
        r"\bspeech\b", r"\baudio\b", r"\bmusic\b", r"\basr\b", r"\btts\b", r"text-to-speech",
    ),
    "multimodal": (
        r"multi-?modal", r"vision-language", r"\bvlms?\b", r"\bmllms?\b", r"\blmms?\b",
        r"\bllava\b",
    ),
    "another domain": (
        r"molecul\w*", r"protein", r"genom\w*", r"medical", r"clinical", r"biomedical", r"chemi\w*",
        r"weather", r"financ\w*", r"\bstock\b", r"recommend\w*", r"graph neural", r"\bgnns?\b",
        r"time[- ]series", r"physics", r"\blegal\b", r"batter(?:y|ies)", r"\bmath\w*",
    ),
    "languages": (
        r"multilingual", r"low-resource", r"\barabic\b", r"\bafrican\b", r"\bindic\b",
        r"language injection", r"diacriti\w*", r"\btranslation\b",
    ),
    "retrieval": (
        r"retrieval[- ]augmented", r"\brag\b", r"retriever", r"search engine", r"embedding models?",
    ),
    "fine-tuning or alignment": (
        r"fine-?tun\w*", r"instruction[- ]tun\w*", r"\blora\b", r"\brlhf\b",
        r"preference (?:optimi[sz]ation|data|learning)", r"\bdpo\b", r"\balignment\b",
        r"reinforcement learning", r"\b(?:inverse )?rl\b", r"reward model\w*", r"\bprompt\w*",
        r"chain-of-thought", r"\bcot\b", r"\breason(?:ing|ers?)\b", r"\bhallucinat\w*",
    ),
    "interpretability": (
        r"interpretab\w*", r"\bneurons?\b", r"probing", r"mechanistic", r"\bcircuits?\b",
        r"residual stream", r"(?:temporal|retrieval|induction|attention) heads\b",
    ),
    "architecture search": (r"architecture search", r"\bnas\b", r"automl"),
    "training data": (
        r"data (?:mix\w*|selection|filtering|curation|quality|scaling)", r"\bcrawl\w*",
        r"data-centric", r"data pruning",
    ),
    "safety or security": (
        r"jailbreak\w*", r"\bsafety\b", r"adversarial", r"watermark\w*", r"privacy",
        r"\battacks?\b", r"\bstealing\b", r"unlearning",
    ),
    "compression or inference speed-up": (
        r"kv[- ]cache", r"speculative decoding", r"pre-?fill(?:ing)?\b", r"\bdecoding\b",
        r"\binference\b", r"test-time (?:compute|scaling)", r"\bserving\b", r"quantiz\w*",
        r"\bprun\w*", r"compression", r"training-free", r"distill\w*", r"\bkd\b", r"\bediting\b",
    ),
    "pretrained-LLM conversion": (
        r"lineari[sz]ing", r"upcycl\w*",
        r"pre-?trained (?:llms?|large language models?|transformers?|models?)",
    ),
    "systems": (
        r"parallel(?:ism)? training", r"parallelism", r"communication", r"distributed",
        r"\bclusters?\b", r"hardware", r"\bkernels?\b", r"\bfp[48]\b", r"low-precision",
        r"mixed[- ]precision",
    ),
    "theory": (r"\bprovabl[ey]\b", r"\btheor(?:y|etical|em)\b", r"can be approximated"),
})  # fmt: skip
# In an abstract these weigh 3/2 ("Emu3: Next-Token Prediction is All You Need" is about
# images and video), the other out-of-scope cues 1/2.
DOMAINS = {
    "video, 3D or dense vision",
    "robotics",
    "speech or audio",
    "multimodal",
    "another domain",
    "languages",
}


@dataclass(frozen=True)
class Testability:
    family: Family | None  # the harness task that can test the paper, or None
    reason: str  # the phrases that decided, for notes and reports

    @property
    def testable(self) -> bool:
        return self.family is not None


def _hits(cues: list[tuple[str, re.Pattern[str]]], text: str) -> list[str]:
    return [label for label, pattern in cues if pattern.search(text)]


def _score(cues: list[tuple[str, re.Pattern[str]]], title: str, abstract: str) -> tuple[int, str]:
    in_title, in_abstract = _hits(cues, title), _hits(cues, abstract)
    extra = [label for label in in_abstract if label not in in_title]
    shown = [f"{label} (title)" for label in in_title] + extra
    return 3 * len(in_title) + len(extra), ", ".join(shown)


def estimate(title: str, abstract: str = "") -> Testability:
    """Which harness task family could test a paper with this title and abstract."""
    title_out = _hits(OUT_OF_SCOPE, title)
    if title_out:
        return Testability(None, f"about {' and '.join(title_out[:2])}")
    scores = {family: _score(cues, title, abstract) for family, cues in FAMILIES.items()}
    family = max(scores, key=lambda f: scores[f][0])  # the first of equals: FAMILIES order
    best, why = scores[family]
    abstract_out = _hits(OUT_OF_SCOPE, abstract)
    domains = [label for label in abstract_out if label in DOMAINS]
    against = 1.5 * len(domains) + 0.5 * (len(abstract_out) - len(domains))
    if best >= 3 and best > against:
        return Testability(family, why)
    if abstract_out:
        return Testability(None, f"about {', '.join(abstract_out[:3])}")
    return Testability(None, "no cue of a task family the harness has")


def estimate_paper(paper: Paper) -> Testability:
    return estimate(paper.title, paper.abstract)
