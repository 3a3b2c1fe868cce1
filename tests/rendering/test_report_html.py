"""report.html: verdicts stand out, the figures come right after the glance, cells never wrap (a wide table
scrolls), and the hyperparameters list only the keys the task reads."""

from __future__ import annotations

from typer.testing import CliRunner

from bnbench.cli import app

runner = CliRunner()


def test_html_report_marks_verdicts_and_puts_the_figures_after_the_glance(folder):
    # control 30.0 against bn-debiased 28.0 (sd 0.1 each, 3 seeds): worse, p < 0.001; both above bicubic 27.0.
    root = folder(finals={"control": [29.9, 30.0, 30.1], "bn-debiased": [27.9, 28.0, 28.1]})
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    page = (root / "report.html").read_text(encoding="utf-8")
    assert '<td><span class="verdict v-worse">worse</span> (p=0.002)</td>' in page
    assert '<td>+3.00 <span class="verdict v-above">above</span></td>' in page
    assert "; <span class=\"verdict v-worse\">worse</span> (p=0.002, n=3: the interval is below zero)</li>" in page
    assert ".v-worse, .v-below { color: #c62828; }" in page and "td { white-space: nowrap; }" in page
    glance_end, first_figure, abstract = (page.index("What each variant cost"), page.index("<figure"),
                                          page.index("<h2>Abstract</h2>"))
    assert glance_end < first_figure < abstract


def test_hyperparameters_list_only_the_keys_the_task_reads(folder):
    root = folder(finals={"control": [30.0, 30.2], "bn": [29.0, 29.4]})
    scenario = (root / "scenario.toml").read_text(encoding="utf-8")
    (root / "scenario.toml").write_text(scenario.replace('[task]\nname = "super-resolution"\n',
                                                         '[task]\nname = "super-resolution"\nscale = 3\n'
                                                         'workdir = "."\ngrace_s = 10.0\necho = false\n'),
                                        encoding="utf-8")
    assert runner.invoke(app, ["report", str(root)]).exit_code == 0
    md = (root / "report.md").read_text(encoding="utf-8")
    task_row = next(line for line in md.splitlines() if line.startswith("| task |"))
    assert task_row == '| task | name = super-resolution, scale = 3 |'
