#include "geometry.h"

#define MAX_SHAPES 16

static double TotalLength(const geo::Point* points, int count) {
  double total = 0;
  for (int i = 1; i < count; ++i) total += geo::DistanceBetween(points[i - 1], points[i]);
  return total;
}

double Render(const geo::Shape& shape) { return shape.Area() + TotalLength(nullptr, 0); }
