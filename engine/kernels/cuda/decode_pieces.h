// A forward's launches handed out in pieces of a few blocks, for a caller that sends each piece
// to the device on its own (as a CUDA graph, decode_graph.h, capturing piece i+1 while piece i
// runs): which layers each piece holds (PieceLayers, pure: tested without a device in
// tests/engine/kernels/cuda_decode_pieces_test.cc) and the caller's hook (DecodePieces).
// model_step.h ModelDecodePieces and model_rows.h ModelRowsStaged take them.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace dsagent::engine::kernels::cuda {

// Piece i's blocks [first, end). Piece 0 also runs the embedding, the last piece the head.
struct PieceLayers {
  int64_t first = 0, end = 0;
};

// The pieces of a model of `layers` blocks, `per_piece` (>= 1) blocks each (the last fewer): at
// least one piece, so a model without blocks still runs its embedding and head.
inline std::vector<PieceLayers> PiecesOf(int64_t layers, int64_t per_piece) {
  std::vector<PieceLayers> pieces;
  int64_t first = 0;
  do {
    const int64_t end = first + per_piece < layers ? first + per_piece : layers;
    pieces.push_back({first, end});
    first = end;
  } while (first < layers);
  return pieces;
}

// `queue(i, launches)` must call launches() once to queue piece i. The launches touch no host
// state (a sequence's position advances after the last piece), so a piece whose capture failed
// can be queued plainly again.
struct DecodePieces {
  int64_t layers_per_piece = 0;  // >= 1
  std::function<void(int64_t piece, const std::function<void()>& launches)> queue;
};

}  // namespace dsagent::engine::kernels::cuda
