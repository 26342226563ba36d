"""Languages of everything a reader sees: message catalogues and locale formatting (issue 10).

One installation writes its reports in one language, chosen in the configuration
(``language: nl | en``). Texts in code and templates are the Dutch originals, marked for
translation; the English texts live in the GNU gettext catalogue
``socialquality/locale/en/LC_MESSAGES/messages.po`` (Babel reads it on first use, so no compiled
``.mo`` file is kept in git). Numbers, percentages and dates are formatted with Babel from the
locale's CLDR data (``nl_NL``: 1.234,5; ``en_GB``: 1,234.5), with a real minus sign (U+2212).

Usage in Python::

    from socialquality.i18n import _, ngettext, use_language
    with use_language("en"):
        _("Meting %(wave)s", wave=2023)          # -> "Wave 2023"

In Jinja templates (``jinja2.ext.i18n``, new-style gettext, installed by :func:`install_jinja`)::

    {{ _("Meting %(wave)s", wave=w) }}   {% trans n=count %}...{% pluralize %}...{% endtrans %}

``make messages`` extracts the marked texts with ``pybabel extract`` (``babel.cfg``) and merges them
into the catalogue; ``tests/test_i18n.py`` fails on a text without an English translation.

A text that must be marked where it is defined but translated later (module constants, labels in
dicts) uses :func:`N_` and is passed through :func:`_` where it is shown.
"""

from __future__ import annotations

import gettext as _gettext
import io
import math
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from babel import Locale
from babel.dates import format_date as _format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as _format_decimal
from babel.support import Translations

LANGUAGES: tuple[str, ...] = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
SOURCE_LANGUAGE = "nl"  # the msgids are the Dutch texts
LOCALES = {"nl": "nl_NL", "en": "en_GB"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
MINUS = "\u2212"
DASH = "\u2013"  # "no figure": suppressed, unknown or not applicable

_current: ContextVar[str] = ContextVar("socialquality_language", default=DEFAULT_LANGUAGE)


def check_language(lang: str | None) -> str:
    """Return a supported language code or raise ValueError with the allowed ones."""
    code = (lang or DEFAULT_LANGUAGE).strip().lower()
    if code not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not supported; use one of: {', '.join(LANGUAGES)}")
    return code


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(lang: str) -> _gettext.NullTranslations:
    """The gettext translations of one language (identity for the source language, Dutch)."""
    lang = check_language(lang)
    if lang == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    path = catalogue_path(lang)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=LOCALES[lang], domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def language() -> str:
    """The language of the texts being produced now."""
    return _current.get()


def locale() -> Locale:
    return Locale.parse(LOCALES[language()])


@contextmanager
def use_language(lang: str | None) -> Iterator[str]:
    """Produce texts in `lang` inside the block (context-local: safe with threads and asyncio)."""
    token = _current.set(check_language(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def _(message: str, **values: Any) -> str:
    """Translate `message` (a Dutch msgid) into the current language; %(name)s placeholders."""
    text = translations(language()).gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """Singular or plural by `n`; `n` is available as %(num)s."""
    text = translations(language()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def pgettext(context: str, message: str, **values: Any) -> str:
    """Translate a short text whose meaning depends on `context` (e.g. a column header)."""
    text = translations(language()).pgettext(context, message)
    return text % values if values else text


def N_(message: str) -> str:
    """Mark a text for extraction without translating it here (translate where it is shown)."""
    return message


def install_jinja(env: Any, lang: str | None = None) -> None:
    """Give a Jinja environment `_`, `gettext`, `ngettext`, `pgettext` and the number filters.

    With `lang` None the templates follow :func:`language` at render time.
    """
    env.add_extension("jinja2.ext.i18n")
    if lang is None:
        env.install_gettext_callables(
            lambda m: translations(language()).gettext(m),
            lambda s, p, n: translations(language()).ngettext(s, p, n),
            pgettext=lambda c, m: translations(language()).pgettext(c, m),
            newstyle=True,
        )
    else:
        env.install_gettext_translations(translations(check_language(lang)), newstyle=True)
    env.filters.setdefault("num", fmt_number)
    env.filters.setdefault("percent", fmt_percent)


# ---------------------------------------------------------------------------
# locale formatting
# ---------------------------------------------------------------------------


def is_missing(x: Any) -> bool:
    """True for None, NaN, pd.NA, NaT and non-numbers."""
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def fmt_number(x: Any, decimals: int = 1, *, sign: bool = False, missing: str = DASH) -> str:
    """A number in the current locale: nl 1234.56 -> "1.234,6", en -> "1,234.6".

    A value that rounds to zero has no sign; negatives get a real minus sign (U+2212);
    ``sign=True`` adds "+" to positives. Missing values give `missing`.
    """
    if is_missing(x):
        return missing
    value = float(x)
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    text = _format_decimal(abs(value), format=pattern, locale=LOCALES[language()],
                           decimal_quantization=True)
    is_zero = round(abs(value), decimals) == 0.0
    if value < 0 and not is_zero:
        return MINUS + text
    if sign and not is_zero:
        return "+" + text
    return text


def fmt_percent(p: Any, decimals: int = 1, *, sign: bool = False, missing: str = DASH) -> str:
    """A proportion 0-1 as a percentage: nl 0.423 -> "42,3%", en -> "42.3%"."""
    if is_missing(p):
        return missing
    return fmt_number(100.0 * float(p), decimals, sign=sign) + "%"


def fmt_date(value: date | datetime | str, form: str = "long") -> str:
    """A date in the current locale: nl "1 december 2026", en "1 December 2026"."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return _format_date(value, format=form, locale=LOCALES[language()])


# ---------------------------------------------------------------------------
# texts from the research department's own files (YAML cannot go through gettext)
# ---------------------------------------------------------------------------


def localised(nl: str, en: str | None = None) -> str:
    """A text written in the installation's files (indicator labels, question wording, intervention
    names) in the current language.

    The Dutch text is always there; the English one comes from the file's ``*_en`` field. When it is
    missing, a text that is one of our own msgids (the default theme names) is translated from the
    catalogue, anything else is shown in Dutch with a visible flag ("… (Dutch only)") rather than
    silently mixing languages.
    """
    lang = language()
    if lang == SOURCE_LANGUAGE or not nl:
        return nl
    if en:
        return en
    translated = translations(lang).gettext(nl)
    if translated != nl:
        return translated
    return _("%(text)s (alleen in het Nederlands)", text=nl)


def untranslated(nl: str, en: str | None = None) -> bool:
    """True when `nl` has no English text (neither an ``*_en`` field nor a catalogue entry)."""
    return not en and translations("en").gettext(nl) == nl


def lower_first(text: str) -> str:
    """A label inside a sentence: "Eenzaam (De Jong Gierveld, ...)" -> "eenzaam (De Jong Gierveld, ...)".

    Only the first letter is lowered, so proper names inside stay as written; a first word in
    capitals (an acronym such as "CBS" or "GP") is left alone.
    """
    if not text or text[1:2].isupper():
        return text
    return text[:1].lower() + text[1:]
