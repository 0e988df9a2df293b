// The ThreadWorkspace (kernels/workspace.h) slots of the CPU ops: one per buffer, so that an op
// never overwrites scratch of an op that calls it.
#pragma once

namespace dsagent::engine::kernels::cpu {

enum WorkspaceSlot : int {
  kHadamardValues = 0,
  kAttentionAcc,
  kAttentionPv,
  kRouterBiased,
  kRouterOrder,
  kRouterExp,
  kPoolValues,
  kPoolScores,
  kPoolExp,
  kIndexerDots,
  kTopKOrder,
  kHcWeights,
  kSinkhornComb,
  kSinkhornExp,
  kHcPostNext,
  kProductInput,
  kProductTasks,
};

}  // namespace dsagent::engine::kernels::cpu
