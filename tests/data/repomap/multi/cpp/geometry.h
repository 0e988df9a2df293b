#pragma once

namespace geo {

struct Point {
  double x;
  double y;
};

class Shape {
 public:
  virtual ~Shape() = default;
  virtual double Area() const = 0;
};

enum class Color { kRed, kGreen };

using PointList = Point*;

double DistanceBetween(const Point& a, const Point& b);

}  // namespace geo
