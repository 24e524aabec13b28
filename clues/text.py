"""Tagged text: biographies with their fact fields marked inline.

`<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. …` parses into the clean
text `Liam Thompson was born on January 5, 1990. …` plus one `FieldSpan` per tagged value
(character offsets into the clean text, end exclusive). `to_tagged` writes it back.

Only the tags in `clues.FIELDS` are allowed, written exactly `<field>` and `</field>`; tags
cannot nest and must not be empty. Anything that looks like a tag but breaks these rules raises
`InputError` naming the tag and its character position (1-based, in the tagged input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from clues import FIELDS
from clues.errors import InputError

# Anything tag-like: `<name>`, `</ date >`, `<Foo-1>`. Canonical tags are checked afterwards so
# that a near miss (`<Name>`, `<name >`) gets a helpful error instead of passing as plain text.
_TAG_LIKE = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)\s*>")

_ALLOWED = ", ".join(f"<{f}>" for f in FIELDS)


@dataclass(frozen=True)
class FieldSpan:
    """One tagged value: `text[start:end]` of the clean text is the field's value."""

    field: str
    start: int
    end: int


@dataclass(frozen=True)
class TaggedText:
    """Clean text plus the spans of its fact fields, in text order."""

    text: str
    spans: tuple[FieldSpan, ...] = ()

    def __post_init__(self):
        # Accept any iterable of spans, store a sorted tuple (to_tagged relies on the order).
        spans = tuple(sorted(self.spans, key=lambda s: (s.start, s.end)))
        object.__setattr__(self, "spans", spans)

    def span(self, field: str) -> FieldSpan | None:
        """The first span of `field`, or None."""
        return next((s for s in self.spans if s.field == field), None)

    def value(self, field: str) -> str | None:
        """The text of the first span of `field`, or None."""
        s = self.span(field)
        return None if s is None else self.text[s.start : s.end]

    def values(self, field: str) -> list[str]:
        """The texts of every span of `field` (a name may be repeated)."""
        return [self.text[s.start : s.end] for s in self.spans if s.field == field]

    @property
    def name(self) -> str | None:
        return self.value("name")

    @property
    def fields(self) -> tuple[str, ...]:
        """Present field names, unique, in order of first appearance."""
        return tuple(dict.fromkeys(s.field for s in self.spans))


def with_value(text: TaggedText, field: str, value: str) -> TaggedText:
    """`text` with the first span of `field` holding `value` instead; later spans move with the change."""
    span = text.span(field)
    if span is None:
        raise InputError(f"the text has no {field!r} to rewrite: tag one with <{field}>…</{field}>")
    shift = len(value) - (span.end - span.start)
    spans = tuple(FieldSpan(s.field, s.start + shift if s.start >= span.end else s.start,
                            s.end + shift if s.start >= span.end else s.end) if s is not span
                  else FieldSpan(field, span.start, span.start + len(value)) for s in text.spans)
    return TaggedText(text.text[:span.start] + value + text.text[span.end:], spans)


def parse_tagged(tagged: str) -> TaggedText:
    """Strip the inline tags of `tagged`; return the clean text and the tagged spans."""
    if not isinstance(tagged, str):
        raise InputError(f"expected tagged text as a string, got {type(tagged).__name__}")
    pieces: list[str] = []  # clean text pieces
    spans: list[FieldSpan] = []
    clean_len = 0
    last = 0  # end of the previous tag in `tagged`
    open_field: str | None = None
    open_at = 0  # tagged position of the open tag
    open_clean = 0  # clean position where the open field's value starts
    for match in _TAG_LIKE.finditer(tagged):
        closing, field = match.group(1) == "/", match.group(2)
        where = match.start() + 1
        _check_canonical(match, closing, field, where)
        pieces.append(tagged[last : match.start()])
        clean_len += match.start() - last
        last = match.end()
        if not closing:
            if open_field is not None:
                raise InputError(
                    f"nested tag <{field}> at character {where} inside <{open_field}> opened at "
                    f"character {open_at + 1}: close it with </{open_field}> first (tags cannot nest)"
                )
            open_field, open_at, open_clean = field, match.start(), clean_len
            continue
        if open_field is None:
            raise InputError(
                f"closing tag </{field}> at character {where} has no matching <{field}> before it: "
                f"add <{field}> where the value starts or remove </{field}>"
            )
        if field != open_field:
            raise InputError(
                f"closing tag </{field}> at character {where} does not match <{open_field}> opened "
                f"at character {open_at + 1}: write </{open_field}> there"
            )
        if clean_len == open_clean:
            raise InputError(
                f"empty <{field}> tag at character {open_at + 1}: put the value between "
                f"<{field}> and </{field}> or remove the tags"
            )
        spans.append(FieldSpan(field, open_clean, clean_len))
        open_field = None
    if open_field is not None:
        raise InputError(
            f"tag <{open_field}> at character {open_at + 1} is never closed: "
            f"add </{open_field}> after its value"
        )
    pieces.append(tagged[last:])
    return TaggedText("".join(pieces), tuple(spans))


def _check_canonical(match: re.Match, closing: bool, field: str, where: int) -> None:
    """Raise unless the tag-like `match` is exactly `<field>` or `</field>` of a known field."""
    if field not in FIELDS:
        hint = f" (tags are lower-case: <{field.lower()}>)" if field.lower() in FIELDS else ""
        raise InputError(
            f"unknown tag {match.group(0)!r} at character {where}{hint}: allowed tags are "
            f"{_ALLOWED}; rename or remove it"
        )
    canonical = f"</{field}>" if closing else f"<{field}>"
    if match.group(0) != canonical:
        raise InputError(
            f"malformed tag {match.group(0)!r} at character {where}: write it as {canonical} "
            f"(no spaces inside the angle brackets)"
        )


def to_tagged(t: TaggedText) -> str:
    """Write `t` back with inline tags: the inverse of `parse_tagged`."""
    out: list[str] = []
    last = 0
    for s in t.spans:
        if s.start < last or s.end <= s.start or s.end > len(t.text):
            raise InputError(f"span {s} overlaps another span or lies outside the text")
        out += [t.text[last : s.start], f"<{s.field}>", t.text[s.start : s.end], f"</{s.field}>"]
        last = s.end
    out.append(t.text[last:])
    return "".join(out)


def token_fields(
    offsets: Sequence[tuple[int, int]], spans: Iterable[FieldSpan] | TaggedText
) -> list[str | None]:
    """The field each token overlaps, by its character offsets (start, end) in the clean text.

    A token overlapping no span, or with zero length (special tokens like BOS have (0, 0)),
    maps to None. Offsets may be a list of pairs or a [T, 2] tensor/array.
    """
    if isinstance(spans, TaggedText):
        spans = spans.spans
    spans = list(spans)
    fields: list[str | None] = []
    for pair in offsets:
        start, end = int(pair[0]), int(pair[1])
        hit = None
        if end > start:
            hit = next((s.field for s in spans if start < s.end and end > s.start), None)
        fields.append(hit)
    return fields
