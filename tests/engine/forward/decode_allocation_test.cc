// A warm decode step allocates nothing on the heap but the logits it returns and the sequence
// state's own growth (issue 16 §1: no allocation per call on the hot path). This binary replaces
// the global operator new with a counting one (so it is a test executable of its own), warms the
// threads' workspaces on one sequence, then decodes another one token at a time and counts the
// allocations of each Model::ForwardLast call, from every thread.
//
// The expected count per step is exact: 1 (the returned logits vector) plus the number of the
// state's buffers that moved, i.e. that std::vector regrew: the compressed entries and indexer
// keys grow by one entry per completed block, which is the state's size, not per-call scratch.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "engine/forward/model.h"
#include "tests/engine/forward/state_checks.h"

// The replaced operator delete frees with std::free what the replaced operator new took with
// std::malloc; GCC, seeing a delete expression inlined into free(), calls that a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* CountedAlloc(std::size_t size, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (size == 0) size = 1;
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (size + align - 1) / align * align)
                : std::malloc(size);
  return p;
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = CountedAlloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = CountedAlloc(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = CountedAlloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = CountedAlloc(n, static_cast<std::size_t>(a))) return p;
  throw std::bad_alloc();
}
// std::stable_sort's temporary buffer comes through the nothrow form.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return CountedAlloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return CountedAlloc(n, 0); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace dsagent::engine::forward {
namespace {

using kernels::Numerics;

// The addresses of every buffer of the state (a std::vector that regrows moves).
std::vector<const void*> Buffers(const SequenceState& s) {
  std::vector<const void*> out;
  for (const LayerState& l : s.layers) {
    for (const auto* v : {&l.window, &l.compressed, &l.index_keys}) out.push_back(v->data());
    for (const CompressorState* c : {&l.kv_compressor, &l.index_compressor}) {
      out.push_back(c->kv.data());
      out.push_back(c->score.data());
    }
  }
  return out;
}

int64_t Moved(const std::vector<const void*>& before, const std::vector<const void*>& after) {
  int64_t n = 0;
  for (size_t i = 0; i < before.size(); ++i) n += before[i] != after[i];
  return n;
}

int32_t TokenAt(int64_t i) { return static_cast<int32_t>((i * 37 + 11) % 509); }

class DecodeAllocationTest : public ::testing::TestWithParam<Numerics> {};

TEST_P(DecodeAllocationTest, AWarmDecodeStepAllocatesOnlyItsLogitsAndTheStatesGrowth) {
  ModelOptions options;
  options.threads = 2;  // the pool's loops run on a worker too
  options.numerics = GetParam();
  auto loaded = Model::Load(testing::kForwardTestData / "v4-tiny", options);
  ASSERT_TRUE(loaded) << loaded.error();
  Model& model = **loaded;
  const int64_t prompt = 16, context = 64;
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < context + 16; ++i) tokens.push_back(TokenAt(i));

  // Warm-up: a longer sequence, so that every workspace has seen the sizes the measured one needs
  // (they grow with the context: the indexer's scores, the attention's index lists).
  {
    SequenceState warm = model.NewSequence();
    ASSERT_TRUE(model.ForwardLast(warm, std::span(tokens).first(prompt)));
    for (int64_t p = prompt; p < context + 16; ++p) {
      ASSERT_TRUE(model.ForwardLast(warm, std::span(tokens).subspan(p, 1)));
    }
  }

  SequenceState state = model.NewSequence();
  ASSERT_TRUE(model.ForwardLast(state, std::span(tokens).first(prompt)));
  int64_t steps_without_growth = 0;
  for (int64_t p = prompt; p < context; ++p) {
    const std::vector<const void*> before = Buffers(state);
    g_allocations = 0;
    g_counting = true;
    auto logits = model.ForwardLast(state, std::span(tokens).subspan(p, 1));
    g_counting = false;
    ASSERT_TRUE(logits) << logits.error();
    const int64_t growth = Moved(before, Buffers(state));
    EXPECT_EQ(g_allocations.load(), 1 + growth)
        << "decode at position " << p << ": " << growth << " state buffers regrew";
    steps_without_growth += growth == 0;
  }
  // Most steps complete no block whose entry outgrows its vector: there, the logits alone.
  EXPECT_GT(steps_without_growth, (context - prompt) / 2);
}

std::string NumericsParamName(const ::testing::TestParamInfo<Numerics>& param) {
  return std::string(kernels::NumericsName(param.param));
}

INSTANTIATE_TEST_SUITE_P(BothNumerics, DecodeAllocationTest,
                         ::testing::Values(Numerics::kExact, Numerics::kFast), NumericsParamName);

}  // namespace
}  // namespace dsagent::engine::forward
