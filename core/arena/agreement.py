"""Inter-rater agreement for the arena's shared overlap items: Fleiss' kappa, Krippendorff's alpha.

Raters see the two answers on randomised sides, so agreement compares outcomes at candidate level
(the winning candidate's name, "tie" or "both_bad"), never the side that was clicked.
Tests: `.venv/bin/pytest tests/unit/test_arena_agreement.py`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def fleiss_kappa(table) -> float:
    """Fleiss' kappa; table[i][k] = raters who put item i in category k.

    Every item must have the same number of raters (at least two): ValueError naming the first
    item that differs. NaN when every rating falls in one category (chance agreement is total,
    so kappa is 0/0).
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError("table must be items x categories with at least one item")
    per_item = t.sum(axis=1)
    n = per_item[0]
    if n < 2:
        raise ValueError(f"item 0 has {n:g} rater(s); kappa needs at least two per item")
    differs = np.flatnonzero(per_item != n)
    if differs.size:
        k = int(differs[0])
        raise ValueError(f"item {k} has {per_item[k]:g} raters, item 0 has {n:g}; Fleiss' kappa needs the same count")
    p_item = ((t * t).sum(axis=1) - n) / (n * (n - 1))
    p_cat = t.sum(axis=0) / t.sum()
    p_bar, p_e = p_item.mean(), float(p_cat @ p_cat)
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha_nominal(units) -> float:
    """Krippendorff's alpha for nominal labels; units = per-item lists of labels (missing ratings omitted).

    Items with fewer than two labels are not pairable and are ignored. NaN when fewer than two
    pairable items' worth of values exist or all values are one category (expected disagreement 0).
    """
    pairable = [Counter(u) for u in units if len(u) >= 2]
    labels = sorted({label for c in pairable for label in c}, key=str)
    index = {label: k for k, label in enumerate(labels)}
    # Coincidence matrix: each ordered pair of values from different raters in a unit adds 1/(m_u - 1).
    o = np.zeros((len(labels), len(labels)))
    for c in pairable:
        m = sum(c.values())
        for a, na in c.items():
            for b, nb in c.items():
                o[index[a], index[b]] += na * (nb - (a == b)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    expected = n_c.sum() ** 2 - float(n_c @ n_c)  # sum over c != k of n_c * n_k
    if n < 2 or expected == 0:
        return float("nan")
    observed = o.sum() - np.trace(o)
    return float(1.0 - (n - 1) * observed / expected)


def percent_agreement(units) -> float:
    """Mean over items (>= 2 labels) of the share of rater pairs that gave the same label."""
    shares = []
    for u in units:
        m = len(u)
        if m >= 2:
            same = sum(c * (c - 1) for c in Counter(u).values())
            shares.append(same / (m * (m - 1)))
    return float(np.mean(shares)) if shares else float("nan")


def _units(rows) -> dict[str, dict[str, str]]:
    """item -> {rater: outcome}; a rater's later vote on the same item replaces the earlier one."""
    items: dict[str, dict[str, str]] = {}
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    for k, row in enumerate(records):
        missing = [key for key in ("item", "rater", "outcome") if row.get(key) is None]
        if missing:
            raise ValueError(f"row {k}: missing {', '.join(missing)}")
        items.setdefault(str(row["item"]), {})[str(row["rater"])] = str(row["outcome"])
    return items


def _fleiss_subset(overlap: dict[str, dict[str, str]]) -> tuple[float, int]:
    """Fleiss' kappa on the items with the most common rater count (ties: the larger count)."""
    sizes = Counter(len(r) for r in overlap.values())
    size = max(sizes, key=lambda s: (sizes[s], s))
    chosen = [list(r.values()) for r in overlap.values() if len(r) == size]
    labels = sorted({label for u in chosen for label in u})
    table = [[u.count(label) for label in labels] for u in chosen]
    return fleiss_kappa(table), len(chosen)


def from_votes(rows) -> dict:
    """Agreement on items voted by two or more raters. Rows: item, rater, outcome (candidate level).

    Fleiss' kappa needs a fixed rater count, so it uses the items with the most common count
    ("fleiss_items" says how many); Krippendorff's alpha and percent agreement use every overlap item.
    Too little data gives None values and a "note", never an error.
    """
    items = _units(rows)
    overlap = {item: r for item, r in items.items() if len(r) >= 2}
    raters = {rater for r in overlap.values() for rater in r}
    out = {"items": len(overlap), "raters": len(raters), "fleiss_items": 0}
    empty = {"fleiss_kappa": None, "krippendorff_alpha": None, "percent_agreement": None}
    if not overlap:
        all_raters = {rater for r in items.values() for rater in r}
        why = "fewer than two raters" if len(all_raters) < 2 else "no item was voted by two or more raters"
        return out | empty | {"note": f"Not enough overlap to measure agreement: {why}."}
    units = [list(r.values()) for r in overlap.values()]
    kappa, fleiss_items = _fleiss_subset(overlap)
    alpha = krippendorff_alpha_nominal(units)
    out |= {
        "fleiss_items": fleiss_items,
        "fleiss_kappa": None if np.isnan(kappa) else kappa,
        "krippendorff_alpha": None if np.isnan(alpha) else alpha,
        "percent_agreement": percent_agreement(units),
    }
    if np.isnan(kappa) or np.isnan(alpha):
        out["note"] = "Every rating fell in one outcome, so chance-corrected agreement is undefined."
    return out
