"""FOCUS Unit Format as a checker for tests, written from the attribute's text, not from our SQL.

The text is FOCUS_Spec ``specification/attributes/unit_format.md`` at tag v1.2; FOCUS 1.3 changed no
attribute (its changelog: "Changed attributes: None") and the 1.3 rules model's UnitFormat-A-001-O ..
A-004-C quote the same sentences. What it asks, and what ``violations`` checks:

- One unit of measure in one of five formats: ``<plural-units>`` ("GB", "Seconds"),
  ``<singular-unit>-<plural-time-units>`` ("GB-Hours"), ``<plural-units>/<singular-time-unit>``
  ("GB/Hour"), ``<quantity> <plural-units>`` ("1000 Tokens") and
  ``<plural-units>/<interval> <plural-time-units>`` ("Units/3 Months"); a quantity or interval is a
  whole number.
- Data sizes are one of the listed abbreviations, the same for singular and plural ("GBs",
  "terabyte" and "YB" are invalid); time units are exactly the listed names; a listed term keeps the
  listed capitalization ("gigabyte-seconds" is the text's own counter-example).
- Any other noun is a count-based unit and "MUST be capitalized"; a composite is written with the
  separators above, so a time unit inside a noun ("OCPU Hours", "NodeHour") is not one unit of measure.

Two readings are ours, where the text gives the grammar but no list: a noun that ends in a lower-case
"s" (not "ss" or "us") is plural, so it cannot be the ``<singular-unit>`` of a compound ("Objects-Months");
a listed count unit alone is written in the plural ("Requests", not "Request").
"""

from __future__ import annotations

import re

# The spec's table: bits and bytes, with decimal (K .. E) and binary (Ki .. Ei) prefixes.
_PREFIXES = ("", "K", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
DATA_SIZES = frozenset(f"{prefix}{unit}" for prefix in _PREFIXES for unit in ("b", "B"))
TIME_SINGULAR = ("Year", "Month", "Day", "Hour", "Minute", "Second")
TIME_PLURAL = tuple(f"{name}s" for name in TIME_SINGULAR)
COUNT_SINGULAR = ("Count", "Unit", "Request", "Token", "Connection", "Certificate", "Domain", "Core")
COUNT_PLURAL = tuple(f"{name}s" for name in COUNT_SINGULAR)
_LISTED = {name.lower(): name for name in (*TIME_SINGULAR, *TIME_PLURAL, *COUNT_SINGULAR, *COUNT_PLURAL)}
_NUMBER = r"[1-9][0-9]*"
_WORD = re.compile(r"[A-Z][A-Za-z0-9]*")
_SPELLED_SIZE = re.compile(r"(kilo|mega|giga|tera|peta|exa|kibi|mebi|gibi|tebi|pebi|exbi)?(bit|byte)s?", re.IGNORECASE)
_SIZE_LIKE = re.compile(r"[kmgtpezy]?i?b(s|ps)?", re.IGNORECASE)
_TIME_ABBREVIATION = re.compile(r"(hrs?|mins?|secs?|mos?|yrs?|ms)", re.IGNORECASE)
_NUMBER_WORD = re.compile(r"(hundred|thousand|million|billion|trillion)s?", re.IGNORECASE)
_GLUED_TIME = re.compile(r"[a-z0-9](Year|Month|Day|Hour|Minute|Second)s?$")


def violations(unit: str) -> list[str]:
    """Why ``unit`` breaks FOCUS Unit Format; empty when it conforms."""
    if match := re.fullmatch(rf"(.+)/({_NUMBER}) (.+)", unit):
        return _base(match[1], plural=True) + _time(match[3], TIME_PLURAL)
    if match := re.fullmatch(r"(.+)/(.+)", unit):
        return _base(match[1], plural=True) + _time(match[2], TIME_SINGULAR)
    if match := re.fullmatch(r"(.+)-(.+)", unit):
        return _base(match[1], plural=False) + _time(match[2], TIME_PLURAL)
    if match := re.fullmatch(rf"({_NUMBER}) (.+)", unit):
        return _base(match[2], plural=True)
    return _base(unit, plural=True)


def conforms(unit: str) -> bool:
    return not violations(unit)


def _time(text: str, allowed: tuple[str, ...]) -> list[str]:
    return [] if text in allowed else [f"{text!r} is not one of the time units {', '.join(allowed)}"]


def _base(text: str, *, plural: bool) -> list[str]:
    """A data size, a time unit or a count-based noun (of one or more capitalized words)."""
    if text in DATA_SIZES:
        return []
    if text in TIME_SINGULAR or text in TIME_PLURAL:
        wanted = TIME_PLURAL if plural else TIME_SINGULAR
        return [] if text in wanted else [f"{text!r}: the time unit is {'plural' if plural else 'singular'} here"]
    words = text.split(" ")
    found = [problem for word in words if (problem := _word(word))]
    last = words[-1]
    if plural and last in COUNT_SINGULAR:
        found.append(f"{text!r}: a listed count unit is plural here ({last}s)")
    if not plural and (last in COUNT_PLURAL or (last.lower() not in _LISTED and _plural_noun(last))):
        found.append(f"{text!r}: the unit before '-' is singular")
    return found


def _word(word: str) -> str | None:
    """What is wrong with one word of a count-based unit, or None."""
    if not _WORD.fullmatch(word):
        return f"{word!r} is not a capitalized noun"
    if word.lower() in _LISTED and word != _LISTED[word.lower()]:
        return f"{word!r} is capitalized unlike the listed {_LISTED[word.lower()]!r}"
    if word in TIME_SINGULAR or word in TIME_PLURAL:
        return f"{word!r}: a time unit inside a noun (a compound is joined with '-' or '/')"
    if _SPELLED_SIZE.fullmatch(word) or (_SIZE_LIKE.fullmatch(word) and word not in DATA_SIZES):
        return f"{word!r}: data sizes are one of the listed abbreviations"
    if _NUMBER_WORD.fullmatch(word):
        return f"{word!r}: a unit quantity is a whole number"
    if _TIME_ABBREVIATION.fullmatch(word):
        return f"{word!r}: time units are spelled as listed"
    if _GLUED_TIME.search(word):
        return f"{word!r}: a time unit glued to a noun (a compound is joined with '-')"
    return None


def _plural_noun(word: str) -> bool:
    """An English plural by its ending: a lower-case "s" after a lower-case letter, not "ss" or "us"."""
    return len(word) > 2 and word.endswith("s") and word[-2].islower() and not word.endswith(("ss", "us"))
