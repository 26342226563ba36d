"""Privacy safeguards: pseudonymised respondent ids, redacted free text, direct identifiers.

- `pseudonymise`: respondent ids become `p_` + the first 20 hex characters of
  HMAC-SHA256(key, f"{survey}:{id}"). Without the key the raw id cannot be recovered or
  re-derived; with the same key the same respondent keeps the same pid across runs.
- `pseudonymisation_key`: the key comes from the environment variable
  `SOCIALQUALITY_PSEUDONYM_KEY` (at least 16 characters). Demo runs without it use the public
  `DEMO_PSEUDONYM_KEY`, which protects nothing and must never be used for real data.
- `redact_text`: personal data in free text: e-mail addresses (also written `piet(at)gmail(dot)com`),
  Dutch and Belgian phone numbers (libphonenumber via `phonenumbers`), BSNs (9 digits passing the
  11-test, python-stdnum), IBANs (valid check digits, python-stdnum), street + house number,
  postcodes, birth dates, and personal names after a cue ("mijn naam is", "buurman", "mevrouw", ...).
  Recall and precision are measured on a labelled set of Dutch answers (tests/test_redaction.py).
- `DIRECT_IDENTIFIER_NAMES` / `is_direct_identifier`: column names that are dropped on read even
  when the codebook's `drop_columns` forgets them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from socialquality.errors import PrivacyError

KEY_ENV_VAR = "SOCIALQUALITY_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 16
# Public, fixed, documented: only for the demo data (docs: never for real respondents).
DEMO_PSEUDONYM_KEY = b"socialquality-demo-key-NOT-SECRET"
PID_PREFIX = "p_"
PID_HEX_CHARS = 20

EMAIL_REPLACEMENT = "[e-mail verwijderd]"
PHONE_REPLACEMENT = "[telefoonnummer verwijderd]"
POSTCODE_REPLACEMENT = "[postcode verwijderd]"

DIRECT_IDENTIFIER_NAMES: frozenset[str] = frozenset(
    {
        "naam", "name", "voornaam", "achternaam",
        "email", "e_mail", "e-mail", "emailadres", "e-mailadres", "e_mailadres",
        "telefoon", "telefoonnummer", "telefoonnr", "phone", "mobiel",
        "adres", "address", "woonadres", "straat", "straatnaam", "huisnummer", "postcode",
        "bsn",
    }
)


def is_direct_identifier(column: str) -> bool:
    """True for a column name in DIRECT_IDENTIFIER_NAMES (case, surrounding whitespace, and
    ` `/`-`/`_` spelling variants ignored: 'E-mail', 'e mail', 'E_MAIL')."""
    name = str(column).strip().lower()
    variants = {name, name.replace(" ", "_"), name.replace("-", "_"), name.replace(" ", "").replace("-", "").replace("_", "")}
    return bool(variants & DIRECT_IDENTIFIER_NAMES)


# ----------------------------------------------------------------------------- key
def pseudonymisation_key(environ: Mapping[str, str] = os.environ, demo: bool = False) -> bytes:
    """The secret pseudonymisation key from `SOCIALQUALITY_PSEUDONYM_KEY`.

    An empty value counts as not set. When not set: demo runs get DEMO_PSEUDONYM_KEY, production
    runs raise PrivacyError. A key shorter than 16 characters is refused in both cases."""
    value = environ.get(KEY_ENV_VAR)
    if value is None or value.strip() == "":
        if demo:
            return DEMO_PSEUDONYM_KEY
        raise PrivacyError(
            f"{KEY_ENV_VAR} is not set: production runs need a secret key of at least "
            f"{MIN_KEY_LENGTH} characters to pseudonymise respondent ids"
        )
    if len(value) < MIN_KEY_LENGTH:
        raise PrivacyError(
            f"{KEY_ENV_VAR} is too short ({len(value)} characters): use a secret key of at least "
            f"{MIN_KEY_LENGTH} characters to pseudonymise respondent ids"
        )
    if not demo:
        weakness = key_weakness(value)
        if weakness:
            raise PrivacyError(f"{KEY_ENV_VAR} {weakness}; production runs (demo: false) need a random secret, "
                               "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return value.encode("utf-8")


# A production key must carry at least this much estimated entropy (bits): 16 random
# alphanumeric characters carry ~95, `secrets.token_urlsafe(32)` ~256.
MIN_KEY_BITS = 64


def key_weakness(value: str) -> str | None:
    """Why a key is unfit for HMAC in production (None: fit): the public demo key (or a variant of
    it), one repeated character or block, a plain run of characters, or too little estimated
    entropy (length x log2 of the character classes used, capped by the distinct characters)."""
    import math

    text = value.strip()
    if text.encode("utf-8") == DEMO_PSEUDONYM_KEY or "not-secret" in text.casefold() or \
            "socialquality-demo" in text.casefold():
        return "is the public demo key, which protects nothing"
    if len(set(text)) <= 2:
        return "repeats one or two characters"
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return f"repeats the block {text[:size]!r}"
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    if len(steps) == 1:
        return "is a plain run of characters"
    pool = sum(size for test, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10)) if any(test(c) for c in text))
    pool += 33 if any(not c.isalnum() for c in text) else 0
    distinct = len(set(text))
    bits = min(len(text) * math.log2(max(pool, 2)), distinct * math.log2(max(pool, 2)) * 1.5)
    if bits < MIN_KEY_BITS:
        return f"is too simple (about {bits:.0f} bits of entropy, at least {MIN_KEY_BITS} needed)"
    return None


# ----------------------------------------------------------------------------- pseudonyms
def _hmac_pads(key: bytes) -> tuple["hashlib._Hash", "hashlib._Hash"]:
    """Pre-keyed inner/outer SHA-256 states (RFC 2104), copied per message: 2x faster than
    hmac.new per value, identical output."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def normalise_id(value: object) -> str | None:
    """The text form of a delivered respondent id: stripped; a whole-number float (SPSS/Stata
    store numeric ids as doubles) without '.0', so 123, 123.0 and '123' give the same pid.
    Leading zeros are kept ('00123' is not 123). NA -> None."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text if text else None


def _id_texts(ids: pd.api.extensions.ExtensionArray | np.ndarray) -> np.ndarray:
    """normalise_id over ids, vectorised for text and numeric ids (object array, None = NA)."""
    values = pd.Series(ids)
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        text = values.str.strip()
        return text.mask(text == "").to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("str").to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_float_dtype(values.dtype):
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(array) & (np.mod(array, 1) == 0) & (np.abs(array) < 2**53)
        out = pd.Series(np.where(whole, array, 0).astype("int64")).astype("str").to_numpy(dtype=object)
        out[~whole] = [normalise_id(v) for v in array[~whole]]
        return out
    return np.array([normalise_id(v) for v in values.to_numpy(dtype=object)], dtype=object)


def pseudonymise(ids: pd.Series, survey: str, key: bytes) -> pd.Series:
    """Keyed pseudonyms `p_` + HMAC-SHA256(key, f"{survey}:{id}")[:20 hex] (same index; NA/empty
    ids stay NA; ids normalised as in normalise_id). About 1-2 s per million ids."""
    if not isinstance(key, (bytes, bytearray)) or len(key) == 0:
        raise PrivacyError("pseudonymise needs a non-empty key (bytes)")
    inner, outer = _hmac_pads(bytes(key))
    inner.update(f"{survey}:".encode("utf-8"))  # every message starts with the survey
    copy_inner, copy_outer = inner.copy, outer.copy

    def pid(text: str | None) -> str | None:
        if text is None:
            return None
        i = copy_inner()
        i.update(text.encode("utf-8"))
        o = copy_outer()
        o.update(i.digest())
        return PID_PREFIX + o.hexdigest()[:PID_HEX_CHARS]

    pids = [pid(text) for text in _id_texts(ids.array)]
    return pd.Series(pids, index=ids.index, name=ids.name, dtype="str")


# ----------------------------------------------------------------------------- free text
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")

_SEP = r"(?:[ \u00a0]?[\-./][ \u00a0]?|[ \u00a0])"
PHONE_CANDIDATE = re.compile(
    r"(?<![\w@+])(?<!\d[\-./])"  # not glued to a word, an e-mail or another number/date
    r"(?:"
    r"(?:\+|00)[ \u00a0]?31[ \u00a0\-.]?(?:\(0\)[ \u00a0\-.]?)?\d"  # +31 6 / 0031 20 / +31 (0)6
    r"|\(0\d{1,3}\)[ \u00a0]?\d"  # (020) 123 4567
    r"|0\d"  # 06..., 020...
    r")"
    rf"(?:{_SEP}?\d){{6,12}}"
)
_DATE_INSIDE = re.compile(r"\d{1,2}[\-./]\d{1,2}[\-./](?:19|20)\d{2}|(?:19|20)\d{2}[\-./]\d{1,2}[\-./]\d{1,2}")
# 1234 AB / 1234AB / 1234ab (not 1234 ab: "in 2019 en"); SA, SD, SS are not used in postcodes;
# glued lower-case units (1500km, 2000mg) are no postcodes.
POSTCODE_PATTERN = re.compile(
    r"\b[1-9]\d{3}(?: ?(?!SA|SD|SS)[A-Z]{2}|(?!sa|sd|ss|km|kg|mg|ml|cm|mm|ms|am|pm|uu|st)[a-z]{2})\b"
)


def _national_digits(candidate: str) -> str:
    """The digits of a phone-number candidate in national form (leading 0, no country code)."""
    digits = re.sub(r"\D", "", candidate)
    stripped = candidate.lstrip()
    if stripped.startswith("+") or stripped.startswith("00"):
        digits = digits[4:] if stripped.startswith("00") else digits[2:]  # drop 0031 / 31
        if not digits.startswith("0"):
            digits = "0" + digits  # +31 6 ... -> 06 ...; a written '(0)' already is the 0
    return digits


def _phone_end(text: str, start: int, end: int) -> int | None:
    """End of the Dutch phone number (10 national digits, 0 then not 0) that starts at `start`
    within the candidate text[start:end], or None. A candidate holding a date is no phone."""
    for idx in range(start, end):
        if not text[idx].isdigit() or (idx + 1 < len(text) and text[idx + 1].isdigit()):
            continue
        candidate = text[start : idx + 1]
        digits = _national_digits(candidate)
        if len(digits) < 10:
            continue
        if len(digits) == 10 and digits[1] != "0" and not _DATE_INSIDE.search(candidate):
            return idx + 1
        return None
    return None


def _redact_phones(text: str) -> str:
    parts: list[str] = []
    pos = 0
    while True:
        match = PHONE_CANDIDATE.search(text, pos)
        if match is None:
            break
        phone_end = _phone_end(text, match.start(), match.end())
        if phone_end is None:
            parts.append(text[pos : match.start() + 1])
            pos = match.start() + 1
            continue
        parts.append(text[pos : match.start()])
        parts.append(PHONE_REPLACEMENT)
        pos = phone_end
    parts.append(text[pos:])
    return "".join(parts)


BSN_REPLACEMENT = "[BSN verwijderd]"
IBAN_REPLACEMENT = "[rekeningnummer verwijderd]"
ADDRESS_REPLACEMENT = "[adres verwijderd]"
DATE_REPLACEMENT = "[datum verwijderd]"
NAME_REPLACEMENT = "[naam verwijderd]"

# piet(at)gmail(dot)com, piet [at] gmail [punt] nl, piet at gmail dot com, piet apenstaartje gmail punt com
OBFUSCATED_EMAIL = re.compile(
    r"(?i)\b[\w.+\-]+\s*(?:\(at\)|\[at\]|\{at\}|\s(?:at|apenstaartje)\s|@)\s*[\w\-]+"
    r"(?:\s*(?:\(dot\)|\[dot\]|\(punt\)|\[punt\]|\s(?:dot|punt)\s|\.)\s*[\w\-]+)*"
    r"\s*(?:\(dot\)|\[dot\]|\(punt\)|\[punt\]|\s(?:dot|punt)\s)\s*(?:com|nl|be|org|net|eu|info|de)\b")
IBAN_CANDIDATE = re.compile(r"(?i)\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,3})?\b")
BSN_CANDIDATE = re.compile(r"(?<![\d.,\-/])(?:\d{9}|\d{4}[ .]\d{2}[ .]\d{3}|\d{3}[ .]\d{3}[ .]\d{3})(?!\d|[.,]\d)")
_STREET_SUFFIX = (r"straat|str\.|laan|weg|plein|gracht|kade|singel|dijk|hof|dreef|steeg|pad|park|markt|baan|"
                  r"kant|wal|erf|veld|dam|haven|ring|plantsoen|boulevard|allee|lei|steenweg|hage|burcht|horst|"
                  r"akker|donk|wijk|zoom|berg|brink|kamp|hoeve|gaarde|straatweg|oord|acker|dreef")
STREET_ADDRESS = re.compile(
    rf"\b(?:(?:[Vv]an|[Dd]e|[Dd]en|[Dd]er|[Tt]er|[Tt]en|[Ss]int|St\.)\s+)*[A-Z][\w\-'’.]*?(?:{_STREET_SUFFIX})"
    r"\s+\d{1,4}(?:\s?[-/]?\s?(?:[a-zA-Z]|\d{1,3}|hs|bis|I{1,3}))?\b(?!\s*(?:uur|euro|jaar|keer|km|%|minuten))")
_MONTHS = r"januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|jan|feb|mrt|apr|jun|jul|aug|sep|sept|okt|nov|dec"
FULL_DATE = re.compile(
    rf"(?i)\b(?:\d{{1,2}}[\-/.]\d{{1,2}}[\-/.](?:19|20)\d{{2}}|(?:19|20)\d{{2}}[\-/.]\d{{1,2}}[\-/.]\d{{1,2}}"
    rf"|\d{{1,2}}\s+(?:{_MONTHS})\.?\s+(?:19|20)\d{{2}})\b")
BIRTH_CUE = re.compile(r"(?i)(?:geboren|geboortedatum|geb\.|geb\s|jarig|verjaardag|birth|born)")
_NAME = r"[A-Z][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?"
_PARTICLE = r"(?:van der|van den|van de|van|de|der|den|ter|ten|te|el|al)"
NAME_AFTER_CUE = re.compile(
    r"(?:(?i:mijn naam is|ik heet|naam:|heet|genaamd|groeten?,?|groet van|mvg,?|met vriendelijke groet,?|"
    r"gr\.?,?|meneer|mevrouw|mevr\.|mw\.|dhr\.|de heer|buurman|buurvrouw|buren|overbuurman|overbuurvrouw|"
    r"wijkagent|wijkcoach|opbouwwerker|huisarts|dokter|juf|meester|zoon|dochter|man|vrouw|moeder|vader|"
    r"ik ben|contact met|bellen met|gesproken met|vraag naar)\s+)"
    rf"({_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME})?(?:\s+{_PARTICLE}\s+{_NAME})?)")
# Capitalised words after a cue that are not names (sentence words, places, organisations).
_NOT_NAMES = frozenset({
    "Ik", "Het", "De", "Een", "Dat", "Dit", "Er", "Wij", "We", "Zij", "Ze", "Hij", "Mijn", "Onze", "Goed", "Blij",
    "Niet", "Wel", "Geen", "Nee", "Ja", "Bij", "In", "Op", "Met", "Van", "Voor", "Na", "Al", "Ook", "Nog", "Erg",
    "Heel", "Zeer", "Tevreden", "Ontevreden", "Bang", "Alleen", "Eenzaam", "Oud", "Ziek", "Moe", "Trots", "Gemeente",
    "Politie", "Buurt", "Wijk", "Stad", "Amsterdam", "Rotterdam", "Utrecht", "Den", "Nederland", "Hallo", "Beste",
})


def _valid_bsn(digits: str) -> bool:
    from stdnum.nl import bsn

    return bsn.is_valid(digits)


def _redact_ibans(text: str) -> str:
    from stdnum import iban

    def replace(match: re.Match[str]) -> str:
        return IBAN_REPLACEMENT if iban.is_valid(match.group(0)) else match.group(0)

    return IBAN_CANDIDATE.sub(replace, text)


def _redact_bsns(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return BSN_REPLACEMENT if _valid_bsn(digits) else match.group(0)

    return BSN_CANDIDATE.sub(replace, text)


def _redact_international_phones(text: str) -> str:
    """Phone numbers that libphonenumber (phonenumbers) finds as valid Dutch or Belgian numbers,
    including +32 / 0032 and Belgian national forms (0470 12 34 56)."""
    import phonenumbers

    if not any(ch.isdigit() for ch in text):
        return text
    spans = []
    for region in ("NL", "BE"):
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            if _DATE_INSIDE.search(match.raw_string):
                continue
            spans.append((match.start, match.end))
    if not spans:
        return text
    spans.sort()
    parts, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        parts.append(text[pos:start])
        parts.append(PHONE_REPLACEMENT)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _redact_dates(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        before = text[max(0, match.start() - 40): match.start()]
        years = re.findall(r"(?:19|20)\d{2}", match.group(0))
        old = bool(years) and int(years[-1]) <= 2008  # a full date that long ago in an answer: most likely a birth date
        return DATE_REPLACEMENT if BIRTH_CUE.search(before) or old else match.group(0)

    return FULL_DATE.sub(replace, text)


def _redact_names(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        words = name.split()
        surname_particle = words[0] in {"De", "Van", "Den", "Ter", "Ten"} and len(words) > 1
        if words[0] in _NOT_NAMES and not surname_particle:
            return match.group(0)
        return match.group(0)[: match.start(1) - match.start(0)] + NAME_REPLACEMENT

    return NAME_AFTER_CUE.sub(replace, text)


def redact_string(text: str) -> str:
    """Redact one string (see redact_text)."""
    text = EMAIL_PATTERN.sub(EMAIL_REPLACEMENT, text)
    text = OBFUSCATED_EMAIL.sub(EMAIL_REPLACEMENT, text)
    text = _redact_ibans(text)
    text = _redact_dates(text)
    text = _redact_bsns(text)
    text = _redact_phones(text)
    text = _redact_international_phones(text)
    text = STREET_ADDRESS.sub(ADDRESS_REPLACEMENT, text)
    text = POSTCODE_PATTERN.sub(POSTCODE_REPLACEMENT, text)
    return _redact_names(text)


def redact_text(series: pd.Series) -> pd.Series:
    """Free text with e-mail addresses, Dutch phone numbers (06-12345678, 0612345678,
    +31 6 12345678, 020-1234567, 020 123 4567, (020) 123 45 67, 0031 ...) and Dutch postcodes
    (1234 AB, 1234AB) replaced by '[e-mail verwijderd]', '[telefoonnummer verwijderd]',
    '[postcode verwijderd]'. Years, amounts (€ 1.250), dates and times are left alone; a number
    counts as a phone number only when it has exactly the 10 digits of a Dutch number. NA stays
    NA; non-text values are returned unchanged. Street names with house numbers are not detected."""
    values = series.to_numpy(dtype=object, na_value=None)
    out = np.array([redact_string(v) if isinstance(v, str) else v for v in values], dtype=object)
    result = pd.Series(out, index=series.index, name=series.name)
    if pd.api.types.is_string_dtype(series.dtype) and not isinstance(series.dtype, np.dtype):
        result = result.astype(series.dtype)
    return result
