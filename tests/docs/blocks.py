"""The fenced code blocks of the README and the manual's pages, for the tests that check them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A fence, its language and its body, at any indent (a block inside a list item is indented with it).
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository: README.md, docs/how-to/resume.md
    line: int  # of the opening fence, 1-based
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")


def pages() -> list[Path]:
    """README.md and every page of the manual."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def blocks(*langs: str) -> list[Block]:
    """Every fenced block in one of `langs`, page by page, in order."""
    found = []
    for path in pages():
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            if match.group("lang") not in langs:
                continue
            indent = len(match.group("indent"))
            body = "\n".join(line[indent:] for line in match.group("body").splitlines()) + "\n"
            found.append(Block(path.relative_to(REPO).as_posix(), text.count("\n", 0, match.start()) + 1,
                               match.group("lang"), body))
    return found


def block_before(block: Block, lang: str) -> Block:
    """The `lang` block nearest above `block` on its page."""
    return [b for b in blocks(lang) if b.page == block.page and b.line < block.line][-1]
