"""The Spanish catalogue cannot silently fall behind the pages: `messages.pot` is what the
templates and sources say today (else run `make i18n`), and every msgid has a reviewed Spanish
translation (not empty, not fuzzy) whose placeholders match."""
from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from requests_service.entrypoints import i18n
from requests_service.entrypoints.web import FLASH

SERVICE_DIR = Path(__file__).resolve().parents[2]
PACKAGE = SERVICE_DIR / "src" / "requests_service"


def _read(path: Path, **kwargs):
    with path.open("rb") as file:
        return read_po(file, **kwargs)


def _ids(catalog) -> set:
    return {message.id for message in catalog if message.id}


POT = _read(i18n.LOCALE_DIR / "messages.pot")
SPANISH = _read(i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po", locale="es")


def test_the_template_holds_exactly_what_the_pages_and_sources_mark_today():
    with (SERVICE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    extracted = set()
    for _, _, message, _, _ in extract_from_dir(SERVICE_DIR, method_map, options_map, keywords=DEFAULT_KEYWORDS):
        extracted.add(message if isinstance(message, str) else tuple(message))
    pot = {message if isinstance(message, str) else tuple(message) for message in _ids(POT)}
    assert extracted - pot == set(), "strings missing from messages.pot: run `make i18n`"
    assert pot - extracted == set(), "messages.pot has strings no page uses any more: run `make i18n`"


def test_every_msgid_has_a_reviewed_spanish_translation():
    spanish = {message.id: message for message in SPANISH if message.id}
    for msgid in _ids(POT):
        message = spanish.get(msgid)
        assert message is not None, f"not in the Spanish catalogue: {msgid!r}"
        assert "fuzzy" not in message.flags, f"fuzzy (not reviewed): {msgid!r}"
        forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
        assert len(forms) == (SPANISH.num_plurals if isinstance(msgid, tuple) else 1), msgid
        assert all(form and form.strip() for form in forms), f"empty translation: {msgid!r}"
    assert set(spanish) == _ids(POT), "obsolete entries in the Spanish catalogue: run `make i18n`"


def test_translations_keep_their_placeholders():
    problems = [(message.id, [str(error) for error in errors]) for message, errors in SPANISH.check()]
    assert problems == []


def _page_error_texts() -> set[str]:
    """The title and message of every error page this service raises or renders."""
    texts = set()
    for source in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "PageError":
                texts.update(arg.value for arg in node.args[1:3] if isinstance(arg, ast.Constant))
            elif name in ("render", "checked_form"):
                texts.update(kw.value.value for kw in node.keywords
                             if kw.arg in ("title", "message") and isinstance(kw.value, ast.Constant))
                if name == "checked_form":
                    texts.update(arg.value for arg in node.args[1:2] if isinstance(arg, ast.Constant))
    return texts


def test_every_error_page_of_the_service_is_in_the_catalogue():
    texts = _page_error_texts()
    assert {"Please sign in", "There is no such page.", "Users Managers only"} <= texts  # the scan works
    assert texts - _ids(POT) == set(), "mark these in entrypoints/i18n.py (EXTERNAL_MESSAGES)"


def test_the_flash_messages_a_requester_sees_are_in_the_catalogue():
    requester_keys = {"submitted", "logged_out", "contact_saved", "contact_unchanged"} & set(FLASH.messages)
    assert {"submitted", "logged_out"} <= requester_keys
    assert {FLASH.messages[key] for key in requester_keys} <= _ids(POT)
