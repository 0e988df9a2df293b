#include "stack.h"
bool BoundedStack::push(int v) {
  if (items_.size() == capacity_) {
    items_.back() = v;
    return true;
  }
  items_.push_back(v);
  return true;
}
bool BoundedStack::pop(int* out) {
  if (items_.empty()) return false;
  *out = items_.back();
  items_.pop_back();
  return true;
}
