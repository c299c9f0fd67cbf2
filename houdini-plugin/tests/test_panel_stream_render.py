"""Streamed text rendering: the fast paths look exactly like a re-render of the tail.

Real PySide6 (offscreen). Two text segments get the same deltas, rendered after
each one: one may append plain words without re-rendering, or re-render only the
last lines of a paragraph, the other always re-renders its whole tail. Their documents must be identical (HTML export, which
carries every character's format) after every delta.
"""

from __future__ import annotations

import random

import pytest

from panel_support import app, qwait_for  # noqa: F401  (fixtures)

from synapse_houdini.panel.turns import TextSegment, plain_append_safe

WORDS = ["the ", "stage ", "holds ", "`/geo/sphere1` ", "**four** ", "prims", ".\n", "\n\n", "- item ", "## Heading\n",
         "```vex\n@P.y += 0.1;\n```\n", "and ", "a ", "material ", "assignment ", "is ", "broken", ", ", "word",
         " ", "  ", "*em*", "_x_", "snake_case ", "1", ". ", "> quoted ", "#", "é ", "<b>no</b> ", "&amp; ",
         "[link](http://x) ", "(paren) ", "end.", "2) ", "\n", "ünïcode ", "---\n", "tail ", "a*b ", "\\", "# h "]


def _pair(app):
    fast = TextSegment(None, lambda _s: None)
    slow = TextSegment(None, lambda _s: None)
    slow._append_plain = lambda _cursor, _tail: False
    slow._rerender_last_lines = lambda _cursor, _tail: False
    for seg in (fast, slow):
        seg.resize(520, 400)
        seg.show()
    return fast, slow


@pytest.mark.parametrize("seed", range(10))
def test_fast_path_renders_exactly_like_a_full_render(app, seed):
    fast, slow = _pair(app)
    rng = random.Random(seed)
    for _ in range(300):
        delta = rng.choice(WORDS)
        for seg in (fast, slow):
            seg.append(delta)
            seg.render()
        assert fast.document().toHtml() == slow.document().toHtml(), (seed, repr(fast.stream.tail()[-80:]), repr(delta))
    assert fast.fast_renders > 5  # the fast path is actually taken
    assert slow.fast_renders == 0
    for seg in (fast, slow):
        seg.close()
        seg.deleteLater()


def _blocks(seg):
    """(text, block format) of every block of the segment's document."""
    out, block = [], seg.document().begin()
    while block.isValid():
        out.append((block.text(), block.blockFormat()))
        block = block.next()
    return out


@pytest.mark.parametrize("frozen", ["Text.\n\n---\n\n", "- one\n- two\n\n", "## Title\n\n"])
def test_re_rendering_the_tail_keeps_the_frozen_text_as_it_was(app, frozen):
    """The tail's removal used to merge into the last frozen block and drop its
    format (a horizontal rule disappeared at the next render)."""
    seg = TextSegment(None, lambda _s: None)
    seg._append_plain = lambda _cursor, _tail: False
    seg._rerender_last_lines = lambda _cursor, _tail: False
    seg.append(frozen)
    seg.render()
    expected = _blocks(seg)
    for word in ("tail ", "grows ", "on"):
        seg.append(word)
        seg.render()
        now = _blocks(seg)
        assert now[: len(expected)] == expected, (frozen, word)
        assert now[-1][0] == "tail grows on"[: len(now[-1][0])]
    seg.deleteLater()


def test_plain_append_safety_rules():
    assert plain_append_safe("The stage holds", " four prims")
    assert plain_append_safe("## Heading", " more")
    assert plain_append_safe("- item", " two")
    assert not plain_append_safe("", "x")  # nothing rendered yet
    assert not plain_append_safe("text\n", "x")  # a new line may start a list or heading
    assert not plain_append_safe("1", ". item")  # would become a numbered list
    assert not plain_append_safe("some *em*", "x")  # *em*x is not italic any more
    assert not plain_append_safe("a **b", "**")  # formatting in the delta
    assert not plain_append_safe("a", "<script>")  # HTML-significant
    assert not plain_append_safe("a", " two  spaces")
    assert not plain_append_safe("```py\ncode", " more")  # inside a fence
    assert not plain_append_safe("ends with ", " space")
    assert not plain_append_safe("## Heading #", "tag")


def test_the_document_keeps_no_undo_history(app):
    seg = TextSegment(None, lambda _s: None)
    for word in WORDS * 5:
        seg.append(word)
        seg.render()
    assert not seg.document().isUndoAvailable()
    seg.deleteLater()
