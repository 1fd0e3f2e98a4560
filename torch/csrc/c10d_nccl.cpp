// c10d's NCCL process group for genolm's data-parallel training on CUDA, built as its own small
// shared library (libgenolm_c10d_nccl.so). ProcessGroupNCCL lives in libtorch_cuda, which genolm
// does not link (it loads it only when a command runs on a GPU, see src/device.rs): this library
// links it and is dlopen'ed after it, so CPU runs never map CUDA. The rest of the data-parallel
// machinery (store, reducer, collectives) is c10d_shim.cpp's, through the Backend interface that
// Gloo and NCCL share.

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>

extern "C" {

// A ProcessGroupNCCL of `world` ranks over `store` (a c10d::Store*, borrowed), bound to CUDA
// device `device`, which becomes this thread's current device. Returns an owning c10d::Backend*
// (c10::intrusive_ptr released; the caller reclaims it), or null with a malloc'ed message.
void* genolm_c10d_nccl_backend(void* store, int rank, int world, int device, int64_t timeout_ms,
                               char** error) {
  try {
    auto borrowed = c10::intrusive_ptr<c10d::Store>::unsafe_reclaim_from_nonowning(
        static_cast<c10d::Store*>(store));
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = std::chrono::milliseconds(timeout_ms);
    auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(borrowed, rank, world, opts);
    at::Device bound(at::kCUDA, static_cast<c10::DeviceIndex>(device));
    backend->setBoundDeviceId(bound);
    // Creates the communicator now, so that a missing peer fails the rendezvous, not step one.
    backend->eagerConnectSingleDevice(bound);
    c10::intrusive_ptr<c10d::Backend> base = std::move(backend);
    return base.release();
  } catch (const std::exception& e) {
    const char* what = e.what();
    *error = static_cast<char*>(std::malloc(std::strlen(what) + 1));
    if (*error != nullptr) {
      std::strcpy(*error, what);
    }
  }
  return nullptr;
}

}  // extern "C"
