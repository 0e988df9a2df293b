import sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from words import count_words


def test_basic():
    assert count_words("a b a") == {"a": 2, "b": 1}
