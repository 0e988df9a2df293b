import itertools
import re


def encode(text):
    out = []
    for char, run in itertools.groupby(text):
        n = len(list(run))
        out.append((str(n) if n > 1 else "") + char)
    return "".join(out)


def decode(text):
    return "".join(char * int(count or 1) for count, char in re.findall(r"(\d*)(\D)", text))
