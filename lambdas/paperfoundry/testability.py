"""Can the harness test this paper? A cheap estimate from the title and abstract, no LLM.

The harness (containers/trainer) trains small causal sequence models from scratch on two
task families: `mqar` (multi-query associative recall: sequence mixers, attention variants,
recurrence, state-space layers, long-context architectures) and `lm` (byte-level language
modelling: LM architecture, normalisation, positional encoding, mixture of experts,
optimisers in LM training, tokenizer-free modelling). Everything else (code generation
models, agents, benchmarks and datasets, surveys, vision, speech, robotics, retrieval,
inference tricks for pretrained LLMs, fine-tuning and alignment) it cannot test.

`estimate` is keyword/phrase rules, readable top to bottom, and says which phrases decided:

1. A phrase of an out-of-scope kind in the title (e.g. "code generation", "benchmark",
   "vision", "KV cache") decides: not testable. Titles name what a paper is about.
2. Otherwise each family scores its cue phrases: 3 per cue in the title, 1 per cue in the
   abstract. The better family wins when it reaches 3 (a title cue, or three abstract
   cues) and beats the out-of-scope cues of the abstract (1 each); ties go to `mqar`,
   the family with the sharper test.
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

Family = Literal["mqar", "lm"]


def _cues(table: dict[str, str]) -> list[tuple[str, re.Pattern[str]]]:
    return [(label, re.compile(pattern, re.IGNORECASE)) for label, pattern in table.items()]


MQAR_CUES = _cues({
    "linear attention": r"linear(?:[- ]time)? attention|lineari[sz]ed attention|kernel(?:ized)? attention|attention-free",
    "state-space model": r"state[- ]spaces? (?:model|layer|dualit|duality)|\bssms?\b|\bs[456]\b|selective scan|\bmamba",
    "recurrence": r"\brnns?\b|recurren(?:t|ce)|\blstms?\b|\bxlstm\b|\bgru\b|\brwkv",
    "delta rule": r"delta (?:rule|net)|deltanet|gated delta",
    "associative recall": r"associative (?:recall|memory|memories)|in-context recall|\bmqar\b|recall-intensive|\brecall\b",
    "sequence mixer": r"sequence (?:mixer|mixing)|token[- ]mix(?:er|ing)|sequence model(?:l?ing)?\b|long convolution|\bhyena\b",
    "attention variant": r"(?:sparse|sliding[- ]window|softmax|gated|differential|grouped[- ]query|multi-?query|latent|linear|selective) attention|attention (?:mechanism|variant|pattern|sink)s?",
    "subquadratic cost": r"sub-?quadratic|linear[- ]time|linear (?:complexity|scaling)|constant[- ](?:memory|state)|fixed-size (?:state|memory)",
    "memory layer": r"test[- ]time (?:training|regression|memori[sz]ation)|fast[- ]weights?|memory (?:layer|module|mixture)|mixture[- ]of[- ]memories",
    "long-context architecture": r"long[- ](?:context|sequence|range) (?:model(?:l?ing)?|architecture|transformer)s?|length (?:generali[sz]ation|extrapolation)",
})  # fmt: skip
LM_CUES = _cues({
    "normalisation": r"\blayer ?norm|\brms ?norm|layer normali[sz]ation|normali[sz]ation (?:layer|free|-free)|without normali[sz]ation|\bpre-?(?:ln|norm)\b|\bpost-?(?:ln|norm)\b|hybridnorm",
    "optimiser": r"\boptimi[sz]ers?\b(?! of)|\badam(?:w|-mini)?\b|\bmuon\b|\bsgd\b|\bshampoo\b|learning[- ]rate (?:schedule|warm-?up)|weight decay",
    "tokenizer-free modelling": r"tokeni[sz]er-free|byte-level|character-level|\bbyte (?:language )?models?|raw bytes",
    "positional encoding": r"positional (?:encoding|embedding)s?|position (?:encoding|embedding)s?|\brotary\b|\bro?pe\b|\balibi\b",
    "mixture of experts": r"mixture[- ]of[- ]experts|\bmoe\b|expert (?:routing|load balanc\w*)|load[- ]balanc\w*",
    "transformer block": r"feed-?forward (?:network|layer|block)s?|\bffns?\b|\bmlp (?:block|layer)s?|residual (?:stream|connection)s?|activation functions?|parameter (?:sharing|efficien\w+)|weight tying|initiali[sz]ation|transformer (?:architecture|block|layer|scaling)s?|decoder-only|encoder-decoder",
    "LM pretraining": r"(?:language model|llm)s? (?:pre-?)?training|pre-?train\w* (?:from scratch|language models?)|next[- ]token prediction|perplexity|scaling laws?|training (?:stability|dynamics|efficiency)|small language models?|\bslms?\b",
})  # fmt: skip
# What a paper is about, or works on: in the title, any of these decides (not testable).
OUT_OF_SCOPE = _cues({
    "code generation": r"code generation|program synthesis|\bcode (?:llms?|models?|completion|editing|repair)|generat\w* code|\bcoding\b|software engineering|\bprogramming\b|\bbugs?\b|\bfuzz\w*",
    "agents": r"\bagent(?:s|ic)?\b|tool[- ](?:use|integrated|augmented)|function[- ]calling|web (?:navigation|browsing)|\bgui\b",
    "benchmark or dataset": r"\bbenchmark(?:s|ing)?\b|\bdatasets?\b|leaderboard|\bcorpus\b|evaluat\w*|(?<!retri)eval\b",
    "survey": r"\bsurvey\b|\boverview\b|\btutorial\b|position paper",
    "vision": r"\bimages?\b|\bvision\b|\bvisual\b|\bvideos?\b|\b[23]d\b|point clouds?|gaussian splatting|segmentation|detection|\byolo\b|open-vocabulary|text-to-image|\bdiffusion\b|\bpixels?\b|\bcameras?\b|\bvits?\b|convolution(?:al)? (?:neural )?network|\bcnns?\b|imagenet|recognition|\brendering\b|\bmotion\b",
    "robotics": r"\brobot\w*|embodied|manipulation|locomotion|autonomous driving|vision-language-action",
    "speech or audio": r"\bspeech\b|\baudio\b|\bmusic\b|\basr\b|\btts\b|text-to-speech",
    "multimodal": r"multi-?modal|vision-language|\bvlms?\b|\bmllms?\b|\blmms?\b|\bllava\b",
    "another domain": r"molecul\w*|protein|genom\w*|medical|clinical|biomedical|chemi\w*|weather|financ\w*|\bstock\b|recommend\w*|graph neural|\bgnns?\b|time[- ]series|physics|\blegal\b|batter(?:y|ies)|\bmath\w*",
    "languages": r"multilingual|low-resource|\barabic\b|\bafrican\b|\bindic\b|language injection|diacriti\w*|\btranslation\b",
    "retrieval": r"retrieval[- ]augmented|\brag\b|retriever|search engine|embedding models?",
    "fine-tuning or alignment": r"fine-?tun\w*|instruction[- ]tun\w*|\blora\b|\brlhf\b|preference (?:optimi[sz]ation|data|learning)|\bdpo\b|\balignment\b|reinforcement learning|\b(?:inverse )?rl\b|reward model\w*|\bprompt\w*|chain-of-thought|\bcot\b|\breason(?:ing|ers?)\b|\bhallucinat\w*",
    "interpretability": r"interpretab\w*|\bneurons?\b|probing|mechanistic|\bcircuits?\b|residual stream|(?:temporal|retrieval|induction|attention) heads\b",
    "architecture search": r"architecture search|\bnas\b|automl",
    "training data": r"data (?:mix\w*|selection|filtering|curation|quality|scaling)|\bcrawl\w*|data-centric|data pruning",
    "safety or security": r"jailbreak\w*|\bsafety\b|adversarial|watermark\w*|privacy|\battacks?\b|\bstealing\b|unlearning",
    "compression or inference speed-up": r"kv[- ]cache|speculative decoding|pre-?fill(?:ing)?\b|\bdecoding\b|\binference\b|test-time (?:compute|scaling)|\bserving\b|quantiz\w*|\bprun\w*|compression|training-free|distill\w*|\bkd\b|\bediting\b",
    "pretrained-LLM conversion": r"lineari[sz]ing|upcycl\w*|pre-?trained (?:llms?|large language models?|transformers?|models?)",
    "systems": r"parallel(?:ism)? training|parallelism|communication|distributed|\bclusters?\b|hardware|\bkernels?\b|\bfp[48]\b|low-precision|mixed[- ]precision",
    "theory": r"\bprovabl[ey]\b|\btheor(?:y|etical|em)\b|can be approximated",
})  # fmt: skip
# In an abstract an out-of-scope cue counts 1/2 against the families ("on standard
# benchmarks" is in most abstracts), a domain cue 1.5 ("Emu3: Next-Token Prediction is All
# You Need" is about images and video).
DOMAINS = {"vision", "robotics", "speech or audio", "multimodal", "another domain", "languages"}

LIBRARY_REASON = "a reference implementation is in the library"


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
    mqar, mqar_why = _score(MQAR_CUES, title, abstract)
    lm, lm_why = _score(LM_CUES, title, abstract)
    abstract_out = _hits(OUT_OF_SCOPE, abstract)
    domains = [label for label in abstract_out if label in DOMAINS]
    against = 1.5 * len(domains) + 0.5 * (len(abstract_out) - len(domains))
    family: Family = "mqar" if mqar >= lm else "lm"
    best, why = (mqar, mqar_why) if family == "mqar" else (lm, lm_why)
    if best >= 3 and best > against:
        return Testability(family, why)
    if abstract_out:
        return Testability(None, f"about {', '.join(abstract_out[:3])}")
    return Testability(None, "no sequence-mixer, LM-architecture or optimiser cue")


def estimate_paper(paper: Paper) -> Testability:
    return estimate(paper.title, paper.abstract)
