"""Turn the text after `/draw` into a prompt and options.

Options may stand anywhere: `--ar 16:9` (or `--ar=16:9`, `—ar`, since phones turn `--` into a
dash), `--ar square|wide|tall`, `--seed 42`. They are removed from the prompt; the text between
them is kept as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAX_PROMPT_CHARS = 500
MAX_SEED = 2**63 - 1
MAX_ASPECT_SIDE = 100
MAX_ASPECT_SKEW = 4  # between 1:4 and 4:1

ASPECT_WORDS = {"square": (1, 1), "wide": (16, 9), "tall": (9, 16)}

_OPTION = re.compile(r"(?<!\S)(--|—|–)(\S*)")
_VALUE = re.compile(r"\s+(\S+)")
_RATIO = re.compile(r"^([0-9]{1,3})[:x×]([0-9]{1,3})$")
_SEED = re.compile(r"^[0-9]{1,19}$")


class PromptProblem(Enum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_ASPECT = "bad_aspect"
    BAD_SEED = "bad_seed"
    UNKNOWN_OPTION = "unknown_option"
    MISSING_VALUE = "missing_value"


class PromptError(ValueError):
    def __init__(self, problem: PromptProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DrawOptions:
    aspect: tuple[int, int] | None = None
    seed: int | None = None

    def to_json(self) -> str:
        return json.dumps({"aspect": list(self.aspect) if self.aspect else None, "seed": self.seed})

    @classmethod
    def from_json(cls, raw: str) -> DrawOptions:
        data: dict[str, Any] = json.loads(raw or "{}")
        aspect = data.get("aspect")
        return cls(aspect=(int(aspect[0]), int(aspect[1])) if aspect else None,
                   seed=data.get("seed"))


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    text: str
    options: DrawOptions


def parse_prompt(raw: str) -> ParsedPrompt:
    """Parse; raises PromptError with a problem a reply can explain."""
    pieces: list[str] = []
    found: dict[str, str] = {}
    position = 0
    for match in _OPTION.finditer(raw):
        if match.start() < position:
            continue  # inside the value of the previous option
        dash, word = match.group(1), match.group(2)
        name, _, inline_value = word.partition("=")
        name = name.lower()
        if name not in ("ar", "seed"):
            if dash == "--" and name:
                raise PromptError(PromptProblem.UNKNOWN_OPTION, dash + name)
            continue  # a dash used as punctuation
        end = match.end()
        value = inline_value
        if not value:
            next_token = _VALUE.match(raw, end)
            if next_token is None:
                raise PromptError(PromptProblem.MISSING_VALUE, "--" + name)
            value, end = next_token.group(1), next_token.end()
        found[name] = value
        pieces.append(raw[position:match.start()])
        position = end
    pieces.append(raw[position:])
    text = " ".join(piece.strip() for piece in pieces if piece.strip())
    if not text:
        raise PromptError(PromptProblem.EMPTY)
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(PromptProblem.TOO_LONG, str(len(text)))
    options = DrawOptions(
        aspect=parse_aspect(found["ar"]) if "ar" in found else None,
        seed=parse_seed(found["seed"]) if "seed" in found else None,
    )
    return ParsedPrompt(text=text, options=options)


def parse_aspect(value: str) -> tuple[int, int]:
    word = ASPECT_WORDS.get(value.lower())
    if word:
        return word
    match = _RATIO.match(value)
    if match is None:
        raise PromptError(PromptProblem.BAD_ASPECT, value)
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_ASPECT_SIDE and 1 <= height <= MAX_ASPECT_SIDE):
        raise PromptError(PromptProblem.BAD_ASPECT, value)
    if width > MAX_ASPECT_SKEW * height or height > MAX_ASPECT_SKEW * width:
        raise PromptError(PromptProblem.BAD_ASPECT, value)
    return width, height


def parse_seed(value: str) -> int:
    if not _SEED.match(value) or int(value) > MAX_SEED:
        raise PromptError(PromptProblem.BAD_SEED, value)
    return int(value)
