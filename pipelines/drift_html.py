"""A self-contained HTML drift report: a summary, then each feature with its plot.

No scripts, fonts or stylesheets are fetched: the page is one file with inline CSS and SVG, so
it opens offline, attaches to a ticket, and can be stored in the lake next to the JSON report.
Drifted features come first; each shows reference against current (histograms for numbers,
grouped bars for categories), the test, its statistic and threshold, missing rates, PSI, and
new or vanished categories.
"""

from __future__ import annotations

from html import escape
from typing import Any

from mlops.pipelines.drift import DriftReport, FeatureDrift

WIDTH, HEIGHT, PAD = 420, 150, 24
REF_COLOUR, CUR_COLOUR = "#4c78a8", "#f58518"

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:980px}
h1{font-size:1.4rem}.summary{padding:.8rem 1rem;border-radius:6px;margin-bottom:1.2rem}
.drift{background:#fde8e8}.steady{background:#e6f4ea}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem}
.card h2{font-size:1rem;margin:.2rem 0}.badge{font-size:.75rem;padding:.1rem .4rem;
border-radius:4px;margin-left:.4rem}.yes{background:#d93025;color:#fff}.no{background:#188038;
color:#fff}.warn{background:#f9ab00}table{font-size:.8rem;border-collapse:collapse}
td{padding:.1rem .6rem .1rem 0}.legend span{display:inline-block;width:.8rem;height:.8rem;
margin:0 .2rem 0 .6rem;vertical-align:middle}
"""


def render(report: DriftReport, title: str = "Data drift") -> str:
    """The report as one HTML page."""
    verdict = "drift" if report.drifted else "steady"
    ordered = sorted(report.features, key=lambda f: (not f.drifted, not f.missing_drifted))
    cards = "\n".join(_card(f) for f in ordered)
    missing = ", ".join(report.missing_drifted) or "none"
    summary = (
        f"<div class='summary {verdict}'><b>{escape(report.verdict)}</b> &middot;"
        f" {report.reference_rows:,} reference rows, {report.rows:,} current rows &middot;"
        f" missing-value rate changed: {escape(missing)}</div>"
    )
    legend = (
        f"<p class='legend'><span style='background:{REF_COLOUR}'></span>reference"
        f"<span style='background:{CUR_COLOUR}'></span>current</p>"
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{summary}{legend}"
        f"<div class='grid'>{cards}</div></body></html>"
    )


def _card(f: FeatureDrift) -> str:
    badge = f"<span class='badge {'yes' if f.drifted else 'no'}'>"
    badge += "drifted</span>" if f.drifted else "steady</span>"
    if f.missing_drifted:
        badge += "<span class='badge warn'>missing rate changed</span>"
    if f.statistic is None:
        statistic = "not testable"
    else:
        statistic = f"{f.statistic:.4g}" + (f" &plusmn;{f.error:.2g}" if f.error else "")
    rows = [
        ("test", f"{escape(f.test)} (threshold {f.threshold:g})"),
        ("statistic", statistic),
        ("PSI", "&ndash;" if f.psi is None else f"{f.psi:.3f}"),
        ("missing", f"{f.missing_reference:.1%} &rarr; {f.missing_current:.1%}"),
        ("rows", f"{f.reference_rows:,} &rarr; {f.current_rows:,}"),
    ]
    if f.new_categories:
        rows.append(("new", escape(", ".join(f.new_categories))))
    if f.vanished_categories:
        rows.append(("vanished", escape(", ".join(f.vanished_categories))))
    if f.note:
        rows.append(("note", escape(f.note)))
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return (
        f"<div class='card'><h2>{escape(f.feature)}{badge}</h2>{_plot(f.plot)}"
        f"<table>{table}</table></div>"
    )


def _plot(plot: dict[str, Any]) -> str:
    if not plot:
        return ""
    ref, cur = plot["reference"], plot["current"]
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    n = len(ref)
    slot = (WIDTH - 2 * PAD) / max(n, 1)
    bars = []
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = PAD + i * slot
        for offset, share, colour in ((0.0, r, REF_COLOUR), (slot / 2, c, CUR_COLOUR)):
            h = (HEIGHT - 2 * PAD) * share / top
            bars.append(
                f"<rect x='{x + offset:.1f}' y='{HEIGHT - PAD - h:.1f}' width='{slot / 2:.1f}'"
                f" height='{h:.1f}' fill='{colour}' opacity='.85'><title>{share:.2%}</title></rect>"
            )
    labels = _axis(plot, slot)
    return (
        f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' width='100%' role='img'>"
        f"<line x1='{PAD}' y1='{HEIGHT - PAD}' x2='{WIDTH - PAD}' y2='{HEIGHT - PAD}'"
        f" stroke='#999'/>{''.join(bars)}{labels}</svg>"
    )


def _axis(plot: dict[str, Any], slot: float) -> str:
    y = HEIGHT - PAD + 12
    if "labels" in plot:  # categories: each under its pair of bars (shortened)
        return "".join(
            f"<text x='{PAD + (i + 0.5) * slot:.1f}' y='{y}' font-size='8' text-anchor='middle'>"
            f"{escape(str(label)[:8])}</text>"
            for i, label in enumerate(plot["labels"])
        )
    edges = plot["edges"]
    return (
        f"<text x='{PAD}' y='{y}' font-size='9'>{edges[0]:.4g}</text>"
        f"<text x='{WIDTH - PAD}' y='{y}' font-size='9' text-anchor='end'>{edges[-1]:.4g}</text>"
    )
