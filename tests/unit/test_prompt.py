"""bot.prompt: the `/draw` options parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.prompt import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    DrawOptions,
    ParsedPrompt,
    PromptError,
    PromptProblem,
    parse_prompt,
)

DASHES = "-—–"


def problem_of(raw: str) -> PromptProblem:
    with pytest.raises(PromptError) as caught:
        parse_prompt(raw)
    return caught.value.problem


# --- --ar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "aspect"),
    [
        ("a cat --ar 16:9", (16, 9)),
        ("a cat --ar=16:9", (16, 9)),
        ("a cat —ar 16:9", (16, 9)),  # em dash: phones turn "--" into it
        ("a cat —ar=3:2", (3, 2)),
        ("a cat –ar 9:16", (9, 16)),  # en dash
        ("a cat –ar=2:3", (2, 3)),
        ("a cat --AR 4:3", (4, 3)),
        ("a cat --ar square", (1, 1)),
        ("a cat --ar wide", (16, 9)),
        ("a cat --ar tall", (9, 16)),
        ("a cat --ar WIDE", (16, 9)),
        ("a cat --ar 1:4", (1, 4)),
        ("a cat --ar 4:1", (4, 1)),
        ("a cat --ar 100:100", (100, 100)),
        ("a cat --ar 100:25", (100, 25)),
        ("a cat --ar 1:1", (1, 1)),
        ("a cat --ar\n16:9", (16, 9)),
    ],
)
def test_aspect_ratio_forms(raw: str, aspect: tuple[int, int]) -> None:
    parsed = parse_prompt(raw)
    assert parsed.options.aspect == aspect
    assert parsed.text == "a cat"
    assert parsed.options.seed is None


@pytest.mark.parametrize(
    "value",
    ["0:5", "5:0", "0:0", "30:1", "1:30", "1:5", "5:1", "101:100", "100:101", "1000:1000",
     "16/9", "16:", ":9", "abc", "1.5:1", "-16:9", "16:9:1", "big"],
)
def test_aspect_ratio_invalid(value: str) -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt(f"a cat --ar {value}")
    assert caught.value.problem is PromptProblem.BAD_ASPECT
    assert caught.value.detail == value


def test_no_aspect_by_default() -> None:
    assert parse_prompt("a cat").options == DrawOptions(aspect=None, seed=None)


# --- --seed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seed"),
    [
        ("a cat --seed 42", 42),
        ("a cat --seed=42", 42),
        ("a cat —seed 7", 7),
        ("a cat –seed=7", 7),
        ("a cat --seed 0", 0),
        (f"a cat --seed {2**63 - 1}", 2**63 - 1),
        ("a cat --SEED 5", 5),
    ],
)
def test_seed_valid(raw: str, seed: int) -> None:
    parsed = parse_prompt(raw)
    assert parsed.options.seed == seed
    assert parsed.text == "a cat"


def test_max_seed_constant() -> None:
    assert MAX_SEED == 2**63 - 1


@pytest.mark.parametrize("value", ["-3", "abc", str(2**63), "1e5", "4.2", "99999999999999999999",
                                   "+5", "0x10"])
def test_seed_invalid(value: str) -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt(f"a cat --seed {value}")
    assert caught.value.problem is PromptProblem.BAD_SEED
    assert caught.value.detail == value


# --- unknown options, missing values ----------------------------------------------------------


@pytest.mark.parametrize("raw", ["a cat --style anime", "--foo a cat", "a cat --ar 1:1 --q 2",
                                 "a cat --Seeds 5"])
def test_unknown_option(raw: str) -> None:
    assert problem_of(raw) is PromptProblem.UNKNOWN_OPTION


def test_unknown_option_detail_names_it() -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt("a cat --style anime")
    assert caught.value.detail == "--style"


@pytest.mark.parametrize("raw", ["a cat --ar", "a cat --seed", "a cat --seed   ", "a cat --ar=",
                                 "a cat —ar"])
def test_missing_value(raw: str) -> None:
    assert problem_of(raw) is PromptProblem.MISSING_VALUE


def test_missing_value_detail_names_option() -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt("a cat —seed")
    assert caught.value.detail == "--seed"


# --- placement and removal --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "--ar 16:9 --seed 5 a red fox",
        "a red --ar 16:9 fox --seed 5",
        "a --seed 5 red --ar=16:9 fox",
        "a red fox --seed=5 --ar 16:9",
        "  a red fox   --seed 5\n--ar 16:9  ",
    ],
)
def test_options_anywhere_are_removed(raw: str) -> None:
    parsed = parse_prompt(raw)
    assert parsed.text == "a red fox"
    assert parsed.options == DrawOptions(aspect=(16, 9), seed=5)


def test_text_between_options_kept_as_written() -> None:
    parsed = parse_prompt("a  red,  fox --seed 1 in   snow")
    assert parsed.text == "a  red,  fox in   snow"


@pytest.mark.parametrize(
    "raw", ["cat — dog", "cat – dog", "cat -- dog", "cat —dog", "well-known cat", "cat - dog",
            "cat—dog"]
)
def test_dash_as_punctuation_is_kept(raw: str) -> None:
    parsed = parse_prompt(raw)
    assert parsed.text == raw
    assert parsed.options == DrawOptions()


def test_em_dash_punctuation_next_to_an_option() -> None:
    parsed = parse_prompt("cat — dog —ar 16:9")
    assert parsed.text == "cat — dog"
    assert parsed.options.aspect == (16, 9)


# --- empty and length -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["", "   ", "\n\t ", "--ar 16:9", "--seed 3 --ar wide", " —seed 1 "]
)
def test_empty_prompt(raw: str) -> None:
    assert problem_of(raw) is PromptProblem.EMPTY


def test_exactly_max_length_is_ok() -> None:
    raw = "a" * MAX_PROMPT_CHARS
    assert MAX_PROMPT_CHARS == 500
    assert parse_prompt(raw).text == raw


def test_too_long() -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt("a" * (MAX_PROMPT_CHARS + 1))
    assert caught.value.problem is PromptProblem.TOO_LONG
    assert caught.value.detail == str(MAX_PROMPT_CHARS + 1)


def test_length_counts_the_prompt_without_options() -> None:
    raw = "a" * MAX_PROMPT_CHARS + " --seed 5 --ar 16:9"
    parsed = parse_prompt(raw)
    assert len(parsed.text) == MAX_PROMPT_CHARS
    assert parsed.options == DrawOptions(aspect=(16, 9), seed=5)


def test_prompt_error_is_a_value_error_with_problem_in_message() -> None:
    error = PromptError(PromptProblem.BAD_SEED, "x")
    assert isinstance(error, ValueError)
    assert str(error) == "bad_seed: x"
    assert str(PromptError(PromptProblem.EMPTY)) == "empty"


# --- DrawOptions JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        DrawOptions(),
        DrawOptions(aspect=(16, 9)),
        DrawOptions(seed=0),
        DrawOptions(aspect=(1, 4), seed=MAX_SEED),
    ],
)
def test_draw_options_json_round_trip(options: DrawOptions) -> None:
    restored = DrawOptions.from_json(options.to_json())
    assert restored == options


def test_draw_options_from_empty_json() -> None:
    assert DrawOptions.from_json("") == DrawOptions()
    assert DrawOptions.from_json("{}") == DrawOptions()


@given(
    aspect=st.none() | st.tuples(st.integers(1, 100), st.integers(1, 100)),
    seed=st.none() | st.integers(0, MAX_SEED),
)
def test_draw_options_json_round_trip_property(
    aspect: tuple[int, int] | None, seed: int | None
) -> None:
    options = DrawOptions(aspect=aspect, seed=seed)
    assert DrawOptions.from_json(options.to_json()) == options


# --- properties -------------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    ["--ar", "—ar", "–ar", "--seed", "—seed", "--ar=", "--seed=", "16:9", "wide", "0", "-3",
     "--", "—", "–", "cat", "=", ":", "x", "--foo", "1:5", str(2**63), " ", "\n"]
)
_ANY_TEXT = st.text() | st.lists(_TOKENS | st.text(max_size=3)).map(" ".join)


@given(raw=_ANY_TEXT)
@settings(max_examples=300)
def test_parse_never_raises_anything_but_prompt_error(raw: str) -> None:
    try:
        result = parse_prompt(raw)
    except PromptError as error:
        assert isinstance(error.problem, PromptProblem)
    else:
        assert isinstance(result, ParsedPrompt)
        assert result.text
        assert result.text == result.text.strip()
        assert len(result.text) <= MAX_PROMPT_CHARS


_NO_DASH_TEXT = st.text(
    alphabet=st.characters(exclude_characters=DASHES, exclude_categories=["Cs"])
)


@given(raw=_NO_DASH_TEXT)
@settings(max_examples=300)
def test_text_without_dashes_is_only_stripped(raw: str) -> None:
    """With no `-`, `—` or `–` there are no options: the prompt is the text, stripped."""
    stripped = raw.strip()
    if not stripped:
        assert problem_of(raw) is PromptProblem.EMPTY
    elif len(stripped) > MAX_PROMPT_CHARS:
        assert problem_of(raw) is PromptProblem.TOO_LONG
    else:
        parsed = parse_prompt(raw)
        assert parsed.text == stripped
        assert parsed.options == DrawOptions()


_WORD = st.text(
    alphabet=st.characters(exclude_characters=DASHES, exclude_categories=("Z", "C")),
    min_size=1,
    max_size=12,
)


@given(
    words=st.lists(_WORD, min_size=1, max_size=20),
    data=st.data(),
    seed=st.integers(0, MAX_SEED),
)
def test_inserted_options_leave_the_words(
    words: list[str], data: st.DataObject, seed: int
) -> None:
    """` --seed N` and ` --ar 16:9` inserted between words: same words, those options."""
    seed_at = data.draw(st.integers(0, len(words)), label="seed_at")
    ar_at = data.draw(st.integers(0, len(words)), label="ar_at")
    pieces: list[str] = []
    for index, word in enumerate(words):
        if index == seed_at:
            pieces.append(f"--seed {seed}")
        if index == ar_at:
            pieces.append("--ar 16:9")
        pieces.append(word)
    if seed_at == len(words):
        pieces.append(f"--seed {seed}")
    if ar_at == len(words):
        pieces.append("--ar 16:9")
    parsed = parse_prompt(" ".join(pieces))
    assert parsed.text == " ".join(words)
    assert parsed.options == DrawOptions(aspect=(16, 9), seed=seed)
