# The CUDA backend's device tests (engine_cuda_test): on a GPU in a CUDA build, and on the CPU in an
# emulation build (tests/cuda_emulator/CMakeLists.txt). Paths relative to tests/engine/.
set(DSAGENT_CUDA_DEVICE_TESTS
  kernels/cuda_ops_test.cc kernels/cuda_forward_ops_test.cc kernels/cuda_model_test.cc
  kernels/cuda_decoder_test.cc kernels/cuda_sequence_copy_test.cc
  kernels/cuda_sequence_model_test.cc kernels/cuda_runtime_test.cc
  kernels/cuda_mtp_test.cc kernels/cuda_decode_graph_test.cc kernels/cuda_vector_steps_test.cc
  kernels/cuda_host_pinning_test.cc kernels/cuda_tensor_matvec_test.cc
  kernels/cuda_upload_staging_test.cc)
