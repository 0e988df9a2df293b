from lib.shapes import Circle, compute_total_area


def main():
    shapes = [Circle(1), Circle(2)]
    print(compute_total_area(shapes))


if __name__ == "__main__":
    main()
