"""report.html in a real headless browser: it renders, and every figure decodes (naturalWidth > 0)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from bnbench.cli import app

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

# Counts images and decoded images once the page has loaded, and writes the counts into the DOM for --dump-dom.
PROBE = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const decoded = images.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length;
  document.body.setAttribute('data-probe', images.length + '/' + decoded + '/' + document.body.scrollHeight);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (CI installs Debian's chromium)")
def test_report_html_renders_with_every_figure_decoded(folder, tmp_path):
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn": [27.9, 28.0, 28.1]},
                  energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl", power=True)
    assert CliRunner().invoke(app, ["report", str(root)]).exit_code == 0
    page = tmp_path / "probe.html"
    page.write_text((root / "report.html").read_text().replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    match = re.search(r'data-probe="(\d+)/(\d+)/(\d+)"', done.stdout)
    assert match, f"page did not load: {done.stderr[-2000:]}"
    images, decoded, height = map(int, match.groups())
    assert images == 5  # metric vs step, vs time, vs energy, loss, power
    assert decoded == images
    assert height > 1000  # the page laid out its sections, not an error page
    assert "a bnbench lab report" in done.stdout
