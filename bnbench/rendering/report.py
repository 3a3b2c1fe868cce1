"""The lab report on disk: report.md, a self-contained report.html (figures embedded) and report.json.

Rendering only serializes what `analysis/summary.py` computed and `document.py` worded; files are replaced atomically.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
from pathlib import Path
from typing import Any

from bnbench.analysis.results import Results
from bnbench.analysis.summary import Summary
from bnbench.rendering.document import (
    Block,
    Bullets,
    FigureBlock,
    Heading,
    Paragraph,
    TableBlock,
    build,
    rounds_text,
)
from bnbench.rendering.figure_files import (
    FIGURES_DIR,
    Plot,
    PowerDrawing,
    begin,
    figures_folder,
    unwritable,
    write_figures,
)
from bnbench.rendering.format import to_jsonable
from bnbench.results.atomic import atomic_write_text


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|!])")


def md_text(text: str) -> str:
    """Text a scenario wrote, shown as itself in Markdown: HTML escaped as report.html escapes it (most viewers
    render raw HTML inside Markdown), Markdown's markup characters backslash-escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(text.split()), quote=False))


def to_markdown(title: str, blocks: list[Block]) -> str:
    out = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            out += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Paragraph):
            out += [md_text(block.text) if block.verbatim else block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, TableBlock):
            if block.caption:
                out += [f"**{block.caption}**", ""]
            out.append("| " + " | ".join(md_cell(h) for h in block.headers) + " |")
            out.append("|" + "---|" * len(block.headers))
            out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, FigureBlock):
            p = block.plot
            svg = f" ([SVG]({FIGURES_DIR}/{p.name}.svg))" if "svg" in p.extensions else ""
            out += [f"![{p.title}]({FIGURES_DIR}/{p.name}.png)", "", f"*{p.title}.* {p.caption}{svg}", ""]
    return "\n".join(out)


CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-family: system-ui, sans-serif; font-size: 0.8rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } caption { caption-side: top; font-weight: bold; text-align: left; padding: 0.3rem 0; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; } code { font-size: 0.85rem; }
.table-wrap { overflow-x: auto; max-width: 100%; }
td { white-space: nowrap; }
.verdict { font-weight: bold; } .v-better, .v-above { color: #1a7f37; } .v-worse, .v-below { color: #c62828; }
.v-equivalent { color: #1f5fa8; } .v-undecided, .v-unclear { color: #8a6d00; }
"""

# The verdict words as the glance and the verdict sentences use them, each with its colour (see CSS above).
_VERDICT = re.compile(r"\b(better|worse|equivalent|undecided|above|below|unclear)\b(?= \(p| it\b|$|;)")


_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Text as HTML: escaped, with Markdown's `code` spans as <code> (the blocks are worded for Markdown)."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def verdicts_html(text: str) -> str:
    """`inline(text)` with each verdict word bold and coloured: 'worse (p=0.003)', '+0.26 above', 'above it'."""
    return _VERDICT.sub(lambda m: f'<span class="verdict v-{m.group(1)}">{m.group(1)}</span>', inline(text))


def to_html(title: str, blocks: list[Block], figures: Path) -> str:
    """One HTML file with every figure embedded as a base64 PNG: it can be mailed or opened anywhere."""
    esc = inline
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>", f"<h1>{esc(title)}</h1>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{verdicts_html(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, TableBlock):
            caption = f"<caption>{esc(block.caption)}</caption>" if block.caption else ""
            head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{verdicts_html(c)}</td>" for c in row) + "</tr>"
                           for row in block.rows)
            out.append(f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
                       f"<tbody>{body}</tbody></table></div>")
        elif isinstance(block, FigureBlock):
            p = block.plot
            data = base64.b64encode((figures / f"{p.name}.png").read_bytes()).decode("ascii")
            out.append(f'<figure id="{html.escape(p.name)}"><img alt="{html.escape(p.title)}" '
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption><b>{esc(p.title)}.</b> {esc(p.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def summary_json(results: Results, summary: Summary, plots: list[Plot]) -> dict[str, Any]:
    """Everything the report says, as data: per-run figures, per-variant statistics, comparisons, verdicts."""
    comparisons = {}
    for name, c in summary.comparisons.items():
        comparisons[name] = {
            "baseline": c.baseline,
            "verdict": c.verdict,
            "decision": dataclasses.asdict(c.decision),
            "sentence": c.sentence,
            "words": c.words,
            "decisions": {k: {**dataclasses.asdict(v), "interval": v.interval_label}
                          for k, v in c.verdicts.items()},
            "differences": {k: dataclasses.asdict(v) for k, v in c.differences.items()},
            "ratios": {k: dataclasses.asdict(v) for k, v in c.ratios.items()},
            "seeds": c.pairs.to_dict(orient="records"),
        }
    variants = {
        name: {**{k: v for k, v in dataclasses.asdict(s).items() if k != "figures"},
               "figures": {k: dataclasses.asdict(d) for k, d in s.figures.items()}}
        for name, s in summary.variants.items()
    }
    return to_jsonable({
        "scenario": summary.name,
        "folder": str(results.root),
        "metric": dataclasses.asdict(summary.metric),
        "target": summary.target,
        "baseline": summary.baseline,
        "energy_source": summary.energy_source,
        "energy_is_estimate": "estimate" in summary.energy_source,
        "verdicts": summary.verdicts,
        "design": {**dataclasses.asdict(summary.design), "min_effect": summary.margin,
                   "family": len(summary.comparisons), "correction": "holm"},
        "rounds": None if summary.rounds is None else {
            **dataclasses.asdict(summary.rounds), "not_run": summary.rounds.not_run,
            "saved_energy_j": summary.rounds.saved_energy_j,
            "text": rounds_text(summary.rounds, results.scenario.get("energy", {}))},
        "variants": variants,
        "comparisons": comparisons,
        "runs": summary.figures.to_dict(orient="records"),
        "figures": [f"{FIGURES_DIR}/{p.name}.{ext}" for p in plots for ext in p.extensions],
    })


@dataclasses.dataclass(frozen=True)
class Rendered:
    markdown: str
    html: str
    json: str
    plots: list[Plot]


def write_reports(results: Results, svg: bool = False, power: PowerDrawing | None = None) -> Rendered:
    """Draw the figures (as SVG too when `svg`) and write report.md, report.html and report.json into the
    results folder. `power`: the power figure as `figure_files.begin` began it, else it is begun here; this
    closes it.

    Raises UserError when the folder cannot be written.
    """
    try:
        if power is None:
            power = begin(results.root, svg)
        plots = write_figures(results.summary, results.curves, results.root, figures_folder(results.root),
                              results.variants, power, svg)
        summary = results.summary
        title, blocks = build(results, summary, plots)
        rendered = Rendered(
            to_markdown(title, blocks), to_html(title, blocks, results.root / FIGURES_DIR),
            json.dumps(summary_json(results, summary, plots), indent=2, allow_nan=False) + "\n", plots,
        )
        for name, text in (("report.md", rendered.markdown), ("report.html", rendered.html),
                           ("report.json", rendered.json)):
            atomic_write_text(results.root / name, text)
    except OSError as exc:
        raise unwritable(results.root, exc) from None
    finally:
        if power is not None:
            power.close()
    return rendered
