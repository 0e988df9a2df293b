#include "engine/kernels/cuda/sequence_state_layout.h"

#include <utility>

namespace dsagent::engine::kernels::cuda {
namespace {

int RatioOf(const ModelConfig& c, int64_t layer) {
  return c.compress_ratios[static_cast<size_t>(layer)];
}

// A compressor's [slots, width] for `ratio` and `head_dim` (forward::NewSequenceState's).
int64_t CompressorValues(int ratio, int64_t head_dim) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  return coff * ratio * coff * head_dim;
}

// "layer 3", or "MTP block 0" for a layer past the main ones.
std::string LayerName(const ModelConfig& c, int64_t layer) {
  return layer < c.n_layers ? "layer " + std::to_string(layer)
                            : "MTP block " + std::to_string(layer - c.n_layers);
}

std::string Describe(const std::string& layer, const char* field) { return layer + " " + field; }

Expected<Ok, std::string> CheckSize(size_t have, int64_t need, const std::string& layer,
                                    const char* field, const char* unit) {
  if (static_cast<int64_t>(have) == need) return Ok{};
  return MakeUnexpected("the sequence state's " + Describe(layer, field) + " has " +
                        std::to_string(have) + " " + unit + ", the model needs " +
                        std::to_string(need));
}

Expected<Ok, std::string> CheckCompressor(const forward::CompressorState& s, int ratio,
                                          int64_t head_dim, const std::string& layer,
                                          const char* field) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  const int64_t slots = ratio > 0 ? coff * ratio : 0, width = ratio > 0 ? coff * head_dim : 0;
  if (s.slots != slots || s.width != width) {
    return MakeUnexpected("the sequence state's " + Describe(layer, field) + " is [" +
                          std::to_string(s.slots) + ", " + std::to_string(s.width) +
                          "], the model's [" + std::to_string(slots) + ", " +
                          std::to_string(width) + "]");
  }
  if (auto ok = CheckSize(s.kv.size(), slots * width, layer, field, "values"); !ok) return ok;
  return CheckSize(s.score.size(), slots * width, layer, field, "scores");
}

}  // namespace

size_t SequenceBufferBytes(const ModelConfig& c, int64_t context, int64_t layer,
                           SequenceBuffer buffer) {
  const int ratio = RatioOf(c, layer);
  const int64_t entries = ratio > 0 ? CompressedEntrySlots(context, ratio) : 0;
  int64_t n = 0, size = 4;
  switch (buffer) {
    case SequenceBuffer::kCache:
      n = (c.window_size + entries) * c.head_dim;
      size = 2;
      break;
    case SequenceBuffer::kCompressorKv:
    case SequenceBuffer::kCompressorScore:
      n = ratio > 0 ? CompressorValues(ratio, c.head_dim) : 0;
      break;
    case SequenceBuffer::kIndexKeys:
      n = ratio == 4 ? entries * c.index_head_dim : 0;
      size = 2;
      break;
    case SequenceBuffer::kIndexCompressorKv:
    case SequenceBuffer::kIndexCompressorScore:
      n = ratio == 4 ? CompressorValues(ratio, c.index_head_dim) : 0;
      break;
  }
  return static_cast<size_t>(n * size);
}

Expected<Ok, std::string> CheckStateFitsDevice(const ModelConfig& c, int64_t context,
                                               const forward::SequenceState& state) {
  if (state.layers.size() != static_cast<size_t>(c.n_layers) ||
      state.mtp.size() != static_cast<size_t>(c.n_mtp_layers)) {
    return MakeUnexpected("the sequence state has " + std::to_string(state.layers.size()) +
                          " layers and " + std::to_string(state.mtp.size()) +
                          " MTP blocks; the model " + std::to_string(c.n_layers) + " and " +
                          std::to_string(c.n_mtp_layers) + " (a state of another model)");
  }
  if (state.pos < 0 || state.pos > context) {
    return MakeUnexpected("the sequence state is at position " + std::to_string(state.pos) +
                          "; the device sequence holds " + std::to_string(context) +
                          " positions (open the device model with a longer context)");
  }
  if (state.mtp_pos < 0 || state.mtp_pos > context) {
    return MakeUnexpected("the sequence state's MTP blocks are at position " +
                          std::to_string(state.mtp_pos) + "; the device sequence holds " +
                          std::to_string(context) + " positions");
  }
  for (int64_t i = 0; i < StateLayers(c); ++i) {
    const forward::LayerState& l = StateLayer(state, i);
    const std::string name = LayerName(c, i);
    const int ratio = RatioOf(c, i);
    const int64_t index_hd = ratio == 4 ? c.index_head_dim : 0;
    if (l.ratio != ratio || l.head_dim != c.head_dim || l.index_head_dim != index_hd ||
        l.rope_dims != c.rope_head_dim) {
      return MakeUnexpected("the sequence state's " + name + " has ratio " +
                            std::to_string(l.ratio) + ", head_dim " + std::to_string(l.head_dim) +
                            ", index_head_dim " + std::to_string(l.index_head_dim) +
                            ", rope_dims " + std::to_string(l.rope_dims) + "; the model " +
                            std::to_string(ratio) + ", " + std::to_string(c.head_dim) + ", " +
                            std::to_string(index_hd) + ", " + std::to_string(c.rope_head_dim));
    }
    const int64_t pos = i < c.n_layers ? state.pos : state.mtp_pos;
    const int64_t entries = ratio > 0 ? pos / ratio : 0;
    if (auto ok = CheckSize(l.window.size(), c.window_size * c.head_dim, name, "window", "values");
        !ok) {
      return ok;
    }
    if (auto ok = CheckSize(l.compressed.size(), entries * c.head_dim, name,
                            "compressed entries (one per complete block of pos)", "values");
        !ok) {
      return ok;
    }
    if (auto ok = CheckSize(l.index_keys.size(), entries * index_hd, name,
                            "indexer keys (one per complete block of pos)", "values");
        !ok) {
      return ok;
    }
    if (auto ok = CheckCompressor(l.kv_compressor, ratio, c.head_dim, name, "compressor"); !ok) {
      return ok;
    }
    if (auto ok = CheckCompressor(l.index_compressor, ratio == 4 ? 4 : 0, c.index_head_dim, name,
                                  "indexer compressor");
        !ok) {
      return ok;
    }
  }
  return Ok{};
}

