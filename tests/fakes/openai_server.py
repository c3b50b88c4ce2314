"""A local OpenAI-compatible HTTP server with scripted replies, for tests and benchmarks.

Serves `POST /v1/chat/completions` (and Azure's `/openai/deployments/<name>/chat/
completions`) in the real response format, so the real `openai` client talks to it. Each
request is classified by step (review, compare, plan, code) from its system prompt; a reply
comes from that step's script queue, else from the step's default (a valid, deterministic
answer). Usage is reported like the real API: prompt tokens ~ characters / 4 of the
messages, completion tokens ~ characters / 4 of the reply plus `reasoning_tokens[step]`.
Every request body is kept in `requests` for assertions. `papers` scripts the fake per paper:
for an arXiv id it holds, the plan and code steps answer that paper's `PaperScript` (when
nothing is queued), so one fake can play the LLM for papers of different families.

`POST /v1/embeddings` (and Azure's `/openai/deployments/<name>/embeddings`) answers in the
real format with deterministic vectors that reflect meaning crudely: a hashed bag of the
lower-cased words (`hashed_embedding`), so texts sharing words are close. Its script
queue is the step "embed" (`add("embed", error(500, ...))`; a 200 `Reply` with content
is sent as the raw body), its bodies are kept apart in `embedding_requests`, and
`reverse_embeddings` returns the data last input first (clients must sort by index).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4
EMBEDDING_DIMENSIONS = 256
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    refusal: str | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, retry_after: float | None = None) -> Reply:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return Reply(content=json.dumps({"error": {"message": message, "type": "x"}}), status=status,
                 headers=headers)  # fmt: skip


def hashed_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The fake's embedding: each lower-cased word of 3+ characters adds ±1 to a bucket
    chosen by its hash (sign from the hash too), then unit length. Deterministic across
    processes; texts that share words get a positive cosine, unrelated ones about 0."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        if len(word) < 3:
            continue
        digest = hashlib.sha256(word.encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") % dimensions
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def step_of(body: dict[str, Any]) -> str:
    if "messages" not in body:
        return "embed"
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    if "(review-v" in system:
        return "review"
    if "(compare-v" in system:
        return "compare"
    if "You plan a small" in system:
        return "plan"
    return "code"


def paper_of(body: dict[str, Any]) -> dict[str, Any]:
    """The first JSON data block of the user message (the paper)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    match = re.search(r"<<<[^>]+>>>\n(\{.*?\n\})\n<<<end", user, re.DOTALL)
    return json.loads(match.group(1)) if match else {}


def review_json(score: float, *, summary: str = "A sound paper.", steering: bool = False) -> str:
    crit = {"score": score, "rationale": f"scored {score}"}
    return json.dumps(
        {
            "novelty": crit,
            "significance": crit,
            "soundness": crit,
            "clarity": crit,
            "implementability": crit,
            "relevance": crit,
            "summary": summary,
            "steering_detected": steering,
        }
    )


def default_review(body: dict[str, Any]) -> Reply:
    """Deterministic, paper-dependent scores: recall/attention papers score high."""
    paper = paper_of(body)
    text = f"{paper.get('title', '')} {paper.get('abstract', '')}".lower()
    base = 4 + 4 * any(k in text for k in ("recall", "linear attention", "state space"))
    jitter = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 3 - 1
    return Reply(review_json(base + jitter, summary=f"Review of {paper.get('title', '?')}."))


def default_compare(body: dict[str, Any]) -> Reply:
    return Reply(json.dumps({"winner": "A", "reason": "A is easier to test."}))


PLAN = {
    "task": "mqar",
    "name": "ShortConvMixer",
    "summary": "Token mixing by a causal depthwise convolution followed by an MLP.",
    "changes": ["attention replaced by a causal depthwise convolution"],
    "simplifications": ["one block, learned positions"],
    # the paper's central claims, in the harness's schema (docs/VERDICTS.md)
    "claims": [
        {
            "id": "recall",
            "statement": "A short convolution matches attention on associative recall",
            "task": "mqar",
            "metric": "query_accuracy",
            "comparison": "equivalent",
            "condition": "num_kv_pairs >= 4",
            "min_kv_pairs": 4,
            "testable": True,
            "why_untestable": "",
        },
        {
            "id": "throughput",
            "statement": "3x faster generation than FlashAttention-2 at 1.3B parameters",
            "task": "lm",
            "metric": "infer_tokens_per_s",
            "comparison": "better",
            "condition": "",
            "min_kv_pairs": None,
            "testable": False,
            "why_untestable": "needs fused CUDA kernels at 1.3B parameters",
        },
    ],
}

VALID_CODE = '''"""Causal conv mixer (generated)."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, vocab_size, seq_len, d):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(seq_len, d)
        self.conv = nn.Conv1d(d, d, kernel_size=4, padding=3, groups=d)
        self.mlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(),
                                 nn.Linear(4 * d, d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab_size, bias=False)

    def forward(self, idx):
        B, T = idx.shape
        x = self.emb(idx) + self.pos(torch.arange(T, device=idx.device))
        x = x + self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)
        x = x + self.mlp(x)
        return self.head(self.norm(x))


def _n(spec, d):
    with torch.device("meta"):
        return sum(p.numel() for p in Model(spec.vocab_size, spec.seq_len, d).parameters())


def build_model(spec):
    d = min(range(8, 1025, 8), key=lambda d: abs(_n(spec, d) - spec.param_budget))
    return Model(spec.vocab_size, spec.seq_len, d)
'''

