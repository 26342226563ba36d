"""The Excel workbook ``rapport.xlsx``, written with XlsxWriter.

Numbers are written as numbers with a number format (so Excel shows the reader's own decimal
separator and users can calculate with them); a suppressed or unknown figure is an empty cell
with the reason in the column "Waarom leeg" ("Why empty"); waves and years are numbers; rows show
names (districts, interventions, indicators) next to their codes; every data sheet is an Excel
table (ListObject), so filters, sorting and pivot tables work by name. Sheet names, headers and
texts are in the current language of :mod:`socialquality.i18n`. The same sheets are written as
CSV and Parquet (open data) by :func:`write_open_data_from`. Survey shares are stored as proportions
with a percentage format; changes of shares as percentage points.

Why XlsxWriter (a well-kept, pure-Python writer): openpyxl keeps every cell as an object and styles
cells one by one; at national size (3,400 districts, ~2 million cells) writing took about two
minutes, most of the report stage. XlsxWriter streams rows to the sheet's XML with shared formats
and writes tables natively; ``benchmarks/bench_excel.py`` measures both sizes. A text that a
spreadsheet could take for a formula is always written as a string with Excel's quote prefix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter

from socialquality.i18n import N_, DASH, _, fmt_date
from socialquality.report.data import MIN_FEEDBACK
from socialquality.report.text import (
    COMPARED_TO,
    KIND_NAMES,
    METHOD_SHORT,
    change_label,
    change_unit,
    effect_label,
    is_missing,
    verdict_class,
)

if TYPE_CHECKING:  # pragma: no cover
    from socialquality.report.render import Model

BRAND = "#1F3A5F"
FILLS = {"better": "#D8F0DF", "worse": "#F8D7D3", "neutral": "#EDEDED"}
FONTS = {"better": ("#14632F", True), "worse": ("#9B1C13", True), "neutral": ("#555555", False)}
FMT = {"percent": "0.0%", "score": "0.0", "km": "0.0", "int": "#,##0", "p": "0.000", "pp": "0.0",
       "effect": "0.0##", "money": "#,##0", "money2": "#,##0.00"}  # effects: up to 3 decimals
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: the sheets, in order (Dutch names; shown translated)
SHEETS = [N_("Toelichting"), N_("Indicatoren"), N_("Index"), N_("Veranderingen"), N_("Interventies"),
          N_("Interventieketen"), N_("Registercijfers"), N_("Kwaliteit")]

#: labels of the report's lineage keys on the explanation sheet
LINEAGE_LABELS = {
    "run_id": N_("Run-id (Dagster)"), "git_commit": N_("Versie van de programmatuur (git-commit)"),
    "generated_at": N_("Gemaakt op"), "codebook": N_("Codeboek (versie, controlegetal)"),
    "codebooks": N_("Codeboeken"), "codebook_versions": N_("Versies van de codeboeken"),
    "codebook_checksums": N_("Controlegetallen van de codeboeken"),
    "catalogue_version": N_("Versie van de indicatorenlijst"),
    "files": N_("Verwerkte bestanden per meting (controlegetal)"),
}


#: data rows of one sheet: Excel's 1,048,576 rows less the header; a longer table continues on the next
#: sheet ("Indicatoren (1)", "Indicatoren (2)", ...), so nothing is cut off at national size
MAX_TABLE_ROWS = 1_048_575


@dataclass
class Sheet:
    """One data sheet: headers, rows (numbers as numbers; DASH or None for an empty cell) and formats.

    ``formats`` maps a 1-based column to the number format of its numbers; ``row_formats`` maps a
    column to one format per row (an indicator's own unit); ``classes`` colours one column by the
    verdict class per row; ``wave_columns`` (1-based) hold waves or years written as numbers."""

    title: str
    headers: list[str]
    rows: list[list[Any]]
    formats: dict[int, str] = field(default_factory=dict)
    row_formats: dict[int, list[str]] = field(default_factory=dict)
    freeze: str = "A2"
    widths: dict[int, float] = field(default_factory=dict)
    classes: tuple[int, list[str]] | None = None
    wrap: set[int] = field(default_factory=set)
    wave_columns: set[int] = field(default_factory=set)
    empty_reason: str = ""


def _num(value: Any) -> Any:
    return None if is_missing(value) else float(value)


def _int(value: Any) -> Any:
    return None if is_missing(value) else int(value)


def _wave(value: Any) -> Any:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _clean_rows(sheet: Sheet) -> tuple[list[str], list[list[Any]]]:
    """Suppressed or missing figures become empty cells (not the text "–", which breaks sums and
    filters) with the reason in a column "Waarom leeg"; waves and years become numbers."""
    waves = {c - 1 for c in sheet.wave_columns}
    numeric = {c - 1 for c in (*sheet.formats, *sheet.row_formats)} - waves
    any_empty = False
    out = []
    for row in sheet.rows:
        row = list(row)
        empty = False
        for i, v in enumerate(row):
            if v is None:
                empty = empty or i in numeric
                continue
            if isinstance(v, str) and v.strip() in (DASH, "-"):
                row[i] = None
                empty = True
            elif isinstance(v, float) and v != v:
                row[i] = None
                empty = True
            elif i in waves:
                row[i] = _wave(v)
        any_empty = any_empty or empty
        out.append((row, empty))
    if not any_empty or not sheet.empty_reason:
        return list(sheet.headers), [r for r, _e in out]
    return (list(sheet.headers) + [_("Waarom leeg")],
            [r + ([sheet.empty_reason] if empty else [None]) for r, empty in out])


class _Book:
    """An XlsxWriter workbook with a cache of formats (XlsxWriter shares one format per style)."""

    def __init__(self, path: Path):
        self.wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                                  "nan_inf_to_errors": False})
        self._formats: dict[tuple, Any] = {}
        self._props: dict[int, dict[str, Any]] = {}
        self.header = self.fmt(bold=True, font_color="#FFFFFF", bg_color=BRAND, text_wrap=True, valign="vcenter")
        self.sheets: list[str] = []
        #: every data table as written (headers, cleaned rows), by title; a table continued over
        #: several sheets is one entry: the open data are written from these (write_open_data_from)
        self.tables: dict[str, tuple[list[str], list[list[Any]]]] = {}

    def fmt(self, **props: Any) -> Any:
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            self._formats[key] = self.wb.add_format(props)
            self._props[id(self._formats[key])] = dict(props)
        return self._formats[key]

    def quoted(self, fmt: Any) -> Any:
        """The same format with Excel's quote prefix: the text is never taken for a formula."""
        return self.fmt(quote_prefix=True, **({} if fmt is None else self._props.get(id(fmt), {})))

    def notes(self, title: str, heading: str, lines: list[tuple[str, str]]) -> None:
        ws = self.wb.add_worksheet(title)
        self.sheets.append(title)
        ws.write_string(0, 0, heading, self.fmt(bold=True, font_size=14, font_color=BRAND))
        key, value = self.fmt(bold=True, valign="top"), self.fmt(text_wrap=True, valign="top")
        for r, (k, v) in enumerate(lines, start=2):
            self._string(ws, r, 0, k, key)
            self._string(ws, r, 1, v, value)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 100)
        ws.freeze_panes(2, 0)

    def _string(self, ws: Any, r: int, c: int, value: str, fmt: Any = None) -> None:
        ws.write_string(r, c, value, self.quoted(fmt) if value.startswith(FORMULA_STARTS) else fmt)

    def table(self, sheet: Sheet, *, part_of: str | None = None) -> None:
        if len(sheet.rows) > MAX_TABLE_ROWS:  # Excel holds 1,048,576 rows a sheet: continue on the next sheet
            for part, start in enumerate(range(0, len(sheet.rows), MAX_TABLE_ROWS), start=1):
                stop = start + MAX_TABLE_ROWS
                self.table(replace(
                    sheet, title=f"{sheet.title[:26]} ({part})", rows=sheet.rows[start:stop],
                    row_formats={c: f[start:stop] for c, f in sheet.row_formats.items()},
                    classes=(sheet.classes[0], sheet.classes[1][start:stop]) if sheet.classes else None),
                    part_of=sheet.title)
            return
        headers, rows = _clean_rows(sheet)
        key = part_of or sheet.title
        recorded = self.tables.setdefault(key, (headers, []))[1]
        recorded.extend([_("ja") if v is True else _("nee") if v is False else v for v in row] for row in rows)
        ws = self.wb.add_worksheet(sheet.title)
        self.sheets.append(sheet.title)
        number = {c - 1: self.fmt(num_format=f) for c, f in sheet.formats.items()}
        per_row = {c - 1: [self.fmt(num_format=f) for f in fs] for c, fs in sheet.row_formats.items()}
        coloured = {}
        if sheet.classes is not None:
            col, classes = sheet.classes
            coloured = {col - 1: [self.fmt(bg_color=FILLS[k], pattern=1, font_color=FONTS[k][0], bold=FONTS[k][1])
                                  for k in classes]}
        wrap = {c - 1 for c in sheet.wrap}
        wrapped = self.fmt(text_wrap=True, valign="top")
        write_number, write_string = ws.write_number, ws.write_string
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                if v is None:
                    if c in coloured:
                        ws.write_blank(r, c, None, coloured[c][r - 1])
                    continue
                if isinstance(v, bool):
                    v = _("ja") if v else _("nee")
                if isinstance(v, (int, float)):
                    fmt = per_row[c][r - 1] if c in per_row else number.get(c)
                    write_number(r, c, v, fmt)
                else:
                    text = str(v)
                    if not text:
                        continue
                    fmt = coloured[c][r - 1] if c in coloured else (wrapped if c in wrap else None)
                    if text.startswith(FORMULA_STARTS):
                        fmt = self.quoted(fmt)
                    write_string(r, c, text, fmt)
        columns = [{"header": h, "header_format": self.header} for h in headers]
        if rows:  # an Excel table (ListObject): filters, sorting and pivot tables work on it by name
            name = "".join(ch for ch in sheet.title if ch.isalnum()) or "Tabel"
            if name[0].isdigit():
                name = "T" + name
            ws.add_table(0, 0, len(rows), len(headers) - 1,
                         {"name": name, "columns": columns, "style": "Table Style Light 1", "autofilter": True})
        else:
            for c, h in enumerate(headers):
                ws.write_string(0, c, h, self.header)
        ws.set_row(0, 32)
        ws.freeze_panes(sheet.freeze)
        for i, header in enumerate(headers):
            sample = [len(str(row[i])) for row in rows[:500] if i < len(row) and row[i] is not None]
            longest = max([len(str(header)) * 0.8] + sample)
            ws.set_column(i, i, sheet.widths.get(i + 1, min(max(10.0, longest + 2), 60.0)))

    def close(self) -> None:
        self.wb.close()


