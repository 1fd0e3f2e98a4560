// The small part of PyTorch's c10d that genolm's data-parallel training needs, as a C API for
// Rust (tch binds none of c10d): rendezvous through a TCPStore, a process group (Gloo on CPU;
// NCCL on CUDA, made by c10d_nccl.cpp's library, which links libtorch_cuda), asynchronous
// allreduce, broadcast and barrier, each with a timeout. Every function catches C++ exceptions and returns them as a message the caller
// frees with genolm_c10d_free_error: an error in a peer (a rank killed, a timeout) must become a
// Rust error, never an abort.
//
// Tensors cross as tch's `C_tensor` handles, which are `at::Tensor*` (tch's torch_api.h).

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  // The first failure inside an autograd hook (which must not throw through the backward pass),
  // reported by the next genolm_c10d_reducer_finish.
  std::mutex hook_mutex;
  std::string hook_error;
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

// c10d_nccl.cpp's genolm_c10d_nccl_backend: a c10d::Backend* for a c10d::Store*.
typedef void* (*genolm_c10d_nccl_factory)(void* store, int rank, int world, int device,
                                          int64_t timeout_ms, char** error);

// Joins the group of `world` ranks whose store is served at host:port (by this process when
// `serve_store`: rank 0, unless torchrun's agent serves it). With `nccl` (CUDA tensors on GPU
// `device`) the group is NCCL's, else Gloo's (CPU tensors). `timeout_ms` bounds the rendezvous and
// every operation.
genolm_c10d_group* genolm_c10d_new_group(const char* host, int port, int rank, int world,
                                         int serve_store, genolm_c10d_nccl_factory nccl,
                                         int device, int64_t timeout_ms, char** error) {
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
    if (nccl != nullptr) {
      char* nccl_error = nullptr;
      void* backend = nccl(store.get(), rank, world, device, timeout_ms, &nccl_error);
      if (backend == nullptr) {
        std::string message = nccl_error != nullptr ? nccl_error : "ProcessGroupNCCL failed";
        std::free(nccl_error);
        throw std::runtime_error(message);
      }
      g->backend = c10::intrusive_ptr<c10d::Backend>::reclaim(static_cast<c10d::Backend*>(backend));
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

// Makes the gradient that reaches `tensor` (a non-leaf, e.g. a batch's per-channel sums) the sum of
// every rank's, when autograd computes it: SyncBatchNorm's backward, where each rank's loss depends
// on statistics that all ranks' rows make up. A failure (a peer gone) leaves the gradient local
// and is reported by genolm_c10d_reducer_finish after the backward pass.
int genolm_c10d_sum_grad_over_ranks(genolm_c10d_group* group, at::Tensor* tensor, char** error) {
  auto* g = reinterpret_cast<Group*>(group);
  return guarded(error, [&] {
           tensor->register_hook([g](const at::Tensor& grad) -> at::Tensor {
             try {
               std::vector<at::Tensor> ts = {grad.contiguous().clone()};
               c10d::AllreduceOptions o;
               o.reduceOp = c10d::ReduceOp::SUM;
               g->backend->allreduce(ts, o)->wait();
               return ts[0];
             } catch (const std::exception& e) {
               std::lock_guard<std::mutex> lock(g->hook_mutex);
               if (g->hook_error.empty()) {
                 g->hook_error = e.what();
               }
               return grad;
             }
           });
         })
             ? 1
             : 0;
}

// Gradient averaging overlapped with the backward pass, as DDP's reducer does: a hook on each
// parameter copies its gradient into its bucket's flat buffer the moment autograd computes it,
// and a bucket's allreduce starts as soon as its last gradient is in, while the backward pass goes
// on with the layers below. The caller assigns the buckets (one dtype each, filled in the order
// gradients arrive); every rank runs the same graph, so the allreduces start in the same order on
// all. Without overlap the hooks only fill the buckets, and every allreduce starts at the end.
struct Reducer {
  Group* group;
  std::vector<at::Tensor> params;
  std::vector<std::vector<int>> buckets;
  std::vector<int> bucket_of;
  std::vector<int64_t> offset_of;
  std::vector<at::Tensor> flats;
  std::vector<int> live_in_bucket;
  std::vector<int> pending;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  std::vector<bool> live;
  std::string error;
  bool armed = false;
  bool overlap = true;

  void ready(int i, const at::Tensor& grad) {
    if (!armed || !live[i] || !error.empty()) {
      return;
    }
    try {
      int b = bucket_of[i];
      flats[b].narrow(0, offset_of[i], grad.numel()).copy_(grad.reshape(-1));
      if (--pending[b] == 0 && overlap) {
        launch(b);
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }

  void launch(int b) {
    std::vector<at::Tensor> ts = {flats[b]};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    works[b] = group->backend->allreduce(ts, o);
  }
};

typedef struct genolm_c10d_reducer genolm_c10d_reducer;

// A reducer over `params`; `bucket_of[i]` is parameter i's bucket (0 .. n_buckets - 1, each
// bucket's parameters of one dtype).
genolm_c10d_reducer* genolm_c10d_new_reducer(genolm_c10d_group* group, at::Tensor** params, int n,
                                             const int* bucket_of, char** error) {
  Reducer* r = nullptr;
  guarded(error, [&] {
    auto red = std::make_unique<Reducer>();
    red->group = reinterpret_cast<Group*>(group);
    red->params = tensors_of(params, n);
    red->bucket_of.assign(bucket_of, bucket_of + n);
    red->offset_of.assign(n, 0);
    int n_buckets = n == 0 ? 0 : *std::max_element(bucket_of, bucket_of + n) + 1;
    red->buckets.resize(n_buckets);
    std::vector<int64_t> numel(n_buckets, 0);
    for (int i = 0; i < n; ++i) {
      int b = bucket_of[i];
      red->buckets[b].push_back(i);
      red->offset_of[i] = numel[b];
      numel[b] += red->params[i].numel();
    }
    for (int b = 0; b < n_buckets; ++b) {
      red->flats.push_back(at::zeros({numel[b]}, red->params[red->buckets[b].at(0)].options()));
    }
    red->works.resize(n_buckets);
    red->pending.assign(n_buckets, 0);
    red->live_in_bucket.assign(n_buckets, 0);
    red->live.assign(n, false);
    Reducer* raw = red.get();
    for (int i = 0; i < n; ++i) {
      red->params[i].register_hook([raw, i](const at::Tensor& grad) { raw->ready(i, grad); });
    }
    r = red.release();
  });
  return reinterpret_cast<genolm_c10d_reducer*>(r);
}

// Before a backward pass: `live[i]` says whether parameter i gets a gradient this step (frozen
// ones do not, alike on every rank); `overlap`: start each bucket's allreduce as soon as it is full.
void genolm_c10d_reducer_prepare(genolm_c10d_reducer* reducer, const uint8_t* live, int overlap) {
  auto* r = reinterpret_cast<Reducer*>(reducer);
  for (size_t b = 0; b < r->buckets.size(); ++b) {
    r->flats[b].zero_();
    r->works[b].reset();
    r->live_in_bucket[b] = 0;
    for (int i : r->buckets[b]) {
      r->live[i] = live[i] != 0;
      r->live_in_bucket[b] += r->live[i] ? 1 : 0;
    }
    r->pending[b] = r->live_in_bucket[b];
  }
  r->error.clear();
  r->overlap = overlap != 0;
  r->armed = true;
}

// After the backward pass: starts the allreduces not started yet, waits for every bucket and
// writes the ranks' mean gradient into `grads[i]` (null for parameters without one). False, with
// the message, on any failure.
int genolm_c10d_reducer_finish(genolm_c10d_reducer* reducer, at::Tensor** grads, int world,
                               char** error) {
  auto* r = reinterpret_cast<Reducer*>(reducer);
  r->armed = false;
  return guarded(error, [&] {
           if (!r->error.empty()) {
             throw std::runtime_error(r->error);
           }
           {
             std::lock_guard<std::mutex> lock(r->group->hook_mutex);
             if (!r->group->hook_error.empty()) {
               throw std::runtime_error(r->group->hook_error);
             }
           }
           for (size_t b = 0; b < r->buckets.size(); ++b) {
             if (r->live_in_bucket[b] == 0) {
               continue;
             }
             if (r->pending[b] != 0) {
               throw std::runtime_error(
                   "a parameter's gradient never arrived (the ranks would fall out of step)");
             }
             if (!r->works[b]) {
               r->launch(static_cast<int>(b));
             }
           }
           for (size_t b = 0; b < r->buckets.size(); ++b) {
             if (!r->works[b]) {
               continue;
             }
             r->works[b]->wait();
             r->flats[b].div_(static_cast<double>(world));
             for (int i : r->buckets[b]) {
               if (grads[i] != nullptr && r->live[i]) {
                 auto part = r->flats[b].narrow(0, r->offset_of[i], grads[i]->numel());
                 grads[i]->copy_(part.view_as(*grads[i]));
               }
             }
           }
         })
             ? 1
             : 0;
}

void genolm_c10d_free_error(char* error) { std::free(error); }

}  // extern "C"
