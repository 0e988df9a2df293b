import unittest

from leap_year import is_leap


class LeapYearTest(unittest.TestCase):
    def test_ordinary_year(self):
        self.assertIs(is_leap(2023), False)

    def test_divisible_by_four(self):
        self.assertIs(is_leap(2024), True)

    def test_century(self):
        self.assertIs(is_leap(1900), False)

    def test_fourth_century(self):
        self.assertIs(is_leap(2000), True)


if __name__ == "__main__":
    unittest.main()