def _lineage_lines(lineage: dict | None) -> list[tuple[str, str]]:
    """The report's lineage as (label, value) lines in the page language (no raw keys)."""
    lines: list[tuple[str, str]] = []
    origin = _("Herkomst")
    for key, value in (lineage or {}).items():
        label = _(LINEAGE_LABELS[key]) if key in LINEAGE_LABELS else str(key).replace("_", " ")
        if isinstance(value, dict):
            for sub, v in value.items():
                lines.append((f"{origin}: {label}: {sub}", str(v)))
            continue
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        elif key == "generated_at":
            try:
                moment = dt.datetime.fromisoformat(str(value))
                text = f"{fmt_date(moment)} {moment:%H:%M}"
            except ValueError:
                text = str(value)
        else:
            text = str(value)
        lines.append((f"{origin}: {label}", text))
    return lines


def _explanation(m: "Model") -> list[tuple[str, str]]:
    name = m.inputs.municipality_name
    sources = [s for s, shown in ((_("CBS Kerncijfers wijken en buurten"), not m.inputs.register_indicators.empty),
                                  (_("CBS/PDOK Wijk- en Buurtkaart"), m.inputs.geojson_path is not None)) if shown]
    cbs = not m.inputs.register_indicators.empty or m.inputs.geojson_path is not None
    lines = [
        (_("Metingen"), _("%(waves)s (laatste meting %(latest)s, basisjaar %(base)s)", waves=", ".join(m.waves),
                          latest=m.latest, base=m.base)),
        (_("Indicatoren"), _("Per wijk, meting en indicator: de schatting met de onder- en bovengrens van het "
                             "95%-interval (de marge) en het aantal respondenten (n). Percentages zijn opgemaakt als "
                             "%, scores (0-10) als getal.")),
        (_("Onderdrukking"), _("Bij minder dan %(n)s respondenten wordt een cijfer niet getoond: de cel is leeg, met "
                               "de reden in de kolom ‘Waarom leeg’. Een verandering waarin zo'n cijfer meetelt, wordt "
                               "ook niet getoond. Terugkoppeling van deelnemers wordt niet getoond bij minder dan "
                               "%(feedback)s antwoorden.", n=m.min_n, feedback=MIN_FEEDBACK)),
        (_("Index"), _("Index per thema (conditie): 100 = de stad in het basisjaar %(base)s. Hoger is beter.",
                       base=m.base)),
        (_("Veranderingen"), _("Verschil met de vorige meting en met het basisjaar, met 95%-interval en p-waarde (ook "
                               "gecorrigeerd voor het aantal toetsen). Oordeel groen/rood alleen als de verandering "
                               "statistisch significant is, anders grijs. Voor percentages is het verschil in "
                               "procentpunten.")),
        (_("Interventies"), _("Geschat effect van programma's en sluitingen op de wijk, met 95%-interval en een "
                              "toelichting in gewone taal. Interventieketen: uitvoering, bereik en terugkoppeling van "
                              "deelnemers.")),
        (_("Registercijfers"), _("Cijfers van het CBS (Kerncijfers wijken en buurten). Bron: CBS, CC BY 4.0.")),
        (_("Kwaliteit"), _("Per meting het aantal ontvangen, gebruikte en apart gezette antwoordrijen; tegengehouden "
                           "leveringen en de reden.")),
        (_("Weging"), _("Antwoorden zijn gewogen naar de bevolking van de wijk volgens het CBS (leeftijd en "
                        "geslacht), zodat de cijfers voor de hele wijk gelden.")),
        (_("Bronnen"), _("Bewonersenquête van de gemeente; %(sources)s", sources="; ".join(
            sources or [_("bevolkingscijfers van de gemeente")])) + (" " + _("(Bron: CBS, CC BY 4.0).") if cbs else ".")),
        (_("Decimalen"), _("Getallen zijn als getal opgeslagen; Excel toont ze met het decimaalteken van uw "
                           "instellingen.")),
        (_("Gemeente"), name),
    ]
    return lines + _lineage_lines(m.inputs.lineage)


