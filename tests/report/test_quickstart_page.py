"""The quickstart's result page rendered in headless Chromium: assertions on the rendered DOM text, and
on the layout (nothing wider than the window), not only on the HTML source."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found: install it with `apt-get install -y chromium` (Debian/Ubuntu)"
)
# Appended to a copy of the page: records in the DOM whether anything is wider than the window.
PROBE = """<script>window.addEventListener('load', () => {
  const wide = [...document.querySelectorAll('table, pre, img')].filter(e => e.getBoundingClientRect().right > innerWidth + 1);
  document.body.setAttribute('data-overflow', String(document.documentElement.scrollWidth > innerWidth) + ':' + wide.length);
});</script>"""


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    from seqit.quickstart.run import SIZES, run_quickstart

    out = run_quickstart(tmp_path_factory.mktemp("qs") / "run", SIZES["fast"])
    return out / "report.html"


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,2400", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def rendered_text(dom: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_rendered_page_shows_status_smoke_warning_sections_and_marked_steps(page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    text = rendered_text(dom)
    assert "seqit quickstart: IT vs SIT on the micro-world" in text
    assert "status finished" in text and "running" not in text
    assert "Smoke run" in text and "its numbers mean nothing" in text
    for heading in ("Held-out accuracy by arm", "Accuracy by chain length", "Where chains first go wrong",
                    "Training loss by phase", "Samples", "Timings", "Rerun by hand"):
        assert heading in text
    for arm in ("IT (single steps only)", "SIT (chains of 1-3 steps)", "phased SIT (depth curriculum + replay)",
                "control (phased data, random order)"):
        assert arm in text
    assert text.count("✗ step 1") >= 4  # a smoke run gets step 1 wrong: marked, per arm
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', dom)) == 4


def test_nothing_on_the_page_is_wider_than_the_window(page, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", probe.as_uri()).stdout
    assert 'data-overflow="false:0"' in dom


def test_screenshot_is_a_real_image(page, tmp_path):
    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