# Drops the last position: the harness's shape check rejects it.
WRONG_SHAPE_CODE = VALID_CODE.replace(
    "return self.head(self.norm(x))", "return self.head(self.norm(x))[:, :-1]"
)


def code_reply(code: str) -> Reply:
    return Reply(f"Here is the file.\n\n```python\n{code}```\n")


@dataclass
class PaperScript:
    """What the fake answers for one paper's plan and code requests."""

    plan: dict[str, Any]
    code: str

    def reply(self, step: str) -> Reply:
        return Reply(json.dumps(self.plan)) if step == "plan" else code_reply(self.code)


DEFAULTS: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "review": default_review,
    "compare": default_compare,
    "plan": lambda body: Reply(json.dumps(PLAN)),
    "code": lambda body: code_reply(VALID_CODE),
}


class FakeOpenAI:
    def __init__(self, reasoning_tokens: dict[str, int] | None = None, port: int = 0) -> None:
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.defaults = dict(DEFAULTS)
        self.reasoning_tokens = reasoning_tokens or {}
        self.requests: list[dict[str, Any]] = []  # chat completions
        self.embedding_requests: list[dict[str, Any]] = []
        self.reverse_embeddings = False
        self.paper_markdown: dict[str, str] = {}  # arXiv id -> served at /papers/<id>.md
        self.papers: dict[str, PaperScript] = {}  # arXiv id -> its plan and code replies
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, step: str, *replies: Reply) -> None:
        self.script[step].extend(replies)

    def requests_for(self, step: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if step_of(r) == step]

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self, body: dict[str, Any]) -> Reply:
        step = step_of(body)
        with self.lock:
            self.requests.append(body)
            queue = self.script[step]
            if queue:
                return queue.popleft()
        if step in ("plan", "code"):
            script = self.papers.get(paper_of(body).get("arxiv_id", ""))
            if script is not None:
                return script.reply(step)
        return self.defaults[step](body)

    def _next_embedding(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.embedding_requests.append(body)
            queue = self.script["embed"]
            if queue:
                return queue.popleft()
        return Reply()

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input", [])
        if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
            inputs = [inputs]  # one text, or one input given as tokens
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        data, tokens = [], 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(f"t{t}" for t in item)
            tokens += max(1, len(item) // CHARS_PER_TOKEN) if isinstance(item, str) else len(item)
            vector = hashed_embedding(text, dimensions)
            embedding: Any = vector
            if body.get("encoding_format") == "base64":  # the SDK's default: float32 LE
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if self.reverse_embeddings:
            data.reverse()
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt_chars = sum(len(m.get("content") or "") for m in body["messages"])
        completion = len(reply.content or reply.refusal or "") // CHARS_PER_TOKEN
        completion += self.reasoning_tokens.get(step_of(body), 0)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_chars // CHARS_PER_TOKEN,
                "completion_tokens": completion,
                "total_tokens": prompt_chars // CHARS_PER_TOKEN + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - Hugging Face's paper markdown
                match = re.fullmatch(r"/papers/([0-9.]+)\.md", self.path)
                text = fake.paper_markdown.get(match.group(1)) if match else None
                if text is None:
                    self.send_error(404)
                    return
                payload = text.encode()
                self.send_response(200)
                self.send_header("content-type", "text/markdown; charset=utf-8")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                embeddings = path.endswith("/embeddings")
                if not embeddings and not path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                reply = fake._next_embedding(body) if embeddings else fake._next(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200 or (embeddings and reply.content is not None):
                    payload = (reply.content or "{}").encode()
                elif embeddings:
                    payload = json.dumps(fake._embeddings(body)).encode()
                else:
                    payload = json.dumps(fake._completion(body, reply)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler


def make_settings(url: str, **overrides: Any):
    """LLM settings pointing at the fake server (an OpenAI-compatible provider)."""
    from paperfoundry.config import LLM

    values: dict[str, Any] = {
        "provider": "compatible",
        "base_url": url,
        "review_model": "gpt-5-mini",
        "compare_model": "gpt-5-mini",
        "implement_model": "gpt-5",
        "timeout_seconds": 5.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return LLM(**values)


def main() -> None:
    """Serve the fake on a fixed port, to try the LLM mode offline:
    `python -m tests.fakes.openai_server --port 8765`, then
    `PAPERFOUNDRY_LLM_BASE_URL=http://127.0.0.1:8765/v1 paperfoundry run --sample`."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--port", type=int, default=8765)
    port = ap.parse_args().port
    fake = FakeOpenAI(port=port)
    print(f"fake OpenAI-compatible server at http://127.0.0.1:{port}/v1 (Ctrl-C stops)")
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
