"""The Excel workbook ``rapport.xlsx`` (openpyxl).

Numbers are written as numbers with a number format (so Dutch Excel shows decimal commas and
users can calculate with them); suppressed figures are empty cells with the reason in the column
"Waarom leeg"; waves are numbers; every sheet is an Excel table (ListObject). The same sheets are
written as CSV and Parquet (open data) by :func:`write_open_data`. Survey shares are stored as
proportions with a percentage format; changes of shares as procentpunten.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from socialquality.report.data import MIN_FEEDBACK
from socialquality.report.text_nl import (
    COMPARED_TO,
    DASH,
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

HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
HEADER_FONT = Font(bold=True, color="FFFFFF")
FILLS = {"better": PatternFill("solid", fgColor="D8F0DF"), "worse": PatternFill("solid", fgColor="F8D7D3"),
         "neutral": PatternFill("solid", fgColor="EDEDED")}
FONTS = {"better": Font(color="14632F", bold=True), "worse": Font(color="9B1C13", bold=True),
         "neutral": Font(color="555555")}
FMT = {"percent": "0.0%", "score": "0.0", "km": "0.0", "int": "#,##0", "p": "0.000", "pp": "0.0",
       "effect": "0.0##"}  # effects: up to 3 decimals, so a bound near 0 never shows as 0.0
SHEETS = ["Toelichting", "Indicatoren", "Index", "Veranderingen", "Interventies", "Interventieketen",
          "Registercijfers", "Kwaliteit"]


def _num(value: Any) -> Any:
    return DASH if is_missing(value) else float(value)


#: the reason written next to a row with empty (suppressed or unknown) cells; set per workbook
EMPTY_REASON = ["niet getoond: te weinig respondenten of geen gegevens"]
WAVE_HEADERS = {"Meting", "Referentiemeting", "Jaar"}


def _clean_rows(headers: list[str], rows: list[list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """Suppressed or missing figures become empty cells (not the text "–", which breaks sums and
    filters) with the reason in a column 'Waarom leeg'; waves and years become numbers."""
    wave_cols = [i for i, h in enumerate(headers) if h in WAVE_HEADERS]
    any_empty = False
    out = []
    for row in rows:
        row = list(row)
        empty = False
        for i, v in enumerate(row):
            if isinstance(v, str) and v.strip() in (DASH, "-"):
                row[i] = None
                empty = True
            elif i in wave_cols and isinstance(v, str) and v.strip().isdigit():
                row[i] = int(v)
        any_empty = any_empty or empty
        out.append((row, empty))
    if not any_empty:
        return headers, [r for r, _ in out]
    return headers + ["Waarom leeg"], [r + ([EMPTY_REASON[0]] if empty else [None]) for r, empty in out]


def _table(ws, headers: list[str], rows: list[list[Any]], formats: dict[int, str] | None = None,
           freeze: str = "A2", widths: dict[int, float] | None = None) -> None:
    headers, rows = _clean_rows(headers, rows)
    ws.append(headers)
    for cell in ws[1]:
        cell.fill = HEADER_FILL
        cell.font = HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.row_dimensions[1].height = 32
    formats = formats or {}
    for r, row in enumerate(rows, start=2):  # ws.max_row scans every cell: O(n^2) in a loop
        ws.append(row)
        for col, fmt in formats.items():
            cell = ws.cell(row=r, column=col)
            if isinstance(cell.value, (int, float)):
                cell.number_format = fmt
            elif cell.value == DASH:
                cell.alignment = Alignment(horizontal="right")
    ws.freeze_panes = freeze
    if rows:  # an Excel table (ListObject): filters, sorting and pivot tables work on it by name
        from openpyxl.worksheet.table import Table, TableStyleInfo

        ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"
        table = Table(displayName="".join(ch for ch in ws.title if ch.isalnum()) or "Tabel", ref=ref)
        table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=True)
        ws.add_table(table)
    for i, header in enumerate(headers, start=1):
        longest = max([len(str(header)) * 0.8] + [len(str(row[i - 1])) for row in rows[:500] if row[i - 1] is not None])
        width = (widths or {}).get(i, min(max(10.0, longest + 2), 60.0))
        ws.column_dimensions[get_column_letter(i)].width = width


def _colour(ws, col: int, classes: list[str]) -> None:
    for k, cls in enumerate(classes, start=2):
        cell = ws.cell(row=k, column=col)
        cell.fill = FILLS[cls]
        cell.font = FONTS[cls]


def write_workbook(m: "Model", path: Path) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    name = m.inputs.municipality_name
    district_name = {**m.names, m.city: f"Hele stad: {name}"}
    EMPTY_REASON[0] = f"niet getoond: te weinig respondenten (minder dan {m.min_n}) of geen gegevens"
    order = {c: i for i, c in enumerate([m.city] + list(m.districts["district_code"]))}
    ind_order = {i: k for k, i in enumerate(m.cat)}
    wave_order = {w: k for k, w in enumerate(m.waves)}

    # --- Toelichting ---------------------------------------------------------
    ws = wb.create_sheet("Toelichting")
    ws["A1"] = f"Monitor sociale kwaliteit – {name}"
    ws["A1"].font = Font(bold=True, size=14, color="1F3A5F")
    lines = [
        ("Metingen", ", ".join(m.waves) + f" (laatste meting {m.latest}, basisjaar {m.base})"),
        ("Indicatoren", "Per wijk, meting en indicator: de schatting met de onder- en bovengrens van het "
                        "95%-interval (de marge) en het aantal respondenten (n). Percentages zijn opgemaakt "
                        "als %, scores (0-10) als getal."),
        ("Onderdrukking", f"Bij minder dan {m.min_n} respondenten wordt een cijfer niet getoond: de cel bevat "
                          f"leeg, met de reden in de kolom 'Waarom leeg'. Een verandering waarin zo'n cijfer meetelt, wordt ook niet getoond. "
                          f"Terugkoppeling van deelnemers wordt niet getoond bij minder dan {MIN_FEEDBACK} "
                          f"antwoorden."),
        ("Index", f"Index per thema (conditie): 100 = de stad in het basisjaar {m.base}. Hoger is beter."),
        ("Veranderingen", "Verschil met de vorige meting en met het basisjaar, met 95%-interval en p-waarde "
                          "(ook gecorrigeerd voor het aantal toetsen). Oordeel groen/rood alleen als de "
                          "verandering statistisch significant is, anders grijs. Voor percentages is het "
                          "verschil in procentpunten."),
        ("Interventies", "Geschat effect van programma's en sluitingen op de wijk, met 95%-interval en een "
                         "toelichting in gewone taal. Interventieketen: uitvoering, bereik en terugkoppeling "
                         "van deelnemers."),
        ("Registercijfers", "Cijfers van het CBS (Kerncijfers wijken en buurten). Bron: CBS, CC BY 4.0."),
        ("Kwaliteit", "Per meting het aantal ontvangen, gebruikte en apart gezette antwoordrijen; tegengehouden "
                      "leveringen en de reden."),
        ("Weging", "Antwoorden zijn gewogen naar de bevolking van de wijk volgens het CBS (leeftijd en "
                   "geslacht), zodat de cijfers voor de hele wijk gelden."),
        ("Bronnen", "Bewonersenquête van de gemeente; " + "; ".join(
            [s for s, shown in (("CBS Kerncijfers wijken en buurten", not m.inputs.register_indicators.empty),
                                ("CBS/PDOK Wijk- en Buurtkaart", m.inputs.geojson_path is not None)) if shown]
            or ["bevolkingscijfers van de gemeente"])
            + (" (Bron: CBS, CC BY 4.0)." if (not m.inputs.register_indicators.empty
                                             or m.inputs.geojson_path is not None) else ".")),
        ("Decimalen", "Getallen zijn als getal opgeslagen; Excel toont ze met de decimale komma van uw "
                      "instellingen."),
    ]
    from socialquality.report.render import _lineage_rows  # local import: no cycle at module load
    lines += [(f"Herkomst: {k}", v) for k, v in _lineage_rows(m.inputs.lineage)]
    for r, (k, v) in enumerate(lines, start=3):
        ws.cell(row=r, column=1, value=k).font = Font(bold=True)
        c = ws.cell(row=r, column=2, value=v)
        c.alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row=r, column=1).alignment = Alignment(vertical="top")
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 100
    ws.freeze_panes = "A3"

    # --- Indicatoren ---------------------------------------------------------
    di = m.di.copy()
    di["_o"] = [(order.get(d, 999), wave_order.get(w, 99), ind_order.get(i, 999))
                for d, w, i in zip(di["district_code"], di["wave"], di["indicator_id"])]
    rows, fmts_rows = [], []
    for r in di.sort_values("_o").to_dict("records"):
        unit = m.unit(r["indicator_id"])
        sup = bool(r["suppressed"])
        val = (lambda v: DASH if sup else _num(v))  # noqa: E731
        rows.append([r["wave"], r["district_code"], district_name.get(r["district_code"], r["district_code"]),
                     m.conditions.get(m.cat.get(r["indicator_id"], {}).get("condition", ""), ""),
                     r["indicator_id"], m.label(r["indicator_id"]), {"percent": "%", "km": "km"}.get(unit, "score"),
                     val(r["estimate"]), val(r["ci_low"]), val(r["ci_high"]), _num(r["n"]), val(r["n_eff"]),
                     f"te weinig respondenten (minder dan {m.min_n})" if sup else ""])
        fmts_rows.append(unit)
    ws = wb.create_sheet("Indicatoren")
    _table(ws, ["Meting", "Wijkcode", "Wijk", "Thema", "Indicator-id", "Indicator", "Eenheid", "Schatting",
                "Ondergrens (95%)", "Bovengrens (95%)", "Respondenten (n)", "Effectieve n", "Opmerking"],
           rows, {11: FMT["int"], 12: FMT["int"]}, freeze="D2")
    for k, unit in enumerate(fmts_rows, start=2):
        for col in (8, 9, 10):
            cell = ws.cell(row=k, column=col)
            if isinstance(cell.value, float):
                cell.number_format = FMT.get(unit, "0.0")

    # --- Index ---------------------------------------------------------------
    idx = m.index.copy()
    idx["_o"] = [(order.get(d, 999), list(m.conditions).index(c) if c in m.conditions else 99,
                  wave_order.get(w, 99)) for d, c, w in zip(idx["district_code"], idx["condition"], idx["wave"])]
    rows = [[r["wave"], r["district_code"], district_name.get(r["district_code"], r["district_code"]),
             m.conditions.get(r["condition"], r["condition"]), _num(r["index"]), _num(r["ci_low"]),
             _num(r["ci_high"]), _num(r["n_indicators"])]
            for r in idx.sort_values("_o").to_dict("records")]
    ws = wb.create_sheet("Index")
    _table(ws, ["Meting", "Wijkcode", "Wijk", "Thema", f"Index (100 = stad {m.base})", "Ondergrens (95%)",
                "Bovengrens (95%)", "Aantal indicatoren"], rows,
           {5: "0.0", 6: "0.0", 7: "0.0", 8: "0"}, freeze="D2")

    # --- Veranderingen -------------------------------------------------------
    ch = m.changes.copy()
    ch["_o"] = [(order.get(d, 999), ind_order.get(i, 999), wave_order.get(w, 99), c)
                for d, i, w, c in zip(ch["district_code"], ch["indicator_id"], ch["wave"], ch["compared_to"])]
    rows, classes = [], []
    for r in ch.sort_values("_o").to_dict("records"):
        ind = r["indicator_id"]
        unit = m.unit(ind) if ind in m.cat else "score"
        f = 100.0 if unit == "percent" else 1.0
        label = m.label(ind) if ind in m.cat else f"Index {m.conditions.get(ind.removeprefix('index:'), ind)}"
        scaled = (lambda v: DASH if is_missing(v) else float(v) * f)  # noqa: E731
        rows.append([district_name.get(r["district_code"], r["district_code"]), r["district_code"], label,
                     r["wave"], COMPARED_TO.get(r["compared_to"], r["compared_to"]), r["reference_wave"],
                     scaled(r["change"]), scaled(r["ci_low"]), scaled(r["ci_high"]),
                     scaled(r.get("ci_low_adj")), scaled(r.get("ci_high_adj")), change_unit(unit),
                     _num(r["p_value"]), _num(r["p_adjusted"]), change_label(r["verdict"]),
                     "ja" if r["method_break"] else "nee"])
        classes.append(verdict_class(r["verdict"]))
    ws = wb.create_sheet("Veranderingen")
    _table(ws, ["Wijk", "Wijkcode", "Indicator", "Meting", "Vergeleken met", "Referentiemeting", "Verandering",
                "Ondergrens (95%)", "Bovengrens (95%)", "Ondergrens (gecorrigeerd, beslist)",
                "Bovengrens (gecorrigeerd, beslist)", "Eenheid", "p-waarde", "p-waarde (gecorrigeerd)",
                "Oordeel", "Trendbreuk"], rows,
           {7: FMT["pp"], 8: FMT["pp"], 9: FMT["pp"], 10: FMT["pp"], 11: FMT["pp"], 13: FMT["p"], 14: FMT["p"]},
           freeze="D2")
    _colour(ws, 15, classes)

    # --- Interventies --------------------------------------------------------
    rows, classes = [], []
    for r in m.effects.to_dict("records"):
        ind = r["indicator_id"]
        unit = m.unit(ind)
        f = m.effect_factor(ind)
        est = bool(r["estimable"]) and not is_missing(r["estimate"])
        scaled = (lambda v: DASH if (is_missing(v) or not est) else float(v) * f)  # noqa: E731
        code = r["verdict_code"] if est else "not_estimable"
        rows.append([r["intervention_name"] or r["intervention_id"], KIND_NAMES.get(r["kind"], r["kind"]),
                     m.names.get(r["district_code"], r["district_code"]) if r["district_code"] else "alle wijken samen",
                     m.label(ind), METHOD_SHORT.get(r["method"], r["method"]), scaled(r["estimate"]),
                     scaled(r["ci_low"]), scaled(r["ci_high"]), change_unit(unit), "ja" if est else "nee",
                     effect_label(code), r["verdict_nl"], "ja" if r["pretrend_warning"] else "nee",
                     "oordeel" if (r.get("role") or ("headline" if not r["district_code"] else "")) == "headline"
                     else "ondersteunend", scaled(r.get("mde"))])
        classes.append(verdict_class(code))
    ws = wb.create_sheet("Interventies")
    _table(ws, ["Interventie", "Soort", "Wijk", "Indicator", "Methode", "Effect", "Ondergrens (95%)",
                "Bovengrens (95%)", "Eenheid", "Schatting mogelijk", "Oordeel", "Toelichting",
                "Waarschuwing: wijken liepen vóór de start al uiteen", "Rol",
                "Kleinste aantoonbare effect (80%)"], rows,
           {6: FMT["effect"], 7: FMT["effect"], 8: FMT["effect"], 15: FMT["effect"]}, freeze="D2", widths={12: 80})
    _colour(ws, 11, classes)
    for row in ws.iter_rows(min_row=2, min_col=12, max_col=12):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    # --- Interventieketen ------------------------------------------------------
    rows = []
    for r in m.chain.sort_values(["intervention_id", "district_code", "year"]).to_dict("records"):
        fb = (lambda v: DASH if r["feedback_suppressed"] else _num(v))  # noqa: E731
        rows.append([r["intervention_id"], m.names.get(r["district_code"], r["district_code"]), r["district_code"],
                     _num(r["year"]), _num(r["sessions_planned"]), _num(r["sessions_held"]), _num(r["participants"]),
                     _num(r["target_population"]), _num(r["reach"]), _num(r["feedback_n"]),
                     fb(r["share_more_contacts"]), fb(r["share_attributed_to_activity"]),
                     fb(r["mean_satisfaction"])])
    ws = wb.create_sheet("Interventieketen")
    _table(ws, ["Interventie", "Wijk", "Wijkcode", "Jaar", "Bijeenkomsten gepland", "Bijeenkomsten gehouden",
                "Deelnemers", "Doelgroep in de wijk", "Bereik", "Terugkoppeling (n)",
                "Meer sociale contacten", "Schrijft dat toe aan de activiteit", "Tevredenheid (gemiddeld)"], rows,
           {4: "0", 5: FMT["int"], 6: FMT["int"], 7: FMT["int"], 8: FMT["int"], 9: FMT["percent"],
            10: FMT["int"], 11: "0%", 12: "0%", 13: "0.0"}, freeze="C2")

    # --- Registercijfers -------------------------------------------------------
    reg = m.register.copy()
    reg["_o"] = [(order.get(d, 999), ind_order.get(i, 999)) for d, i in zip(reg["district_code"], reg["indicator_id"])]
    rows = [[district_name.get(r["district_code"], r["district_code"]), r["district_code"], m.label(r["indicator_id"]),
             _num(r["value"]), {"percent": "%", "km": "km"}.get(m.unit(r["indicator_id"]), ""), _num(r["year"]),
             "CBS Kerncijfers wijken en buurten (Bron: CBS, CC BY 4.0)"]
            for r in reg.sort_values("_o").to_dict("records")]
    ws = wb.create_sheet("Registercijfers")
    _table(ws, ["Wijk", "Wijkcode", "Indicator", "Waarde", "Eenheid", "Jaar", "Bron"], rows,
           {4: "0.0", 6: "0"}, freeze="C2")

    # --- Kwaliteit -------------------------------------------------------------
    rows = [[r["wave"], _num(r["received"]), _num(r["clean"]), _num(r["quarantined"]),
             "ja" if r["blocked"] else "nee", r["blocked_reason"] if r["blocked"] else ""]
            for r in m.quality.to_dict("records")]
    ws = wb.create_sheet("Kwaliteit")
    _table(ws, ["Meting", "Ontvangen rijen", "Gebruikt (schoon)", "Apart gezet", "Levering tegengehouden",
                "Reden"], rows, {2: FMT["int"], 3: FMT["int"], 4: FMT["int"]}, freeze="B2")

    from socialquality.report.small_areas import add_sheets

    add_sheets(wb, m, _table, FMT)  # "Wijken en buurten", "Modellen" (when there are small-area figures)
    from socialquality.report.breakdown_view import add_sheet as add_breakdown_sheet

    add_breakdown_sheet(wb, m, _table, FMT)  # "Uitsplitsingen" (age group, sex), when the inputs hold them
    path = Path(path)
    _neutralise_formulas(wb)
    wb.save(path)
    return path


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise_formulas(wb: Workbook) -> int:
    """Store every text that a spreadsheet could take for a formula (starting with = + - @, tab or
    CR: labels, district and intervention names come from user files) as plain text with Excel's
    quote prefix, so it is never evaluated, also not after editing the cell. This workbook writes
    no formulas of its own. Returns the number of cells changed."""
    changed = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                    cell.data_type = "s"
                    cell.quotePrefix = True
                    changed += 1
    return changed


def write_open_data(xlsx: Path, out_dir: Path) -> list[Path]:
    """Every published figure as open data: one CSV (UTF-8, comma-separated, dot decimals) and one
    Parquet file per sheet of the workbook (the explanation sheet excepted), read back from the
    workbook itself so the two can never differ."""
    import pandas as pd
    from openpyxl import load_workbook

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    wb = load_workbook(xlsx, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            if ws.title == "Toelichting":
                continue
            values = list(ws.iter_rows(values_only=True))
            if not values:
                continue
            frame = pd.DataFrame(values[1:], columns=[str(h) for h in values[0]])
            stem = "".join(ch if ch.isalnum() else "_" for ch in ws.title.lower())
            frame.to_csv(out_dir / f"{stem}.csv", index=False)
            for col in frame.columns:  # Parquet needs one type per column
                if frame[col].map(type).nunique() > 1 and not pd.api.types.is_numeric_dtype(frame[col]):
                    kinds = {type(v) for v in frame[col].dropna()}
                    if not kinds <= {int, float}:
                        frame[col] = frame[col].map(lambda v: None if v is None else str(v))
            frame.to_parquet(out_dir / f"{stem}.parquet", index=False)
            written += [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]
    finally:
        wb.close()
    return written
