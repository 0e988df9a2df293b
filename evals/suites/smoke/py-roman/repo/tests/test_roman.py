import sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from roman import to_roman


def test_simple():
    assert to_roman(3) == "III"
    assert to_roman(1666) == "MDCLXVI"
