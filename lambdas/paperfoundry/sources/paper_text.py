"""The full text an implementer reads: the paper as markdown from Hugging Face
(`https://huggingface.co/papers/{id}.md`), else the title and abstract we already have.

Before the implementer sees it, the text is screened (`screen_paper_text`): the markdown
body for direct commands to the model, and title, abstract and author names with the
reviewer's full steering patterns. A flagged paper raises `PaperTextFlagged` and is not
implemented: its text would go into a prompt that writes code we then run."""

from __future__ import annotations

import logging

import httpx

from ..llm.untrusted import body_steering_signs, steering_signs
from ..models import Paper
from .http import SourceError, get_with_retry, make_client

log = logging.getLogger(__name__)

MARKDOWN_URL = "https://huggingface.co/papers/{arxiv_id}.md"


class PaperTextFlagged(ValueError):
    """The paper's text addresses the model: implementation stops here."""


def screen_paper_text(paper: Paper, text: str, origin: str) -> None:
    """Raise PaperTextFlagged when the text the implementer would read, or the paper's
    title, abstract or author names, look like instructions to the model."""
    signs = [
        *(f"markdown body: {sign}" for sign in body_steering_signs(text)),
        *(f"metadata: {sign}" for sign in steering_signs(paper.title, paper.abstract)),
        *(f"author names: {sign}" for sign in steering_signs(*paper.authors)),
    ]
    if signs:
        raise PaperTextFlagged(
            f"not implemented: the paper text ({origin}) addresses the model: "
            + "; ".join(signs)[:400]
        )


def fetch_paper_text(
    paper: Paper,
    *,
    url_template: str = MARKDOWN_URL,
    client: httpx.Client | None = None,
    timeout: float = 20.0,
) -> tuple[str, str]:
    """(text, where it came from). A missing page falls back to the abstract; the text is
    screened either way, and a flagged one raises PaperTextFlagged (no fallback: the
    paper itself is suspect)."""
    url = url_template.format(arxiv_id=paper.arxiv_id)
    own = client is None
    client = client or make_client(timeout)
    text, origin = f"# {paper.title}\n\n## Abstract\n\n{paper.abstract}", "abstract only"
    try:
        response = get_with_retry(client, url, source="huggingface", attempts=2)
        markdown = response.text.strip()
        if len(markdown) > len(paper.abstract):
            text, origin = markdown, url
        else:
            log.warning("%s: markdown shorter than the abstract; using the abstract", url)
    except SourceError as exc:
        log.warning("paper text for %s not fetched (%s); using the abstract", paper.arxiv_id, exc)
    finally:
        if own:
            client.close()
    screen_paper_text(paper, text, origin)
    return text, origin
