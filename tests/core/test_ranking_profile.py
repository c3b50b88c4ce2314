"""The profile-based ranking: real recorded days, arXiv-only days, calibration, the context
as JSON, and where the profile comes from."""

import json
import math
from datetime import date
from pathlib import Path

import pytest
from paperfoundry.config import Config, Interests, ProfilePaper, load_config
from paperfoundry.models import Paper, SourceSignals
from paperfoundry.ranking import DayContext, build_context, score_paper
from paperfoundry.ranking.background import (
    build_background,
    from_json,
    load_background,
    to_json,
    vectorize_with,
)
from paperfoundry.ranking.profile import (
    ProfileError,
    build_profile,
    profile_texts,
    read_profile_file,
)
from paperfoundry.ranking.relevance import cosine, text_of
from paperfoundry.ranking.score import relevance_value
from paperfoundry.selection import select_picks
from paperfoundry.sources.huggingface import parse_daily_papers

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ranking"

TAIPAN = "2410.18572"  # state space language models with selective attention
VALUE_RESIDUAL = "2410.17897"  # value residual learning in transformers
OFF_TOPIC = {
    "2410.17243": "contrastive loss batch size scaling (39 upvotes)",
    "2410.16251": "knowledge editing and hallucinations (26 upvotes)",
    "2410.18978": "video frame interpolation (17 upvotes)",
    "2410.18975": "generative life-simulation game (13 upvotes)",
    "2410.18976": "an Arabic multimodal benchmark",
}
TOKENFORMER = "2410.23168"
CORAL = "2410.23090"  # conversational RAG benchmark, the day's most upvoted paper


def recorded_day(name: str) -> tuple[date, list[Paper]]:
    record = json.loads((FIXTURES / f"hf_daily_{name}.json").read_text())
    day = date.fromisoformat(record["date"])
    return day, parse_daily_papers(record["items"], day)


def ranked(papers: list[Paper], ctx: DayContext) -> list[tuple[str, float, float]]:
    """(arXiv id, total, relevance value), best first."""
    out = []
    for p in papers:
        score = score_paper(p, ctx)
        rel = next(c.value for c in score.components if c.name == "relevance")
        out.append((p.arxiv_id, score.total, rel))
    return sorted(out, key=lambda r: -r[1])


def arxiv_only(papers: list[Paper]) -> list[Paper]:
    """The same papers as an arXiv listing brings them: no upvotes, comments, stars, code."""
    signals = {"arxiv": SourceSignals(source="arxiv", categories=["cs.LG"], announce_type="new")}
    return [p.model_copy(update={"signals": signals, "categories": ["cs.LG"]}) for p in papers]


def test_real_day_ranks_on_topic_papers_above_popular_off_topic_ones():
    day, papers = recorded_day("2024-10-25")
    config = load_config()
    rows = ranked(papers, build_context(day, papers, config))
    order = [pid for pid, _, _ in rows]
    assert set(order[:3]) >= {TAIPAN, VALUE_RESIDUAL}  # the old scorer put VRL 13th
    relevance = {pid: rel for pid, _, rel in rows}
    for pid in OFF_TOPIC:  # far below the fit threshold (relevance 0.5 there by default)
        assert relevance[pid] < 0.1, OFF_TOPIC[pid]
        assert order.index(pid) > order.index(VALUE_RESIDUAL), OFF_TOPIC[pid]
    assert relevance[TAIPAN] > relevance[VALUE_RESIDUAL] > 0.2


def test_a_saved_paper_left_out_of_the_profile_still_tops_its_real_day():
    day, papers = recorded_day("2024-10-31")
    config = load_config()
    saved = read_profile_file("architectures")
    config.interests.profile = ""
    config.interests.papers = [
        ProfilePaper(title=t, abstract=a) for t, a in saved if not t.startswith("TokenFormer")
    ]
    assert len(config.interests.papers) == len(saved) - 1
    for day_papers in (papers, arxiv_only(papers)):
        rows = ranked(day_papers, build_context(day, day_papers, config))
        order = [pid for pid, _, _ in rows]
        assert order.index(TOKENFORMER) <= 1
        assert order.index(TOKENFORMER) < order.index(CORAL)  # CORAL: 43 upvotes, off topic


