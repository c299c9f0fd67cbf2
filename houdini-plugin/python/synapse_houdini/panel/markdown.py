"""A small, safe Markdown → Qt rich text renderer (no Qt import; stdlib only).

Safety rule: every piece of source text is HTML-escaped *before* any formatting
is applied, and only the tags this module writes reach Qt. So ``<script>``,
``<img src=...>`` or any other HTML in a model's answer is shown as text and
never interpreted (Qt rich text would otherwise load images or style the panel).
Links are shown as their text followed by the address, never as live anchors.

Supported: ATX headings, paragraphs, hard line breaks, ``-``/``*``/``+`` and
numbered lists (one level), block quotes, horizontal rules, fenced code blocks
(```lang), inline code, ``**bold**``, ``*italic*``/``_italic_``, links.
"""

from __future__ import annotations

import html
import re

CODE_BG = "#1f2226"
CODE_FG = "#d7dae0"
INLINE_CODE_BG = "#2c3036"
QUOTE_FG = "#9aa0a6"

_FENCE = re.compile(r"^\s{0,3}(```|~~~)\s*([\w+#.-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s{0,3}(\d{1,9})[.)]\s+(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s{0,3}&gt;\s?(.*)$")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")

#: Markdown heading level → Qt rich-text tag (Qt's h1/h2 are too large for a side panel).
_HEADING_TAGS = {1: "h3", 2: "h4", 3: "h5", 4: "h5", 5: "h6", 6: "h6"}


def escape(text: str) -> str:
    """HTML-escape *text* (quotes too)."""
    return html.escape(text, quote=True)


def _inline(escaped: str) -> str:
    """Inline formatting on already-escaped text; code spans are left untouched."""
    parts = escaped.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: keep it literal
        parts[-2] = parts[-2] + "`" + parts[-1]
        parts.pop()
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f'<code style="background-color:{INLINE_CODE_BG};">{part}</code>')
            continue
        part = _LINK.sub(lambda m: f"<u>{m.group(1)}</u> ({m.group(2)})", part)
        part = _BOLD.sub(lambda m: f"<b>{m.group(1) or m.group(2)}</b>", part)
        part = _ITALIC.sub(lambda m: f"<i>{m.group(1) or m.group(2)}</i>", part)
        out.append(part)
    return "".join(out)


def _code_block(lines: list[str], lang: str) -> str:
    body = "\n".join(escape(line) for line in lines)
    label = f'<span style="color:{QUOTE_FG};">{escape(lang)}</span><br>' if lang else ""
    return (f'<table width="100%" cellpadding="6" style="background-color:{CODE_BG};"><tr><td>{label}'
            f'<pre style="color:{CODE_FG}; margin:0;">{body}</pre></td></tr></table>')


def to_html(source: str) -> str:
    """Render *source* (Markdown) to a Qt rich-text fragment; safe for any input."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    list_kind = ""  # "ul" | "ol" | ""
    quote: list[str] = []
    i = 0

    def flush_para() -> None:
        if para:
            out.append("<p>" + "<br>".join(_inline(escape(p)) for p in para) + "</p>")
            para.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = ""

    def flush_quote() -> None:
        if quote:
            out.append(f'<blockquote style="color:{QUOTE_FG};">' + "<br>".join(_inline(q) for q in quote) + "</blockquote>")
            quote.clear()

    def flush_all() -> None:
        flush_para()
        close_list()
        flush_quote()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush_all()
            marker, lang = fence.group(1), fence.group(2)
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            out.append(_code_block(code, lang))
            i += 1  # the closing fence (or the end)
            continue
        if not line.strip():
            flush_all()
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_all()
            level = len(heading.group(1))
            tag = _HEADING_TAGS[level]
            out.append(f"<{tag}>{_inline(escape(heading.group(2)))}</{tag}>")
            i += 1
            continue
        if _RULE.match(line):
            flush_all()
            out.append("<hr>")
            i += 1
            continue
        escaped_line = escape(line)
        quoted = _QUOTE.match(escaped_line)
        if quoted:
            flush_para()
            close_list()
            quote.append(quoted.group(1))
            i += 1
            continue
        flush_quote()
        bullet = _BULLET.match(line)
        numbered = None if bullet else _NUMBERED.match(line)
        if bullet or numbered:
            flush_para()
            kind = "ul" if bullet else "ol"
            if list_kind != kind:
                close_list()
                if kind == "ol" and numbered is not None and numbered.group(1) != "1":
                    out.append(f'<ol start="{int(numbered.group(1))}">')
                else:
                    out.append(f"<{kind}>")
                list_kind = kind
            item = bullet.group(1) if bullet else numbered.group(2)  # type: ignore[union-attr]
            out.append(f"<li>{_inline(escape(item))}</li>")
            i += 1
            continue
        if list_kind and line.startswith(("  ", "\t")):
            # A continuation line of the last list item.
            out[-1] = out[-1][: -len("</li>")] + "<br>" + _inline(escape(line.strip())) + "</li>"
            i += 1
            continue
        close_list()
        para.append(line)
        i += 1
    flush_all()
    return "".join(out)


def is_paragraph_line(line: str) -> bool:
    """True for a line :func:`to_html` renders as a plain paragraph line whatever the
    lines around it are (no block syntax, no leading space, no HTML-collapsed
    trailing space, no line separator)."""
    if not line.strip() or line[0] in " \t" or line[-1] in " \t" or "\u2028" in line or "\r" in line:
        return False
    return not (_FENCE.match(line) or _HEADING.match(line) or _RULE.match(line) or _BULLET.match(line)
                or _NUMBERED.match(line) or _QUOTE.match(escape(line)))


def paragraph_line_html(line: str) -> str:
    """One paragraph line as :func:`to_html` renders it inside its ``<p>``."""
    return _inline(escape(line))


def plain_to_html(text: str) -> str:
    """Show *text* verbatim (escaped, line breaks kept)."""
    return escape(text).replace("\n", "<br>")


__all__ = ["escape", "is_paragraph_line", "paragraph_line_html", "plain_to_html", "to_html"]
