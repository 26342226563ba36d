"""Pseudonymisation, key handling, free-text redaction and direct-identifier names."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest

from socialquality.errors import PrivacyError
from socialquality.privacy import (
    DEMO_PSEUDONYM_KEY,
    DIRECT_IDENTIFIER_NAMES,
    EMAIL_REPLACEMENT,
    PHONE_REPLACEMENT,
    POSTCODE_REPLACEMENT,
    is_direct_identifier,
    pseudonymisation_key,
    pseudonymise,
    redact_text,
)

KEY = b"a-test-key-of-sufficient-length"


# ----------------------------------------------------------------------------- pseudonymise
def test_pseudonym_is_truncated_hmac_sha256_of_survey_and_id() -> None:
    result = pseudonymise(pd.Series(["R001", "R002"]), "wijkmonitor", KEY)
    expected = "p_" + hmac.new(KEY, b"wijkmonitor:R001", hashlib.sha256).hexdigest()[:20]
    assert result.iloc[0] == expected
    assert len(result.iloc[0]) == 22 and result.iloc[0] != result.iloc[1]


def test_pseudonym_long_key_matches_hmac_module() -> None:
    long_key = b"k" * 100  # longer than the SHA-256 block: hashed first (RFC 2104)
    result = pseudonymise(pd.Series(["7"]), "s", long_key)
    assert result.iloc[0] == "p_" + hmac.new(long_key, b"s:7", hashlib.sha256).hexdigest()[:20]


def test_pseudonym_depends_on_survey_and_key_not_on_id_type() -> None:
    as_text = pseudonymise(pd.Series(["123", " 123 "]), "wijkmonitor", KEY)
    as_int = pseudonymise(pd.Series([123, 123]), "wijkmonitor", KEY)
    as_float = pseudonymise(pd.Series([123.0, 123.0]), "wijkmonitor", KEY)  # SPSS/Stata numeric id
    assert as_text.tolist() == as_int.tolist() == as_float.tolist()
    assert as_text.iloc[0] != pseudonymise(pd.Series(["123"]), "deelnemersfeedback", KEY).iloc[0]
    assert as_text.iloc[0] != pseudonymise(pd.Series(["123"]), "wijkmonitor", b"another-key-16chars").iloc[0]
    assert pseudonymise(pd.Series(["00123"]), "wijkmonitor", KEY).iloc[0] != as_text.iloc[0]


def test_pseudonym_keeps_index_and_missing_ids() -> None:
    ids = pd.Series(["a", None, "", "a", np.nan], index=[5, 6, 7, 8, 9], name="resp_id")
    result = pseudonymise(ids, "wijkmonitor", KEY)
    assert list(result.index) == [5, 6, 7, 8, 9] and result.name == "resp_id"
    assert result.isna().tolist() == [False, True, True, False, True]
    assert result.iloc[0] == result.iloc[3]
    assert result.dtype == "str"


def test_pseudonymise_refuses_an_empty_key() -> None:
    with pytest.raises(PrivacyError):
        pseudonymise(pd.Series(["1"]), "wijkmonitor", b"")


def test_pseudonymise_is_fast_enough() -> None:
    import time

    ids = pd.Series(np.arange(100_000).astype(str))
    start = time.perf_counter()
    result = pseudonymise(ids, "wijkmonitor", KEY)
    assert time.perf_counter() - start < 2.0  # ~0.1 s expected; generous for a busy machine
    assert result.nunique() == len(ids)


# ----------------------------------------------------------------------------- key
def test_key_from_environment() -> None:
    assert pseudonymisation_key({"SOCIALQUALITY_PSEUDONYM_KEY": "0123456789abcdef"}) == b"0123456789abcdef"


def test_key_absent_in_production_is_refused() -> None:
    with pytest.raises(PrivacyError) as info:
        pseudonymisation_key({})
    assert str(info.value) == (
        "SOCIALQUALITY_PSEUDONYM_KEY is not set: production runs need a secret key of at least "
        "16 characters to pseudonymise respondent ids"
    )
    with pytest.raises(PrivacyError, match="is not set"):
        pseudonymisation_key({"SOCIALQUALITY_PSEUDONYM_KEY": "   "})


def test_key_absent_in_demo_uses_the_documented_demo_key() -> None:
    assert pseudonymisation_key({}, demo=True) == DEMO_PSEUDONYM_KEY
    # a real key wins over the demo key
    assert pseudonymisation_key({"SOCIALQUALITY_PSEUDONYM_KEY": "x" * 20}, demo=True) == b"x" * 20


def test_short_key_is_refused_even_in_demo() -> None:
    for demo in (False, True):
        with pytest.raises(PrivacyError, match="at least 16 characters"):
            pseudonymisation_key({"SOCIALQUALITY_PSEUDONYM_KEY": "short"}, demo=demo)


# ----------------------------------------------------------------------------- redact_text
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mail me: jan.de.vries@example.nl!", f"Mail me: {EMAIL_REPLACEMENT}!"),
        ("Bel me op 06-12345678 of 0612345678.", f"Bel me op {PHONE_REPLACEMENT} of {PHONE_REPLACEMENT}."),
        ("Mijn nummer is +31 6 12345678", f"Mijn nummer is {PHONE_REPLACEMENT}"),
        ("+31612345678 of 0031 6 1234 5678", f"{PHONE_REPLACEMENT} of {PHONE_REPLACEMENT}"),
        ("+31 (0)6 12 34 56 78", PHONE_REPLACEMENT),
        ("buurthuis 020-1234567, wijkagent 020 123 4567", f"buurthuis {PHONE_REPLACEMENT}, wijkagent {PHONE_REPLACEMENT}"),
        ("(020) 123 45 67 en 0111-123456", f"{PHONE_REPLACEMENT} en {PHONE_REPLACEMENT}"),
        ("tel.0612345678", f"tel.{PHONE_REPLACEMENT}"),
        ("Ik woon op 1234 AB, Utrecht", f"Ik woon op {POSTCODE_REPLACEMENT}, Utrecht"),
        ("postcode 3511KA of 3511ka", f"postcode {POSTCODE_REPLACEMENT} of {POSTCODE_REPLACEMENT}"),
        (
            "Tel: 06-1234 5678, mail: piet_1990@gmail.com, pc 3511 KA",
            f"Tel: {PHONE_REPLACEMENT}, mail: {EMAIL_REPLACEMENT}, pc {POSTCODE_REPLACEMENT}",
        ),
        ("12-03-2021 belde ik 0612345678", f"12-03-2021 belde ik {PHONE_REPLACEMENT}"),
        ("bel 020 123 4567 12 keer", f"bel {PHONE_REPLACEMENT} 12 keer"),
    ],
)
def test_redacts_contact_details(text: str, expected: str) -> None:
    assert redact_text(pd.Series([text])).iloc[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "In 2019 kostte het € 1.250 en in 2020 € 1.300,50",
        "Op 01-01-2020 10:00 was er een feest in de buurt",
        "Sinds 2021-03-15 (15/03/2021) is het buurthuis dicht",
        "Het ging in 2019 en 2020 beter",
        "Er wonen 12000 mensen, 1500km fietspad, 2000 mg",
        "Ordernummer 123456789012 en 06123456789 (te lang voor een telefoonnummer)",
        "Het buurthuis is open van 9.00 tot 17.30 uur, 3 dagen per week",
        "Score 7,5 en een 8; 45% tevreden",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(pd.Series([text])).iloc[0] == text


def test_redact_keeps_missing_index_and_dtype() -> None:
    series = pd.Series(["mail a@b.nl", None, "niets"], index=[3, 4, 5], dtype="str", name="opmerking")
    result = redact_text(series)
    assert result.tolist()[0] == EMAIL_REPLACEMENT.join(["mail ", ""])
    assert pd.isna(result.iloc[1]) and result.iloc[2] == "niets"
    assert list(result.index) == [3, 4, 5] and result.name == "opmerking" and result.dtype == series.dtype
    objects = redact_text(pd.Series(["bel 0612345678", np.nan, 12], dtype=object))
    assert objects.iloc[0] == f"bel {PHONE_REPLACEMENT}" and pd.isna(objects.iloc[1]) and objects.iloc[2] == 12


# ----------------------------------------------------------------------------- identifier names
def test_direct_identifier_names() -> None:
    assert {"naam", "name", "email", "e_mail", "e-mail", "telefoon", "telefoonnummer", "phone", "adres",
            "address", "straat", "huisnummer", "postcode", "bsn"} <= DIRECT_IDENTIFIER_NAMES
    for column in ("E-mail", " Naam ", "BSN", "e mail", "TelefoonNummer", "E_MAIL"):
        assert is_direct_identifier(column), column
    for column in ("resp_id", "wijkcode", "leeftijd", "opmerking", "dj_leegte"):
        assert not is_direct_identifier(column), column
