"""The API's one parser: DRF's JSON parser, refusing JSON that Python or Unicode cannot hold.

- Only UTF-8. A body's charset is named by its ``Content-Type``; DRF decodes with
  any codec Python knows (``latin-1``, ``utf-16``…) and Django quietly falls back to
  UTF-8 for a name it does not (``charset=foo``). JSON is UTF-8 (RFC 8259), so any
  other ``charset`` is refused as an unsupported media type (415) before a byte is
  decoded; none at all means UTF-8.
- No lone surrogates. ``"\\ud800"`` is valid JSON syntax but no Unicode character:
  such a string can be neither stored nor sent back (even inside an error message
  naming an unknown field ``"\\ud800"``), so it is a parse error (400).
- Nesting too deep for Python (``[[[[...`` a few thousand deep) is a parse error
  (400) rather than a ``RecursionError``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError, UnsupportedMediaType

CHARSET = "utf-8"

# How a JSON text spells a UTF-16 surrogate (U+D800 to U+DFFF): only as an escape,
# since the UTF-8 decoder refuses encoded surrogates. Pairs decode to one character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        _, params = parse_header_parameters(media_type or self.media_type)
        charset = params.get("charset", CHARSET)
        if charset.lower() != CHARSET:
            raise UnsupportedMediaType(
                media_type, detail=f"Only charset={CHARSET} is supported, not {charset!r}."
            )
        body = stream.read()
        context = {**(parser_context or {}), "encoding": CHARSET}
        try:
            data = super().parse(io.BytesIO(body), media_type, context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        # The walk only when an escape could have made a surrogate: most bodies skip it.
        if _SURROGATE_ESCAPE.search(body) and _holds_lone_surrogate(data):
            raise ParseError("JSON parse error - a lone surrogate (U+D800-U+DFFF) is not Unicode")
        return data


def _holds_lone_surrogate(data: Any) -> bool:
    """Whether any key or string in parsed JSON holds a surrogate code point."""
    pending = [data]
    while pending:  # a loop, not recursion: the JSON may be nested ~1,000 deep
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
