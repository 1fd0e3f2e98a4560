// The small part of PyTorch's c10d that genolm's data-parallel training needs, as a C API for
// Rust (tch binds none of c10d): rendezvous through a TCPStore, a process group (Gloo on CPU,
// NCCL on CUDA when built with its headers), asynchronous allreduce, broadcast and barrier, each
// with a timeout. Every function catches C++ exceptions and returns them as a message the caller
// frees with genolm_c10d_free_error: an error in a peer (a rank killed, a timeout) must become a
// Rust error, never an abort.
//
// Tensors cross as tch's `C_tensor` handles, which are `at::Tensor*` (tch's torch_api.h).

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef GENOLM_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
};

char* copy_message(const char* what) {
  char* out = static_cast<char*>(std::malloc(std::strlen(what) + 1));
  if (out != nullptr) {
    std::strcpy(out, what);
  }
  return out;
}

// Runs `body`; on a C++ exception stores its message in `*error` and returns false.
template <typename F>
bool guarded(char** error, F&& body) {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    *error = copy_message(e.what());
  } catch (...) {
    *error = copy_message("unknown C++ exception in c10d");
  }
  return false;
}

std::vector<at::Tensor> tensors_of(at::Tensor** tensors, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    out.push_back(*tensors[i]);
  }
  return out;
}

}  // namespace

extern "C" {

typedef struct genolm_c10d_group genolm_c10d_group;
typedef struct genolm_c10d_work genolm_c10d_work;

// Joins the group of `world` ranks whose store is served at host:port (by this process when
// `serve_store`: rank 0, unless torchrun's agent serves it). `nccl` picks NCCL (CUDA tensors) over
// Gloo (CPU tensors). `timeout_ms` bounds the rendezvous and every operation.
genolm_c10d_group* genolm_c10d_new_group(const char* host, int port, int rank, int world,
                                         int serve_store, int nccl, int64_t timeout_ms,
                                         char** error) {
  Group* group = nullptr;
  guarded(error, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = serve_store != 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    auto g = std::make_unique<Group>();
    g->store = store;
    if (nccl) {
#ifdef GENOLM_C10D_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
#else
      throw std::runtime_error("this genolm was built without NCCL (no nccl.h found at build time)");
#endif
    } else {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      g->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    }
    group = g.release();
  });
  return reinterpret_cast<genolm_c10d_group*>(group);
}

void genolm_c10d_free_group(genolm_c10d_group* group) {
  delete reinterpret_cast<Group*>(group);
}

// Starts a sum over ranks of `tensor`, in place. Wait for it with genolm_c10d_wait.
genolm_c10d_work* genolm_c10d_allreduce_sum(genolm_c10d_group* group, at::Tensor* tensor,
                                            char** error) {
  c10::intrusive_ptr<c10d::Work>* work = nullptr;
  guarded(error, [&] {
    std::vector<at::Tensor> ts = {*tensor};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    auto w = reinterpret_cast<Group*>(group)->backend->allreduce(ts, o);
    work = new c10::intrusive_ptr<c10d::Work>(std::move(w));
  });
  return reinterpret_cast<genolm_c10d_work*>(work);
}

// Waits for `work` and frees it; false (with the message) if it failed or timed out.
int genolm_c10d_wait(genolm_c10d_work* work, char** error) {
  auto* w = reinterpret_cast<c10::intrusive_ptr<c10d::Work>*>(work);
  bool ok = guarded(error, [&] { (*w)->wait(); });
  delete w;
  return ok ? 1 : 0;
}

// Copies rank `root`'s `tensors` into every rank's, in place.
int genolm_c10d_broadcast(genolm_c10d_group* group, at::Tensor** tensors, int n, int root,
                          char** error) {
  return guarded(error, [&] {
           auto ts = tensors_of(tensors, n);
           auto* backend = reinterpret_cast<Group*>(group)->backend.get();
           for (auto& t : ts) {
             std::vector<at::Tensor> one = {t};
             c10d::BroadcastOptions o;
             o.rootRank = root;
             backend->broadcast(one, o)->wait();
           }
         })
             ? 1
             : 0;
}

int genolm_c10d_barrier(genolm_c10d_group* group, char** error) {
  return guarded(error, [&] {
           reinterpret_cast<Group*>(group)->backend->barrier(c10d::BarrierOptions())->wait();
         })
             ? 1
             : 0;
}

void genolm_c10d_free_error(char* error) { std::free(error); }

}  // extern "C"
