import re

_UNITS = {"s": 1, "m": 60}


def parse_duration(text):
    total = 0
    for amount, unit in re.findall(r"(\d+)([a-z])", text):
        if unit not in _UNITS:
            raise ValueError("unknown unit " + unit)
        total += int(amount) * _UNITS[unit]
    return total
