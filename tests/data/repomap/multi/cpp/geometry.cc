#include "geometry.h"

#include <cmath>

namespace geo {

double DistanceBetween(const Point& a, const Point& b) {
  return std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y));
}

class Circle : public Shape {
 public:
  double Area() const override { return 3.14159 * radius_ * radius_; }

 private:
  double radius_ = 1;
};

}  // namespace geo
