"""Small helpers for reading AppTest trees."""

import json


def texts(at, kind: str) -> list[str]:
    """The values of every element of one kind (title, error, caption...), as strings."""
    return [str(e.value) for e in getattr(at, kind)]


def plotly_figures(at) -> list[dict]:
    """Every plotly chart on the page, as its figure JSON."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
