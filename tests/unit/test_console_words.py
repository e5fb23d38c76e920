"""The console's words (console/*.js, index.html): every key in English, Spanish and Portuguese,
every key the console asks for registered, no word left untranslated by mistake."""

from __future__ import annotations

import re
from typing import get_args

from handoff.engine.model import LineKind, TranscriptEntry
from handoff_tools.functions import ROOT

CONSOLE = ROOT / "console"
LANGUAGES = ("en", "es", "pt")
BLOCK = re.compile(r"^register\(\{\n(?P<body>.*?)^\}\);", re.S | re.M)
LANGUAGE = re.compile(r"^  (?P<language>en|es|pt): \{(?P<words>.*?)\},?$", re.S | re.M)
WORD = re.compile(r'^\s*"(?P<key>[a-zA-Z_.]+)": "(?P<text>(?:[^"\\]|\\.)*)",?[ \t]*$', re.M)
USED = re.compile(r'\bt\(\s*"(?P<key>[a-zA-Z_.]+)"')
FAMILY = re.compile(r"\bt\(\s*`(?P<prefix>[a-zA-Z_]+\.)\$\{")
PAGE_KEYS = re.compile(r'data-i18n(?:-placeholder|-label)?="(?P<key>[a-zA-Z_.]+)"')


COMMENT = re.compile(r"(^|\s)//.*$", re.M)


def scripts() -> dict[str, str]:
    """The console's modules, their comments left out."""
    return {path.name: COMMENT.sub("", path.read_text()) for path in sorted(CONSOLE.glob("*.js"))}


def registered() -> dict[str, dict[str, str]]:
    """Every module's words, by language; a key registered twice is a mistake."""
    found: dict[str, dict[str, str]] = {language: {} for language in LANGUAGES}
    for name, source in scripts().items():
        for block in BLOCK.finditer(source):
            body = block["body"]
            parts = [(m["language"], m["words"]) for m in LANGUAGE.finditer(body)]
            assert sorted(language for language, _ in parts) == sorted(LANGUAGES), name
            for language, words in parts:
                for word in WORD.finditer(words.replace(", ", ",\n")):
                    assert word["key"] not in found[language], f"{word['key']} registered twice ({name})"
                    found[language][word["key"]] = word["text"]
    return found


def test_every_word_is_in_english_spanish_and_portuguese() -> None:
    words = registered()
    assert len(words["en"]) > 50
    for language in ("es", "pt"):
        assert words[language].keys() == words["en"].keys(), language
        for key, text in words[language].items():
            # the same placeholders, so no value is lost in a translation
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", words["en"][key])), key


def test_every_word_the_console_asks_for_is_registered() -> None:
    english = registered()["en"]
    asked = {m["key"] for source in scripts().values() for m in USED.finditer(source)}
    asked |= set(PAGE_KEYS.findall((CONSOLE / "index.html").read_text()))
    assert asked, "the console asks for no word: the pattern no longer matches"
    assert sorted(asked - english.keys()) == []


def test_the_words_made_from_a_value_exist_for_every_value() -> None:
    """t(`kind.${entry.kind}`) and t(`author.${entry.author}`): every kind and author the Live API sends."""
    english = registered()["en"]
    families = {m["prefix"] for source in scripts().values() for m in FAMILY.finditer(source)}
    assert {"kind.", "author."} <= families
    kinds = {kind for part in get_args(LineKind) for kind in get_args(part)}
    authors = set(get_args(TranscriptEntry.model_fields["author"].annotation))
    assert kinds and authors
    assert sorted(f"kind.{kind}" for kind in kinds if f"kind.{kind}" not in english) == []
    assert sorted(f"author.{author}" for author in authors if f"author.{author}" not in english) == []


def test_the_spanish_and_portuguese_words_are_translated() -> None:
    """A word the same in all three is a name or a number (WhatsApp, Bot, {m} min), not a slip."""
    words = registered()
    same = {key for key, text in words["en"].items() if words["es"][key] == text and words["pt"][key] == text}
    allowed = {key for key in same if not re.search(r"[a-z]{4,}", re.sub(r"\{\w+\}", "", words["en"][key]))}
    allowed |= {"author.bot", "kind.audio"} & same  # the same word in the three languages
    assert sorted(same - allowed) == []


def test_the_page_names_only_modules_that_exist() -> None:
    page = (CONSOLE / "index.html").read_text()
    assert '<script type="module" src="main.js"></script>' in page
    imported = {m for source in scripts().values() for m in re.findall(r'from "\./([a-z]+\.js)"', source)}
    assert imported <= set(scripts()), sorted(imported - set(scripts()))
