#include "engine/forward/last_row_undo.h"

#include <algorithm>
#include <limits>

namespace dsagent::engine::forward {
namespace {

// Clears the slot of position q in the compressor's current block (empty: value 0, logit -inf).
void ClearSlot(CompressorState& st, int ratio, int64_t q) {
  const int64_t slot =
      (ratio == 4 ? ratio : 0) + q % ratio;  // overlapping: after the previous block
  const auto begin = static_cast<size_t>(slot * st.width),
             end = begin + static_cast<size_t>(st.width);
  std::fill(st.kv.begin() + begin, st.kv.begin() + end, 0.0f);
  std::fill(st.score.begin() + begin, st.score.begin() + end,
            -std::numeric_limits<float>::infinity());
}

void TakeBack(CompressorState& st, const LastRowUndo::Compressor& undo, int ratio, int64_t q,
              std::vector<uint16_t>& entries, int64_t entry_dim) {
  if (st.slots == 0) return;  // no compressor
  if (undo.pooled) {
    st.kv = undo.kv;
    st.score = undo.score;
    entries.resize(entries.size() - static_cast<size_t>(entry_dim));
  }
  ClearSlot(st, ratio, q);
}

void Keep(CompressorState& st, bool on) {
  st.keep_before_pool = on;
  st.kv_before_pool.clear();
  st.score_before_pool.clear();
}

void MoveKept(CompressorState& st, LastRowUndo::Compressor& out) {
  out.pooled = !st.kv_before_pool.empty();
  out.kv = std::move(st.kv_before_pool);
  out.score = std::move(st.score_before_pool);
  Keep(st, false);
}

}  // namespace

void BeginUndoableRow(SequenceState& state, int64_t pos, LastRowUndo& undo) {
  undo = LastRowUndo{};
  undo.pos = pos;
  undo.layers.resize(state.layers.size());
  for (size_t i = 0; i < state.layers.size(); ++i) {
    LayerState& l = state.layers[i];
    const int64_t window = static_cast<int64_t>(l.window.size()) / l.head_dim;
    const auto row = l.window.begin() + (pos % window) * l.head_dim;
    undo.layers[i].window_row.assign(row, row + l.head_dim);
    Keep(l.kv_compressor, true);
    Keep(l.index_compressor, true);
  }
}

void EndUndoableRow(SequenceState& state, LastRowUndo& undo) {
  for (size_t i = 0; i < state.layers.size(); ++i) {
    MoveKept(state.layers[i].kv_compressor, undo.layers[i].kv);
    MoveKept(state.layers[i].index_compressor, undo.layers[i].index);
  }
}

Expected<Ok, std::string> TakeBackLastRow(SequenceState& state, const LastRowUndo& undo) {
  if (undo.pos < 0 || undo.pos != state.pos - 1 || undo.layers.size() != state.layers.size()) {
    return MakeUnexpected("cannot take back position " + std::to_string(undo.pos) +
                          ": the state's last row is at " + std::to_string(state.pos - 1));
  }
  const int64_t q = undo.pos;
  for (size_t i = 0; i < state.layers.size(); ++i) {
    LayerState& l = state.layers[i];
    const LastRowUndo::Layer& u = undo.layers[i];
    const int64_t window = static_cast<int64_t>(l.window.size()) / l.head_dim;
    std::copy(u.window_row.begin(), u.window_row.end(),
              l.window.begin() + (q % window) * l.head_dim);
    if (l.ratio > 0) {
      TakeBack(l.kv_compressor, u.kv, l.ratio, q, l.compressed, l.head_dim);
      TakeBack(l.index_compressor, u.index, l.ratio, q, l.index_keys, l.index_head_dim);
    }
  }
  state.pos -= 1;
  return Ok{};
}

}  // namespace dsagent::engine::forward
