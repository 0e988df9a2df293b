"""Shapes and their areas."""

UNIT_SCALE = 2


class Circle:
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return 3.14159 * self.radius * self.radius


def compute_total_area(shapes):
    return sum(s.area() for s in shapes) * UNIT_SCALE