def test_arxiv_only_day_picks_the_papers_that_fit_and_only_them():
    day, papers = recorded_day("2024-10-25")
    papers = arxiv_only(papers)
    config = load_config()
    ctx = build_context(day, papers, config)
    scores = [score_paper(p, ctx) for p in papers]
    min_score = config.selection.min_score
    by_id = {s.arxiv_id: s for s in scores}
    assert by_id[TAIPAN].total >= min_score
    for s in scores:
        relevance = next(c for c in s.components if c.name == "relevance")
        fits = relevance.value >= ctx.fit.at_threshold
        assert (s.total >= min_score) == fits, (s.arxiv_id, s.total, relevance.detail)
    for pid in OFF_TOPIC:
        assert by_id[pid].total < min_score
    picks, _ = select_picks(day, scores, config.selection, set())
    assert picks and picks[0].arxiv_id == TAIPAN
    assert all(by_id[p.arxiv_id].total >= min_score for p in picks)


def test_context_round_trips_through_json_and_stays_small():
    day, papers = recorded_day("2024-10-25")
    config = load_config()
    ctx = build_context(day, papers, config)
    text = ctx.model_dump_json()
    again = DayContext.model_validate_json(text)
    assert again == ctx
    for p in papers:
        assert score_paper(p, again) == score_paper(p, ctx)
    assert len(text) < 200_000  # the profile's own terms, not the background's 27k
    # it does not grow with the day: the same context for the day tenfold, but the ids
    many = [
        p.model_copy(update={"arxiv_id": f"{p.arxiv_id}{i}"}) for p in papers for i in range(10)
    ]
    bigger = build_context(day, many, config)
    assert bigger.profile == ctx.profile and bigger.liked == ctx.liked
    assert len(bigger.model_dump_json()) - len(text) < 20 * len(many)


def test_a_context_is_scored_with_the_background_it_was_built_with():
    day, papers = recorded_day("2024-10-25")
    other = build_background([text_of(p.title, p.abstract) for p in papers], min_df=1)
    ctx = build_context(day, papers, load_config(), background=other)
    assert score_paper(papers[0], ctx, background=other).total >= 0
    with pytest.raises(ValueError, match="another background table"):
        score_paper(papers[0], ctx)


def test_relevance_is_zero_for_a_typical_paper_and_reaches_min_score_at_the_threshold():
    day, papers = recorded_day("2024-10-31")
    config = load_config()
    ctx = build_context(day, papers, config)
    fit = ctx.fit
    assert fit.threshold is not None and fit.threshold > fit.typical
    assert fit.profile_size == 80 + 1  # saved papers + the topics and keywords
    assert relevance_value(fit.typical, ctx) == 0.0
    assert relevance_value(fit.typical - 0.05, ctx) == 0.0
    at = relevance_value(fit.threshold, ctx)
    assert math.isclose(at, config.selection.min_score / config.ranking.weights.relevance)
    # a paper exactly at the threshold with no other signal scores exactly min_score
    assert math.isclose(at * config.ranking.weights.relevance, config.selection.min_score)
    values = [relevance_value(fit.typical + k * 0.01, ctx) for k in range(1, 40)]
    assert values == sorted(values) and len(set(values)) == len(values) and values[-1] < 1.0


def test_at_threshold_follows_the_weights_and_min_score():
    day, papers = recorded_day("2024-10-31")
    config = load_config()
    config.ranking.weights.relevance, config.selection.min_score = 0.5, 0.25
    assert build_context(day, papers, config).fit.at_threshold == 0.5
    config.selection.min_score = 0.0  # no floor: the threshold sits at the middle
    assert build_context(day, papers, config).fit.at_threshold == 0.5
    config.selection.min_score = 2.0  # unreachable on relevance alone: capped
    assert build_context(day, papers, config).fit.at_threshold == 0.95


