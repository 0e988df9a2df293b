#include "engine/kernels/cuda/side_stream.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch one_stream("DSAGENT_CUDA_SIDE_STREAMS", "off");

}  // namespace

void SideStream::Fork(CudaStream& from) {
  fork_.Record(from);
  stream_.Wait(fork_);
}

void SideStream::Join(CudaStream& into) {
  join_.Record(stream_);
  into.Wait(join_);
}

bool SideStreamsOn() { return !one_stream.On(); }

void SetSideStreams(bool on) { one_stream.Set(!on); }

}  // namespace dsagent::engine::kernels::cuda
