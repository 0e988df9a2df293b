import unittest

from run_length import decode, encode


class RunLengthTest(unittest.TestCase):
    def test_encode_runs(self):
        self.assertEqual(encode("AAAB"), "3AB")

    def test_encode_empty(self):
        self.assertEqual(encode(""), "")

    def test_decode_runs(self):
        self.assertEqual(decode("3AB"), "AAAB")

    def test_round_trip(self):
        self.assertEqual(decode(encode("zzz yy x")), "zzz yy x")