def _intervention_names(m: "Model") -> dict[str, str]:
    names = {}
    if m.info is not None and not m.info.empty:
        names.update({str(k): str(v) for k, v in zip(m.info["intervention_id"], m.info["name"]) if v})
    if not m.effects.empty:
        names.update({str(k): str(v) for k, v in zip(m.effects["intervention_id"], m.effects["intervention_name"])
                      if isinstance(v, str) and v})
    return names


def model_sheets(m: "Model") -> list[Sheet]:
    """Every data sheet of the workbook, as plain data (in the current language)."""
    district_name = {**m.names, m.city: _("Hele stad: %(name)s", name=m.inputs.municipality_name)}
    too_few = _("niet getoond: te weinig respondenten (minder dan %(n)s) of geen gegevens", n=m.min_n)
    order = {c: i for i, c in enumerate([m.city] + list(m.districts["district_code"]))}
    ind_order = {i: k for k, i in enumerate(m.cat)}
    wave_order = {w: k for k, w in enumerate(m.waves)}
    iv_names = _intervention_names(m)
    unit_name = {"percent": "%", "km": "km"}
    sheets = []

    # --- Indicatoren ---------------------------------------------------------
    di = m.di.copy()
    di["_o"] = [(order.get(d, 999), wave_order.get(w, 99), ind_order.get(i, 999))
                for d, w, i in zip(di["district_code"], di["wave"], di["indicator_id"])]
    rows, unit_formats = [], []
    conditions = {i: m.conditions.get(r.get("condition", ""), "") for i, r in m.cat.items()}
    labels = {i: m.label(i) for i in m.cat}
    units = {i: m.unit(i) for i in m.cat}
    few = _("te weinig respondenten (minder dan %(n)s)", n=m.min_n)
    score = _("score")
    for r in di.sort_values("_o").to_dict("records"):
        ind = r["indicator_id"]
        unit = units.get(ind) or m.unit(ind)
        sup = bool(r["suppressed"])
        rows.append([r["wave"], r["district_code"], district_name.get(r["district_code"], r["district_code"]),
                     conditions.get(ind, ""), ind, labels.get(ind) or m.label(ind), unit_name.get(unit, score),
                     None if sup else _num(r["estimate"]), None if sup else _num(r["ci_low"]),
                     None if sup else _num(r["ci_high"]), _num(r["n"]), None if sup else _num(r["n_eff"]),
                     few if sup else ""])
        unit_formats.append(FMT.get(unit, "0.0"))
    sheets.append(Sheet(_("Indicatoren"), [
        _("Meting"), _("Wijkcode"), _("Wijk"), _("Thema"), _("Indicator-id"), _("Indicator"), _("Eenheid"),
        _("Schatting"), _("Ondergrens (95%)"), _("Bovengrens (95%)"), _("Respondenten (n)"), _("Effectieve n"),
        _("Opmerking")], rows, {11: FMT["int"], 12: FMT["int"]},
        row_formats={8: unit_formats, 9: unit_formats, 10: unit_formats}, freeze="D2", wave_columns={1},
        empty_reason=too_few))

    # --- Index ---------------------------------------------------------------
    idx = m.index.copy()
    conds = list(m.conditions)
    idx["_o"] = [(order.get(d, 999), conds.index(c) if c in m.conditions else 99, wave_order.get(w, 99))
                 for d, c, w in zip(idx["district_code"], idx["condition"], idx["wave"])]
    rows = [[r["wave"], r["district_code"], district_name.get(r["district_code"], r["district_code"]),
             m.conditions.get(r["condition"], r["condition"]), _num(r["index"]), _num(r["ci_low"]),
             _num(r["ci_high"]), _num(r["n_indicators"])]
            for r in idx.sort_values("_o").to_dict("records")]
    sheets.append(Sheet(_("Index"), [
        _("Meting"), _("Wijkcode"), _("Wijk"), _("Thema"), _("Index (100 = stad %(base)s)", base=m.base),
        _("Ondergrens (95%)"), _("Bovengrens (95%)"), _("Aantal indicatoren")], rows,
        {5: "0.0", 6: "0.0", 7: "0.0", 8: "0"}, freeze="D2", wave_columns={1}, empty_reason=too_few))

    # --- Veranderingen -------------------------------------------------------
    ch = m.changes.copy()
    ch["_o"] = [(order.get(d, 999), ind_order.get(i, 999), wave_order.get(w, 99), c)
                for d, i, w, c in zip(ch["district_code"], ch["indicator_id"], ch["wave"], ch["compared_to"])]
    rows, classes = [], []
    yes, no = _("ja"), _("nee")
    compared = {k: _(v) for k, v in COMPARED_TO.items()}
    for r in ch.sort_values("_o").to_dict("records"):
        ind = r["indicator_id"]
        unit = m.unit(ind) if ind in m.cat else "score"
        f = 100.0 if unit == "percent" else 1.0
        label = (labels.get(ind) if ind in m.cat else
                 _("Index %(theme)s", theme=m.conditions.get(ind.removeprefix("index:"), ind)))

        def scaled(v: Any) -> Any:
            return None if is_missing(v) else float(v) * f

        rows.append([district_name.get(r["district_code"], r["district_code"]), r["district_code"], label,
                     r["wave"], compared.get(r["compared_to"], r["compared_to"]), r["reference_wave"],
                     scaled(r["change"]), scaled(r["ci_low"]), scaled(r["ci_high"]),
                     scaled(r.get("ci_low_adj")), scaled(r.get("ci_high_adj")), change_unit(unit),
                     _num(r["p_value"]), _num(r["p_adjusted"]), change_label(r["verdict"]),
                     yes if r["method_break"] else no])
        classes.append(verdict_class(r["verdict"]))
    sheets.append(Sheet(_("Veranderingen"), [
        _("Wijk"), _("Wijkcode"), _("Indicator"), _("Meting"), _("Vergeleken met"), _("Referentiemeting"),
        _("Verandering"), _("Ondergrens (95%)"), _("Bovengrens (95%)"), _("Ondergrens (gecorrigeerd, beslist)"),
        _("Bovengrens (gecorrigeerd, beslist)"), _("Eenheid"), _("p-waarde"), _("p-waarde (gecorrigeerd)"),
        _("Oordeel"), _("Trendbreuk")], rows,
        {7: FMT["pp"], 8: FMT["pp"], 9: FMT["pp"], 10: FMT["pp"], 11: FMT["pp"], 13: FMT["p"], 14: FMT["p"]},
        freeze="D2", classes=(15, classes), wave_columns={4, 6},
        empty_reason=_("niet getoond: een van de twee cijfers is onderdrukt of ontbreekt")))

    # --- Interventies --------------------------------------------------------
    rows, classes = [], []
    for r in m.effects.to_dict("records"):
        ind = r["indicator_id"]
        unit = m.unit(ind)
        f = m.effect_factor(ind)
        est = bool(r["estimable"]) and not is_missing(r["estimate"])

        def scaled_effect(v: Any) -> Any:
            return None if (is_missing(v) or not est) else float(v) * f

        code = r["verdict_code"] if est else "not_estimable"
        role = r.get("role") or ("headline" if not r["district_code"] else "")
        rows.append([iv_names.get(r["intervention_id"]) or r["intervention_name"] or r["intervention_id"],
                     _(KIND_NAMES.get(r["kind"], r["kind"])),
                     m.names.get(r["district_code"], r["district_code"]) if r["district_code"]
                     else _("alle wijken samen"), m.label(ind), _(METHOD_SHORT.get(r["method"], r["method"])),
                     scaled_effect(r["estimate"]), scaled_effect(r["ci_low"]), scaled_effect(r["ci_high"]),
                     change_unit(unit), yes if est else no, effect_label(code), r["verdict_nl"],
                     yes if r["pretrend_warning"] else no,
                     _("oordeel") if role == "headline" else _("ondersteunend"), scaled_effect(r.get("mde"))])
        classes.append(verdict_class(code))
    sheets.append(Sheet(_("Interventies"), [
        _("Interventie"), _("Soort"), _("Wijk"), _("Indicator"), _("Methode"), _("Effect"), _("Ondergrens (95%)"),
        _("Bovengrens (95%)"), _("Eenheid"), _("Schatting mogelijk"), _("Oordeel"), _("Toelichting"),
        _("Waarschuwing: wijken liepen vóór de start al uiteen"), _("Rol"), _("Kleinste aantoonbare effect (80%)")],
        rows, {6: FMT["effect"], 7: FMT["effect"], 8: FMT["effect"], 15: FMT["effect"]}, freeze="D2",
        widths={12: 80}, classes=(11, classes), wrap={12},
        empty_reason=_("geen schatting mogelijk (zie de toelichting)")))

    # --- Interventieketen ------------------------------------------------------
    rows = []
    for r in m.chain.sort_values(["intervention_id", "district_code", "year"]).to_dict("records"):
        hidden = bool(r["feedback_suppressed"])
        rows.append([iv_names.get(r["intervention_id"], r["intervention_id"]), r["intervention_id"],
                     m.names.get(r["district_code"], r["district_code"]), r["district_code"], _int(r["year"]),
                     _num(r["sessions_planned"]), _num(r["sessions_held"]), _num(r["participants"]),
                     _num(r["target_population"]), _num(r["reach"]), _num(r["feedback_n"]),
                     None if hidden else _num(r["share_more_contacts"]),
                     None if hidden else _num(r["share_attributed_to_activity"]),
                     None if hidden else _num(r["mean_satisfaction"])])
    sheets.append(Sheet(_("Interventieketen"), [
        _("Interventie"), _("Interventie-id"), _("Wijk"), _("Wijkcode"), _("Jaar"), _("Bijeenkomsten gepland"),
        _("Bijeenkomsten gehouden"), _("Deelnemers"), _("Doelgroep in de wijk"), _("Bereik"),
        _("Terugkoppeling (n)"), _("Meer sociale contacten"), _("Schrijft dat toe aan de activiteit"),
        _("Tevredenheid (gemiddeld)")], rows,
        {5: "0", 6: FMT["int"], 7: FMT["int"], 8: FMT["int"], 9: FMT["int"], 10: FMT["percent"], 11: FMT["int"],
         12: "0%", 13: "0%", 14: "0.0"}, freeze="C2", wave_columns={5},
        empty_reason=_("niet getoond: minder dan %(n)s antwoorden van deelnemers, of niet bekend", n=MIN_FEEDBACK)))

    # --- Registercijfers -------------------------------------------------------
    reg = m.register.copy()
    reg["_o"] = [(order.get(d, 999), ind_order.get(i, 999)) for d, i in zip(reg["district_code"], reg["indicator_id"])]
    source = _("CBS Kerncijfers wijken en buurten (Bron: CBS, CC BY 4.0)")
    rows = [[district_name.get(r["district_code"], r["district_code"]), r["district_code"], m.label(r["indicator_id"]),
             _num(r["value"]), unit_name.get(m.unit(r["indicator_id"]), ""), _int(r["year"]), source]
            for r in reg.sort_values("_o").to_dict("records")]
    sheets.append(Sheet(_("Registercijfers"), [_("Wijk"), _("Wijkcode"), _("Indicator"), _("Waarde"), _("Eenheid"),
                                               _("Jaar"), _("Bron")], rows, {4: "0.0", 6: "0"}, freeze="C2",
                        wave_columns={6}, empty_reason=_("niet bekend bij het CBS (of geheim)")))

    # --- Kwaliteit -------------------------------------------------------------
    rows = [[r["wave"], _num(r["received"]), _num(r["clean"]), _num(r["quarantined"]), yes if r["blocked"] else no,
             r["blocked_reason"] if r["blocked"] else ""] for r in m.quality.to_dict("records")]
    sheets.append(Sheet(_("Kwaliteit"), [_("Meting"), _("Ontvangen rijen"), _("Gebruikt (schoon)"), _("Apart gezet"),
                                         _("Levering tegengehouden"), _("Reden")], rows,
                        {2: FMT["int"], 3: FMT["int"], 4: FMT["int"]}, freeze="B2", wave_columns={1}))
    return sheets