Expected<std::vector<StateCopy>, std::string> PlanStateCopies(const ModelConfig& c, int64_t context,
                                                              const forward::SequenceState& state) {
  if (auto ok = CheckStateFitsDevice(c, context, state); !ok) return MakeUnexpected(ok.error());
  std::vector<StateCopy> copies;
  const auto add = [&](int64_t layer, StateField field, SequenceBuffer buffer, size_t offset,
                       size_t bytes) {
    if (bytes > 0) copies.push_back({layer, field, buffer, offset, bytes});
  };
  for (int64_t i = 0; i < StateLayers(c); ++i) {
    const forward::LayerState& l = StateLayer(state, i);
    const size_t window_bytes = l.window.size() * sizeof(uint16_t);
    add(i, StateField::kWindow, SequenceBuffer::kCache, 0, window_bytes);
    add(i, StateField::kCompressed, SequenceBuffer::kCache, window_bytes,
        l.compressed.size() * sizeof(uint16_t));
    add(i, StateField::kIndexKeys, SequenceBuffer::kIndexKeys, 0,
        l.index_keys.size() * sizeof(uint16_t));
    if (l.ratio > 0) {
      add(i, StateField::kCompressorKv, SequenceBuffer::kCompressorKv, 0,
          l.kv_compressor.kv.size() * sizeof(float));
      add(i, StateField::kCompressorScore, SequenceBuffer::kCompressorScore, 0,
          l.kv_compressor.score.size() * sizeof(float));
    }
    if (l.ratio == 4) {
      add(i, StateField::kIndexCompressorKv, SequenceBuffer::kIndexCompressorKv, 0,
          l.index_compressor.kv.size() * sizeof(float));
      add(i, StateField::kIndexCompressorScore, SequenceBuffer::kIndexCompressorScore, 0,
          l.index_compressor.score.size() * sizeof(float));
    }
  }
  return copies;
}

namespace {

template <class State, class Byte>
Byte* FieldBytes(State& state, const StateCopy& copy) {
  auto& l = StateLayer(state, copy.layer);
  switch (copy.field) {
    case StateField::kWindow:
      return reinterpret_cast<Byte*>(l.window.data());
    case StateField::kCompressed:
      return reinterpret_cast<Byte*>(l.compressed.data());
    case StateField::kIndexKeys:
      return reinterpret_cast<Byte*>(l.index_keys.data());
    case StateField::kCompressorKv:
      return reinterpret_cast<Byte*>(l.kv_compressor.kv.data());
    case StateField::kCompressorScore:
      return reinterpret_cast<Byte*>(l.kv_compressor.score.data());
    case StateField::kIndexCompressorKv:
      return reinterpret_cast<Byte*>(l.index_compressor.kv.data());
    case StateField::kIndexCompressorScore:
      return reinterpret_cast<Byte*>(l.index_compressor.score.data());
  }
  return nullptr;
}

}  // namespace

const void* HostBytes(const forward::SequenceState& state, const StateCopy& copy) {
  return FieldBytes<const forward::SequenceState, const unsigned char>(state, copy);
}

void* HostBytes(forward::SequenceState& state, const StateCopy& copy) {
  return FieldBytes<forward::SequenceState, unsigned char>(state, copy);
}

const forward::LayerState& StateLayer(const forward::SequenceState& state, int64_t layer) {
  const auto main = static_cast<int64_t>(state.layers.size());
  return layer < main ? state.layers[static_cast<size_t>(layer)]
                      : state.mtp[static_cast<size_t>(layer - main)];
}

forward::LayerState& StateLayer(forward::SequenceState& state, int64_t layer) {
  const auto main = static_cast<int64_t>(state.layers.size());
  return layer < main ? state.layers[static_cast<size_t>(layer)]
                      : state.mtp[static_cast<size_t>(layer - main)];
}

forward::SequenceState SnapshotShape(const ModelConfig& c, int64_t pos, int64_t mtp_pos) {
  forward::SequenceState s = forward::NewSequenceState(c);
  s.pos = pos;
  s.mtp_pos = mtp_pos;
  for (int64_t i = 0; i < StateLayers(c); ++i) {
    forward::LayerState& l = StateLayer(s, i);
    const int64_t entries = l.ratio > 0 ? (i < c.n_layers ? pos : mtp_pos) / l.ratio : 0;
    l.compressed.assign(static_cast<size_t>(entries * l.head_dim), 0);
    l.index_keys.assign(static_cast<size_t>(entries * l.index_head_dim), 0);
  }
  return s;
}

}  // namespace dsagent::engine::kernels::cuda
