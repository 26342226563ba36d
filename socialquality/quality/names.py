"""Readable names of the quality rules, check outcomes and statuses, in the page language.

Auditors read a rule by its name ("bekende wijk" / "known district") and match it to Great
Expectations and the warehouse by its code (``known_district``): pages show both, the name first
and the code in a secondary ``<code>``. A rule a research department adds under a new code has no
name here; it is shown by its code with underscores as spaces.
"""

from __future__ import annotations

from typing import Any

from socialquality.i18n import N_, _, fmt_number, ngettext

#: the row and dataset rules (expectations/custom, socialquality.quality, ingest rules)
RULE_NAMES: dict[str, str] = {
    "required_columns": N_("verplichte kolommen aanwezig"),
    "respondent_id_present": N_("respondentnummer ingevuld"),
    "unique_respondent": N_("respondent niet dubbel"),
    "district_present": N_("wijk ingevuld"),
    "known_district": N_("bekende wijk"),
    "allowed_codes": N_("toegestane antwoordcode"),
    "minimum_age": N_("minimumleeftijd"),
    "value_range": N_("waarde binnen het bereik"),
    "speeder": N_("vragenlijst te snel ingevuld"),
    "straightlining": N_("steeds hetzelfde antwoord in een vragenblok"),
    "complete_row": N_("rij volledig genoeg"),
    "parseable_value": N_("getal leesbaar"),
    "whole_number": N_("geheel getal op een schaal"),
    "min_respondents_per_district": N_("wijken met te weinig respondenten"),
    "max_missing_share": N_("niet te veel ontbrekende antwoorden"),
    "fieldwork_dates": N_("invuldatum binnen het veldwerk"),
    "sample_composition": N_("samenstelling van de steekproef"),
    "duplicate_answer_pattern": N_("dubbele antwoordpatronen"),
    "max_quarantine_share": N_("niet te veel rijen apart gezet"),
    "min_clean_respondents": N_("genoeg bruikbare respondenten"),
    "custom_rules_present": N_("regels van de onderzoeksafdeling aanwezig"),
}

#: a check's outcome (socialquality.quality.model.CheckResult.status)
CHECK_STATUS: dict[str, str] = {
    "passed": N_("geslaagd"), "failed": N_("mislukt"), "not_applicable": N_("niet van toepassing"),
    "error": N_("fout bij uitvoeren"),
}

#: how heavy a failed rule weighs (socialquality.quality.model.SEVERITIES)
SEVERITY: dict[str, str] = {
    "blocking_row": N_("rij apart zetten"), "blocking_dataset": N_("meting blokkeren"),
    "warning": N_("alleen melden"), "warn": N_("waarschuwing"), "error": N_("fout"),
}

#: the status of a wave, a delivered file or a row
STATUS: dict[str, str] = {
    "usable": N_("bruikbaar"), "blocked": N_("geblokkeerd"), "loaded": N_("ingelezen"), "rejected": N_("geweigerd"),
    "held": N_("aangehouden voor beoordeling"), "superseded": N_("vervangen door een nieuwere levering"),
    "not_used": N_("niet gebruikt"), "received": N_("ontvangen"), "accepted": N_("geaccepteerd"),
    "clean": N_("schoon"), "quarantined": N_("apart gezet"), "released": N_("vrijgegeven"),
}

#: Great Expectations expectation types used by the generated and custom suites
EXPECTATIONS: dict[str, str] = {
    "expect_column_to_exist": N_("kolom bestaat"),
    "expect_column_values_to_not_be_null": N_("waarden ingevuld"),
    "expect_column_values_to_be_unique": N_("waarden uniek"),
    "expect_column_values_to_be_in_set": N_("waarden in de toegestane lijst"),
    "expect_column_values_to_be_between": N_("waarden binnen grenzen"),
    "expect_column_mean_to_be_between": N_("gemiddelde binnen grenzen"),
    "expect_table_row_count_to_be_between": N_("aantal rijen binnen grenzen"),
}

#: parameters of GX expectations, shown as "name: value"
PARAMETERS: dict[str, str] = {
    "column": N_("kolom"), "min_value": N_("minimum"), "max_value": N_("maximum"), "value_set": N_("toegestaan"),
    "mostly": N_("minimaal aandeel"), "strict_min": N_("minimum uitgesloten"), "strict_max": N_("maximum uitgesloten"),
    # keys of the observed values and thresholds of the quality checks
    "clean_rows": N_("schone rijen"), "column_present": N_("kolom aanwezig"), "districts": N_("wijken"),
    "districts_below_minimum": N_("wijken onder het minimum"), "element_count": N_("rijen getoetst"),
    "items": N_("vragen"), "max_share": N_("hoogste aandeel"), "min_answered": N_("minimaal beantwoord"),
    "minimum": N_("minimum"), "missing_count": N_("ontbrekend"), "missing_share": N_("aandeel ontbrekend"),
    "quarantined": N_("apart gezet"), "received": N_("ontvangen"), "rows": N_("rijen"), "share": N_("aandeel"),
    "tolerance_pp": N_("marge (procentpunt)"), "unexpected_count": N_("afwijkend"),
    "unexpected_percent": N_("percentage afwijkend"), "observed_value": N_("gevonden"),
}


def _code(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def rule_name(rule_id: Any) -> str:
    """The rule's readable name in the current language (its code when it has none)."""
    code = _code(rule_id)
    return _(RULE_NAMES[code]) if code in RULE_NAMES else code.replace("_", " ")


def check_status(status: Any) -> str:
    code = _code(status)
    return _(CHECK_STATUS[code]) if code in CHECK_STATUS else code


def severity_name(severity: Any) -> str:
    code = _code(severity)
    return _(SEVERITY[code]) if code in SEVERITY else code.replace("_", " ")


def status_name(status: Any) -> str:
    code = _code(status)
    return _(STATUS[code]) if code in STATUS else code.replace("_", " ")


def expectation_name(expectation_type: Any) -> str:
    code = _code(expectation_type)
    if code in EXPECTATIONS:
        return _(EXPECTATIONS[code])
    if code.startswith("socialquality."):
        return rule_name(code.rsplit(".", 1)[-1])
    return code.replace("_", " ")


def parameter_name(name: str) -> str:
    return _(PARAMETERS[name]) if name in PARAMETERS else name.replace("_", " ")


def rows_text(n: int) -> str:
    """"1 rij" / "2 rijen" ("1 row" / "2 rows")."""
    return ngettext("%(count)s rij", "%(count)s rijen", int(n), count=fmt_number(n, 0))


def districts_text(n: int) -> str:
    return ngettext("%(count)s wijk", "%(count)s wijken", int(n), count=fmt_number(n, 0))