def cost_sheets(costs: Any, measures: Any, names: dict[str, str]) -> list[Sheet]:
    """The sheets "Kosten per jaar" and "Kosten en effect" (socialquality.costs_stage's tables)."""
    from socialquality.report.intervention_pages import MEASURE_NAMES

    out = []
    rows = []
    if costs is not None and not costs.empty:
        for r in costs.sort_values(["intervention_id", "year"]).to_dict("records"):
            rows.append([names.get(r["intervention_id"], r["intervention_id"]), r["intervention_id"], _int(r["year"]),
                         _num(r["budget"]), _num(r["actual"]), _num(r["saving"]), r["funding_source"] or None,
                         _num(r["participants"]), _num(r["feedback_n"]), r["note"] or ""])
    out.append(Sheet(_("Kosten per jaar"), [
        _("Interventie"), _("Interventie-id"), _("Jaar"), _("Begroting (€)"), _("Werkelijke kosten (€)"),
        _("Besparing (€)"), _("Financiering"), _("Deelnemers"), _("Antwoorden deelnemers"), _("Toelichting")], rows,
        {4: FMT["money"], 5: FMT["money"], 6: FMT["money"], 8: FMT["int"], 9: FMT["int"]}, wave_columns={3},
        widths={1: 34, 10: 90}, empty_reason=_("niet opgegeven in het interventieregister")))
    rows = []
    if measures is not None and not measures.empty:
        for r in measures.to_dict("records"):
            rows.append([names.get(r["intervention_id"], r["intervention_id"]),
                         _(MEASURE_NAMES.get(r["measure"], r["measure"])), r["indicator_id"] or "", _num(r["value"]),
                         _num(r["ci_low"]), _num(r["ci_high"]), r["unit"] or "", r["text_nl"]])
    out.append(Sheet(_("Kosten en effect"), [
        _("Interventie"), _("Maat"), _("Indicator / CBS-veld"), _("Waarde"), _("95%-interval van"),
        _("95%-interval tot"), _("Eenheid"), _("Toelichting")], rows,
        {4: FMT["money2"], 5: FMT["money2"], 6: FMT["money2"]}, widths={1: 34, 8: 90}, wrap={8},
        empty_reason=_("geen getal bij deze maat (zie de toelichting)")))
    return out


