#pragma once
#include <cstddef>
#include <vector>
class BoundedStack {
 public:
  explicit BoundedStack(size_t capacity) : capacity_(capacity) {}
  bool push(int v);
  bool pop(int* out);
  size_t size() const { return items_.size(); }

 private:
  size_t capacity_;
  std::vector<int> items_;
};
