"""Build bevolking_18plus.csv: the Den Haag 18+ population in the municipality's own bands, in the plain
table format (docs/new-municipality.md#population), from the real CBS figures.

Source: CBS Kerncijfers wijken en buurten 2019 (table 84583NED), Den Haag (GM0518), districts (wijken);
names from the CBS/PDOK Wijk- en Buurtkaart 2019. Bron: CBS, CC BY 4.0.

CBS publishes age groups 15-24, 25-44, 45-64, 65+ and sex separately. The bands 18-34, 35-54, 55-74 and
75+ are derived by assuming ages evenly spread within each CBS group (18-24 = 7/10 of 15-24, ...) and
75+ = 45% of 65+ (the Dutch share in 2019, CBS StatLine 7461bev); the joint age x sex table uses the
district's share of men, with 42% men among the 75+. The result is a realistic plain table for tests,
not an official CBS figure. Run: python tests/data/denhaag/make_population.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[3]


def build() -> pd.DataFrame:
    from socialquality.population import district_population, read_kwb
    from socialquality.report.maps import load_districts

    kwb = read_kwb(ROOT / "data" / "cbs" / "kwb_2019_den_haag_84583NED.csv")
    districts = district_population(kwb, "GM0518")
    names = {d.code: d.name for d in load_districts(ROOT / "data" / "geo" / "wijken_2019_GM0518.geojson")}
    rows = []
    for r in districts.to_dict("records"):
        if not r["population"]:
            continue  # no inhabitants (dunes, harbour): not in the table
        a15, a25, a45, a65 = (float(r[f"age_{g}"]) for g in ("15-24", "25-44", "45-64", "65+"))
        bands = {"18-34": a15 * 0.7 + a25 * 0.5, "35-54": a25 * 0.5 + a45 * 0.5,
                 "55-74": a45 * 0.5 + a65 * 0.55, "75+": a65 * 0.45}
        men = float(r["sex_m"]) / max(float(r["sex_m"]) + float(r["sex_v"]), 1.0)
        for band, count in bands.items():
            share = 0.42 if band == "75+" else men
            for sex, part in (("m", share), ("v", 1 - share)):
                rows.append({"wijkcode": r["district_code"], "wijknaam": names.get(r["district_code"], ""),
                             "leeftijd": band, "geslacht": sex, "aantal": int(round(count * part))})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    out = Path(__file__).with_name("bevolking_18plus.csv")
    build().to_csv(out, sep=";", index=False, lineterminator="\n")
    print(f"wrote {out}")
