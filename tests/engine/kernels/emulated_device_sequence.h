// A device sequence's buffers emulated on the host (kernels/cuda/sequence_state_layout.h's plan
// run with memcpy into byte buffers of the device buffers' sizes), for the host tests of the
// layout and of the row undo plan. Each buffer starts filled with 0xA5, so a byte no copy wrote
// stands out.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "engine/forward/sequence_state.h"
#include "engine/kernels/cuda/sequence_state_layout.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda::test_support {

// A device sequence's buffers emulated on the host, sized as the device allocates them.
class EmulatedDeviceSequence {
 public:
  EmulatedDeviceSequence(const ModelConfig& c, int64_t context) : config_(c), context_(context) {
    for (int64_t l = 0; l < StateLayers(c); ++l) {
      for (SequenceBuffer b :
           {SequenceBuffer::kCache, SequenceBuffer::kCompressorKv, SequenceBuffer::kCompressorScore,
            SequenceBuffer::kIndexKeys, SequenceBuffer::kIndexCompressorKv,
            SequenceBuffer::kIndexCompressorScore}) {
        buffers_[{l, b}].assign(SequenceBufferBytes(c, context, l, b), 0xA5);
      }
    }
  }

  // Every copy inside its buffer, no two overlapping.
  void ExpectCopiesFit(const std::vector<StateCopy>& copies) {
    std::map<std::pair<int64_t, SequenceBuffer>, std::vector<bool>> used;
    for (const StateCopy& c : copies) {
      const auto& buf = buffers_.at({c.layer, c.buffer});
      ASSERT_LE(c.offset + c.bytes, buf.size()) << "layer " << c.layer;
      auto& u = used[{c.layer, c.buffer}];
      u.resize(buf.size(), false);
      for (size_t i = c.offset; i < c.offset + c.bytes; ++i) {
        ASSERT_FALSE(u[i]) << "layer " << c.layer << ": copies overlap at byte " << i;
        u[i] = true;
      }
    }
  }

  void Restore(const forward::SequenceState& state) {
    auto copies = PlanStateCopies(config_, context_, state);
    ASSERT_TRUE(copies) << copies.error();
    ExpectCopiesFit(*copies);
    for (const StateCopy& c : *copies) {
      std::memcpy(buffers_.at({c.layer, c.buffer}).data() + c.offset, HostBytes(state, c), c.bytes);
    }
    pos_ = state.pos;
    mtp_pos_ = state.mtp_pos;
  }

  forward::SequenceState Snapshot() const {
    forward::SequenceState state = SnapshotShape(config_, pos_, mtp_pos_);
    auto copies = PlanStateCopies(config_, context_, state);
    EXPECT_TRUE(copies) << copies.error();
    if (!copies) return state;
    for (const StateCopy& c : *copies) {
      std::memcpy(HostBytes(state, c), buffers_.at({c.layer, c.buffer}).data() + c.offset, c.bytes);
    }
    return state;
  }

  // The bytes of `buffer` of layer `layer` (main layers, then MTP blocks).
  std::vector<unsigned char>& Buffer(int64_t layer, SequenceBuffer buffer) {
    return buffers_.at({layer, buffer});
  }
  const std::map<std::pair<int64_t, SequenceBuffer>, std::vector<unsigned char>>& buffers() const {
    return buffers_;
  }

 private:
  ModelConfig config_;
  int64_t context_;
  int64_t pos_ = 0, mtp_pos_ = 0;
  std::map<std::pair<int64_t, SequenceBuffer>, std::vector<unsigned char>> buffers_;
};

}  // namespace dsagent::engine::kernels::cuda::test_support
