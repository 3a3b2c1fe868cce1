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


# Where the page's parts land once laid out: its width against the window's, the first figure's and the
# Abstract's tops, and how a 'worse' verdict is drawn.
LAYOUT = """<script>
window.addEventListener('load', () => {
  const top = e => Math.round(e.getBoundingClientRect().top + window.scrollY);
  const verdict = getComputedStyle(document.querySelector('.v-worse'));
  const abstract = Array.from(document.querySelectorAll('h2')).find(h => h.textContent === 'Abstract');
  const layout = [document.documentElement.scrollWidth, window.innerWidth, top(document.querySelector('figure')),
    top(abstract), verdict.fontWeight, verdict.color].join('|');
  document.body.setAttribute('data-layout', layout);
  if (window.parent !== window) window.parent.postMessage(layout, '*');
});
</script>"""
# Headless chromium's window is at least 500 px wide: a phone's 390 px is a frame of that width around the page.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="layout.html" width="{width}" height="2000" style="border:0"></iframe>
<script>window.addEventListener('message', e => document.body.setAttribute('data-layout', e.data));</script>
</body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (CI installs Debian's chromium)")
@pytest.mark.parametrize("width", [1280, 390])  # a desktop window and a phone
def test_report_html_fits_the_window_with_figures_first_and_verdicts_marked(folder, tmp_path, width):
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn": [27.9, 28.0, 28.1]},
                  energy_j={"control": [100.0] * 3, "bn": [120.0] * 3}, source="rapl", power=True)
    assert CliRunner().invoke(app, ["report", str(root)]).exit_code == 0
    page = tmp_path / "layout.html"
    page.write_text((root / "report.html").read_text().replace("</body>", LAYOUT + "</body>"), encoding="utf-8")
    (tmp_path / "frame.html").write_text(FRAME.format(width=width), encoding="utf-8")
    shot = tmp_path / f"report-{width}.png"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={max(width, 500)},2000",
              "--virtual-time-budget=10000", "--allow-file-access-from-files"]
    done = subprocess.run([*common, "--dump-dom", (tmp_path / "frame.html").as_uri()], capture_output=True,
                          text=True, timeout=120)
    match = re.search(r'data-layout="(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|([^"]+)"', done.stdout)
    assert match, f"page did not load: {done.stderr[-2000:]}"
    page_width, window, figure_top, abstract_top, weight, color = match.groups()
    # Wide tables scroll inside their own box: the page itself is never wider than the window.
    assert int(page_width) <= int(window) == width
    assert int(figure_top) < int(abstract_top)  # the figures follow the glance, before the long sections
    assert int(weight) >= 700 and color == "rgb(198, 40, 40)"
    page.write_text((root / "report.html").read_text(), encoding="utf-8")  # the report alone, for the screenshot
    subprocess.run([*common, f"--screenshot={shot}", (tmp_path / "frame.html").as_uri()], capture_output=True,
                   timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
