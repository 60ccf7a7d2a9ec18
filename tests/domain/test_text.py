"""The one rule for text at every entrance: valid Unicode, no NUL, controls or noncharacters."""

from __future__ import annotations

import json

import pytest

from orchestrator.domain.text import escaped, shown, text_problem, text_problems


@pytest.mark.parametrize(
    "text",
    ["", "Ada", "Zoë 😀 日本", "tab\there", "two\nlines\r\n", "\u00a0\u200b\u2028", "\x7f"],
)
def test_ordinary_text_passes(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (json.loads('"\\ud83d"'), "lone surrogate (U+D83D) is not valid Unicode"),
        ("ok\udfff", "lone surrogate (U+DFFF)"),
        (json.loads('"a\\u0000b"'), "NUL (U+0000)"),
        ("bell\x07", "control character U+0007"),
        ("esc\x1b[31m", "control character U+001B"),
        ("\ufffe", "noncharacter U+FFFE"),
        ("\uffff", "noncharacter U+FFFF"),
        ("\ufdd0", "noncharacter U+FDD0"),
        ("\U0010ffff", "noncharacter U+10FFFF"),
    ],
)
def test_what_cannot_be_carried_is_refused_with_the_reason(text: str, says: str) -> None:
    reason = text_problem(text)
    assert reason is not None and says in reason


def test_problems_name_each_field_and_key_of_nested_data() -> None:
    data = {
        "external_id": "crm-1",
        "variables": {"note": "\ud83d", "ok": "fine", "bad\x00name": 1, "list": ["a", "\x01"]},
        "overrides": {"agent": {"first_message": "hi\ufffe"}},
    }
    problems = dict(text_problems(data))
    assert set(problems) == {
        "variables.note",
        "variables.bad\\u0000name",
        "variables.list.1",
        "overrides.agent.first_message",
    }
    assert problems["variables.bad\\u0000name"].startswith("the name has invalid text")
    assert [f for f, _ in text_problems({"note": "\x00"}, "call.variables")] == [
        "call.variables.note"
    ]
    assert text_problems(data["variables"]["ok"]) == []


def test_deep_nesting_is_walked_without_recursion() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(50_000):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    node["b"] = "\x00"
    [(field, _)] = text_problems(deep)
    assert field.endswith(".a.b")
    assert escaped(deep) is not None  # a bounded copy, never a RecursionError


def test_shown_and_escaped_make_stored_text_safe_to_answer_with() -> None:
    assert shown("a\ud83db\x00") == "a\\ud83db\\u0000"
    assert shown("plain") == "plain"
    copy = escaped({"k\ud800": ["\x00", 1, None, True], "n": 2.5})
    assert copy == {"k\\ud800": ["\\u0000", 1, None, True], "n": 2.5}
    json.dumps(copy).encode("utf-8")
    assert all(text_problem(s) is None for s in ("a\\ud83db\\u0000", "k\\ud800"))
