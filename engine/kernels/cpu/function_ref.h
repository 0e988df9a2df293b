// FunctionRef<R(Args...)>: a non-owning reference to a callable object, for a parameter that is
// only called during the call it is passed to (ThreadPool::ParallelFor's loop body). Unlike
// std::function it never copies the callable and so never allocates: a std::function holding a
// lambda that captures more than two pointers' worth allocates its copy on the heap (libstdc++'s
// small buffer is 16 bytes), once per call, and the decode step's loops run ~150 of them.
//
// It is two pointers: the object's address and a function that calls it. The referenced object
// must outlive every call through the reference; binding a temporary lambda in a call's argument
// list is fine (it lives to the end of that full expression), storing the reference past it is not.
//
// Thread-safety: as the referenced object's operator(), which may be called from several threads
// at once (ParallelFor does).
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace dsagent::engine::kernels::cpu {

template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  // Refers to `f`, a callable object (not a plain function, not another FunctionRef's copy).
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_object_v<std::remove_reference_t<F>> &&
           std::is_invocable_r_v<R, std::remove_reference_t<F>&, Args...>) FunctionRef(F&& f)
  noexcept  // NOLINT(google-explicit-constructor): binds like std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_(&Call<std::remove_reference_t<F>>) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  template <class F>
  static R Call(void* object, Args... args) {
    return (*static_cast<F*>(object))(std::forward<Args>(args)...);
  }

  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace dsagent::engine::kernels::cpu
