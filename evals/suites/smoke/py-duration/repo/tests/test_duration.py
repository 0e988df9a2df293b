import sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from duration import parse_duration


def test_minutes():
    assert parse_duration("5m") == 300
    assert parse_duration("1m30s") == 90
