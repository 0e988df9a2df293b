import sys, os
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from text import slugify


def test_lowercase():
    assert slugify("Hello World") == "hello-world"
