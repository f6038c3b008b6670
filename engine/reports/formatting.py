"""Display strings with units, and the sign conventions of every delta in a report."""

from __future__ import annotations


def num(value, spec: str, unit: str = "") -> str:
    """`value` formatted with `spec`, followed by its unit; 'n/a' when missing."""
    if value is None:
        return "n/a"
    text = format(value, spec)
    if not unit:
        return text
    return text + unit if unit == "%" else f"{text} {unit}"


def megabytes(n_bytes) -> str:
    return num(None if n_bytes is None else n_bytes / 1e6, ",.1f", "MB")


def share(value) -> str:
    """A share in [0, 1] as a percentage."""
    return num(None if value is None else 100 * value, ".1f", "%")


def usd(value) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def signed(value, unit: str = "%", spec: str = "+.1f") -> str:
    """A change with its sign and unit; a change that rounds to zero reads as ±0."""
    if value is None:
        return "n/a"
    text = format(value, spec)
    if float(text) == 0:
        text = "±" + format(0.0, spec.lstrip("+"))
    return text + unit if unit == "%" else f"{text} {unit}".rstrip()


def tone(delta, higher_is_better: bool | None) -> str:
    """'good', 'bad' or '' for a change, given which direction helps."""
    if delta is None or higher_is_better is None or abs(delta) < 1e-9:
        return ""
    return "good" if (delta > 0) == higher_is_better else "bad"


def timestamp(iso: str | None) -> str:
    """'2026-11-29T10:46:03+00:00' -> '2026-11-29 10:46 UTC'."""
    if not iso:
        return "n/a"
    day, _, rest = iso.partition("T")
    return f"{day} {rest[:5]} UTC" if rest else day
