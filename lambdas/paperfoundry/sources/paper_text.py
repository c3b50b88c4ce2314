"""The full text an implementer reads: the paper as markdown from Hugging Face
(`https://huggingface.co/papers/{id}.md`), else the title and abstract we already have."""

from __future__ import annotations

import logging

import httpx

from ..models import Paper
from .http import SourceError, get_with_retry, make_client

log = logging.getLogger(__name__)

MARKDOWN_URL = "https://huggingface.co/papers/{arxiv_id}.md"


def fetch_paper_text(
    paper: Paper,
    *,
    url_template: str = MARKDOWN_URL,
    client: httpx.Client | None = None,
    timeout: float = 20.0,
) -> tuple[str, str]:
    """(text, where it came from). Never raises: a missing page falls back to the abstract."""
    url = url_template.format(arxiv_id=paper.arxiv_id)
    own = client is None
    client = client or make_client(timeout)
    try:
        response = get_with_retry(client, url, source="huggingface", attempts=2)
        text = response.text.strip()
        if len(text) > len(paper.abstract):
            return text, url
        log.warning("%s: markdown shorter than the abstract; using the abstract", url)
    except SourceError as exc:
        log.warning("paper text for %s not fetched (%s); using the abstract", paper.arxiv_id, exc)
    finally:
        if own:
            client.close()
    return f"# {paper.title}\n\n## Abstract\n\n{paper.abstract}", "abstract only"
