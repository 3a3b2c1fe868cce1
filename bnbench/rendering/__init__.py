"""Rendering: what people read, made from the analysis' numbers: the terminal's tables and live display, the
figures, and the lab report (report.md, report.html, report.json). Nothing here computes a statistic."""
