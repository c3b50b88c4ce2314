#!/usr/bin/env bash
# Render a DayReport to HTML and screenshot it with headless Chromium (desktop + mobile).
#
#   scripts/screenshot_report.sh [REPORT_JSON] [OUT_DIR]
#
# REPORT_JSON: a DayReport serialised with model_dump(mode="json") (e.g. a run's report.json);
#              without it, the realistic fixture from tests/reporting/factories.py is used.
# OUT_DIR:     where report.html, desktop.png and mobile.png go (default: ./report-shots).
# Needs Chromium (Debian: apt-get install -y chromium); set CHROMIUM to override the binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPORT_JSON="${1:-}"
OUT_DIR="$(mkdir -p "${2:-report-shots}" && cd "${2:-report-shots}" && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [[ -z "$CHROMIUM" ]]; then
  echo "chromium not found (apt-get install -y chromium, or set CHROMIUM=...)" >&2
  exit 1
fi

cd "$ROOT"
REPORT_JSON="$REPORT_JSON" OUT_DIR="$OUT_DIR" "$PYTHON" - <<'PY'
import os
import sys
from pathlib import Path

sys.path[:0] = ["lambdas", "."]
from paperfoundry.models import DayReport  # noqa: E402
from paperfoundry.reporting import render_html  # noqa: E402

src = os.environ["REPORT_JSON"]
if src:
    report = DayReport.model_validate_json(Path(src).read_text(encoding="utf-8"))
else:
    from tests.reporting.factories import build_report

    report = build_report()
out = Path(os.environ["OUT_DIR"]) / "report.html"
out.write_text(render_html(report), encoding="utf-8")
print(f"wrote {out}")
PY

PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
shoot() {  # shoot WIDTH,HEIGHT OUT.png
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$PROFILE" --window-size="$1" --screenshot="$2" \
    "file://$OUT_DIR/report.html" 2>/dev/null
  echo "wrote $2"
}
shoot 1280,2000 "$OUT_DIR/desktop.png"
shoot 390,1800 "$OUT_DIR/mobile.png"