@pytest.mark.parametrize("contrast", [0.0, 0.5])
def test_leave_one_out_scores_match_the_brute_force(contrast):
    background = load_background()
    texts = tuple(f"{t}. {t}. {a}" for t, a in read_profile_file("architectures")[:12])
    texts += ("Zorblax qwimfy glorp",)  # no term the background knows: an empty vector
    model = build_profile(texts, background, contrast)
    assert model.loo[-1] == 0.0
    vectors = [vectorize_with(t, background) for t in texts]
    for i, vec in enumerate(vectors):
        rest: dict[str, float] = {}
        for j, other in enumerate(vectors):
            if j != i:
                for t, v in other.items():
                    rest[t] = rest.get(t, 0.0) + v / (len(vectors) - 1)
        for t, v in background.mean.items():  # Rocchio: minus the background's mean
            rest[t] = rest.get(t, 0.0) - contrast * v
        norm = math.sqrt(sum(v * v for v in rest.values()))
        expected = cosine(vec, {t: v / norm for t, v in rest.items()})
        assert math.isclose(model.loo[i], expected, rel_tol=1e-9, abs_tol=1e-12)
    assert model.threshold(0.8) < model.threshold(0.2)  # a higher recall, a lower bar


def test_a_tiny_profile_is_not_calibrated_and_keeps_the_fixed_scale():
    day, papers = recorded_day("2024-10-31")
    config = Config()
    config.interests = Interests(topics=["transformer scaling with tokenized parameters"])
    ctx = build_context(day, papers, config)
    assert ctx.fit.threshold is None and ctx.fit.profile_size == 1
    assert relevance_value(0.15, ctx) == pytest.approx(0.15 / ctx.relevance_saturation)
    assert relevance_value(0.9, ctx) == 1.0
    assert ranked(papers, ctx)[0][0] == TOKENFORMER


def test_no_interests_at_all_scores_by_signals_only():
    day, papers = recorded_day("2024-10-31")
    ctx = build_context(day, papers, Config())
    assert ctx.profile == {} and ctx.fit.profile_size == 0
    score = score_paper(papers[0], ctx)
    relevance = next(c for c in score.components if c.name == "relevance")
    assert relevance.value == 0.0 and relevance.detail == "no interests configured"


def test_profile_documents_come_from_the_file_inline_papers_liked_and_topics(tmp_path):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"papers": [{"title": "Mamba", "abstract": "selective SSMs"}]}))
    interests = Interests(
        topics=["state space models"],
        keywords=["mamba"],
        profile=str(own),
        papers=[ProfilePaper(title="RWKV", abstract="linear attention RNN")],
    )
    texts = profile_texts(interests, ["a liked paper"])
    assert texts == [
        "Mamba. Mamba. selective SSMs",
        "RWKV. RWKV. linear attention RNN",
        "a liked paper",
        "state space models . mamba",
    ]
    assert len(read_profile_file("architectures")) == 80
    with pytest.raises(ProfileError, match="nowhere"):
        read_profile_file(str(tmp_path / "nowhere.json"))
    assert load_config().interests.profile == "architectures"  # the bundled config
    assert Config().interests.profile == ""  # the model's default: no interests, like topics


def test_background_table_counts_documents_and_ignores_rare_terms():
    texts = ["sparse attention kernels", "sparse attention heads", "sparse models", "graphs"]
    background = build_background(texts, min_df=2)
    assert background.n_docs == 4
    assert background.df == {"sparse": 3, "attention": 2, "sparse attention": 2}
    assert background.idf("graphs") == 0.0 and background.idf("sparse") > 0
    assert background.idf("attention") > background.idf("sparse")  # rarer, weighs more
    assert vectorize_with("graphs of kernels", background) == {}
    again = from_json(to_json(background, "test"))
    assert (again.n_docs, again.df) == (background.n_docs, background.df)
    assert again.mean == pytest.approx(background.mean, rel=1e-3)
    bundled = load_background()
    assert bundled.n_docs == 3741 and len(bundled.df) > 10_000


def test_a_paper_of_unknown_words_scores_zero_relevance():
    day, papers = recorded_day("2024-10-31")
    odd = papers[0].model_copy(
        update={"arxiv_id": "2410.99999", "title": "Zorblax qwimfy", "abstract": "Glorp."}
    )
    ctx = build_context(day, [*papers, odd], load_config())
    score = score_paper(odd, ctx)
    assert next(c.value for c in score.components if c.name == "relevance") == 0.0