def write_workbook(m: "Model", path: Path, open_data: Path | None = None) -> Path:
    """Write rapport.xlsx: the explanation sheet, every data sheet, the small-area and cost sheets; with
    `open_data`, every data table also as CSV and Parquet there, from the same cleaned rows the
    workbook holds (so the two cannot differ, without reading the workbook back)."""
    from socialquality.report.breakdown_view import excel_sheets as breakdown_sheets
    from socialquality.report.small_areas import excel_sheets

    path = Path(path)
    book = _Book(path)
    try:
        sheets = model_sheets(m)
        extra_notes, small = excel_sheets(m, FMT)
        inputs = m.inputs
        costs = cost_sheets(getattr(inputs, "intervention_costs", None), getattr(inputs, "cost_measures", None),
                            _intervention_names(m))
        book.notes(_("Toelichting"), _("Monitor sociale kwaliteit – %(name)s", name=m.inputs.municipality_name),
                   _explanation(m) + extra_notes)
        for sheet in sheets + small + breakdown_sheets(m, FMT) + costs:
            book.table(sheet)
    finally:
        book.close()
    if open_data is not None:
        write_open_data_from(book.tables, open_data)
    return path


def _open_data_files(title: str, frame: Any, out_dir: Path) -> list[Path]:
    """One table as ``<stem>.csv`` (UTF-8, comma-separated, dot decimals) and ``<stem>.parquet``."""
    import pandas as pd

    stem = "".join(ch if ch.isalnum() else "_" for ch in title.lower())
    frame.to_csv(out_dir / f"{stem}.csv", index=False)
    for col in frame.columns:  # Parquet needs one type per column
        if frame[col].map(type).nunique() > 1 and not pd.api.types.is_numeric_dtype(frame[col]):
            kinds = {type(v) for v in frame[col].dropna()}
            if not kinds <= {int, float}:
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    frame.to_parquet(out_dir / f"{stem}.parquet", index=False)
    return [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]


def write_open_data_from(tables: dict[str, tuple[list[str], list[list[Any]]]], out_dir: Path) -> list[Path]:
    """Every data table of the workbook (``_Book.tables``: headers and the cleaned rows as written) as
    open data, one CSV and one Parquet file per table."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for title, (headers, rows) in tables.items():
        if not rows and not headers:
            continue
        frame = pd.DataFrame(rows, columns=[str(h) for h in headers])
        written += _open_data_files(title, frame, out_dir)
    return written
