"""Field configs: units, colours, thresholds, value mappings and overrides.

The dashboards agree on how a price, a change or a status reads (amber
figures, green up and red down, named states); these builders are
where that agreement lives.
"""

from __future__ import annotations

from typing import Any

from .style import AMBER, DOWN, UP


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """Absolute thresholds from (value, colour) steps, the first value being None."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


UPDOWN = thresholds((None, DOWN), (0, UP))
AMBER_ONLY = thresholds((None, AMBER))


def field_defaults(
    unit: str = "none",
    decimals: int | None = None,
    color: dict[str, Any] | None = None,
    th: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    links: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``fieldConfig.defaults``: amber by thresholds unless told otherwise; ``extra`` as is."""
    d: dict[str, Any] = {
        "unit": unit,
        "color": color or {"mode": "thresholds"},
        "thresholds": th or AMBER_ONLY,
        "mappings": extra.pop("mappings", []),
    }
    if decimals is not None:
        d["decimals"] = decimals
    if custom is not None:
        d["custom"] = custom
    if links:
        d["links"] = links
    d.update(extra)
    return d


def palette_defaults(unit: str = "none", **kw: Any) -> dict[str, Any]:
    """Defaults for charts with one colour per series (Grafana's classic palette)."""
    return field_defaults(unit=unit, color={"mode": "palette-classic"}, **kw)


def price_defaults(**kw: Any) -> dict[str, Any]:
    """Defaults for a price: plain amber figures, no thresholds colouring."""
    return field_defaults(
        unit="none",
        decimals=kw.pop("decimals", None),
        color={"mode": "fixed", "fixedColor": AMBER},
        **kw,
    )


def pct_defaults(**kw: Any) -> dict[str, Any]:
    """Defaults for a change in percent: red below zero, green from zero up."""
    return field_defaults(unit="percent", decimals=2, th=UPDOWN, **kw)


def two_states(zero: str, one: str) -> list[dict[str, Any]]:
    """Value mappings naming the two states of a 0/1 metric (down/up, no/yes)."""
    return [
        {
            "type": "value",
            "options": {"0": {"text": zero, "index": 0}, "1": {"text": one, "index": 1}},
        }
    ]


def override(matcher: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """A field override: fields matched by ``matcher`` (byName, byRegexp, byFrameRefID)
    against ``name`` get ``props``."""
    return {
        "matcher": {"id": matcher, "options": name},
        "properties": [{"id": k, "value": v} for k, v in props.items()],
    }
