"""A report's answers to its category's attributes (Open311 service definition), checked before
anything is stored: a code the service does not define, a missing required answer, a value outside
a list or of the wrong datatype is refused with the attribute's name, never dropped."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from geo.errors import InvalidInput

MAX_TEXT = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def validate(definition: Sequence[Mapping[str, object]], given: Mapping[str, Sequence[str]], *,
             service: str) -> dict[str, object]:
    """The answers in ``given`` (attribute code → the values sent) checked against ``definition``.

    Returns code → value (a string, a number, an ISO datetime string, or a list of keys for a
    multivaluelist). Answers left empty count as not given."""
    defined = {str(a["code"]): a for a in definition}
    unknown = sorted(set(given) - set(defined))
    if unknown:
        choices = ", ".join(sorted(defined)) or "none"
        raise InvalidInput(f"attribute[{unknown[0]}] is not an attribute of service_code {service} "
                           f"(its attributes: {choices})", pointer=f"attribute[{unknown[0]}]")
    out: dict[str, object] = {}
    for code, spec in defined.items():
        values = [v for v in given.get(code, ()) if v.strip()]
        if not values:
            if spec.get("required"):
                raise InvalidInput(f"attribute[{code}] is required for service_code {service}",
                                   pointer=f"attribute[{code}]")
            continue
        out[code] = _value(code, spec, values)
    return out


def _value(code: str, spec: Mapping[str, object], values: list[str]) -> object:
    where = f"attribute[{code}]"
    datatype = spec.get("datatype", "string")
    for v in values:
        if _CONTROL.search(v):
            raise InvalidInput(f"{where} contains control characters", pointer=where)
        if len(v) > MAX_TEXT:
            raise InvalidInput(f"{where} is longer than {MAX_TEXT} characters", pointer=where)
    if datatype == "multivaluelist":
        keys = _keys(spec)
        bad = [v for v in values if v not in keys]
        if bad:
            raise InvalidInput(f"{where} must be among {', '.join(keys)}; got {bad[0]!r}", pointer=where)
        return list(dict.fromkeys(values))
    if len(values) > 1:
        raise InvalidInput(f"{where} takes one value; got {len(values)}", pointer=where)
    value = values[0].strip()
    if datatype == "singlevaluelist":
        keys = _keys(spec)
        if value not in keys:
            raise InvalidInput(f"{where} must be one of {', '.join(keys)}; got {value!r}", pointer=where)
        return value
    if datatype == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidInput(f"{where} must be a number; got {value!r}", pointer=where)
        return number
    if datatype == "datetime":
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{where} must be an ISO 8601 date-time; got {value!r}", pointer=where) from None
        if when.tzinfo is None:
            raise InvalidInput(f"{where} must include a time zone (Z or +08:00)", pointer=where)
        return when.isoformat()
    return value  # string, text


def _keys(spec: Mapping[str, object]) -> list[str]:
    return [str(v["key"]) for v in spec.get("values") or []]  # type: ignore[union-attr, index]
