//! Data-parallel training on PyTorch's own c10d (issue #25): the process group is c10d's
//! (Gloo on CPU; NCCL on CUDA, through `csrc/c10d_nccl.cpp`'s library), reached through
//! `csrc/c10d_shim.cpp`, and a run joins it the way
//! PyTorch jobs do: torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//! MASTER_PORT), Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, with MASTER_ADDR and
//! MASTER_PORT from the job script), or `genolm launch`, which sets torchrun's.
//!
//! Every rank holds the same weights (broadcast from rank 0 at the start); each step the gradients
//! are averaged across ranks in buckets of at most [`BUCKET_BYTES`]: hooks start each bucket's
//! allreduce during the backward pass as soon as its gradients exist ([`Dist::before_backward`]).
//! Rank 0 alone writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tch::{Device, Kind, Tensor};

/// Gradients are averaged in flat buckets of at most this many bytes (DDP's default, 25 MiB):
/// few enough calls to amortise each one's latency, small enough to overlap with each other.
pub const BUCKET_BYTES: usize = 25 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{var}={value}: {why}")]
    Env {
        var: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("data-parallel training (WORLD_SIZE={world}) needs {0}", world = .1)]
    Unavailable(&'static str, usize),
    #[error("c10d {op} (rank {rank} of {world}): {message}")]
    C10d {
        op: &'static str,
        rank: usize,
        world: usize,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where this process stands in a data-parallel job, as its launcher described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// Operation and rendezvous timeout (GENOLM_DIST_TIMEOUT, seconds).
    pub timeout_s: u64,
    /// torchrun's agent already serves the store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE):
    /// rank 0 joins it instead of serving its own.
    pub agent_store: bool,
    /// BatchNorm normalises with each rank's own rows (GENOLM_DIST_LOCAL_BN=1), as DDP without
    /// SyncBatchNorm does, instead of the whole batch's: fewer collectives, but the model then
    /// depends on the number of ranks.
    pub local_batch_norm: bool,
}

impl Launch {
    /// The launch described by `var` (the environment), or None for a single process.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let number = |name: &'static str, fallback: &'static str| -> Result<Option<usize>> {
            let Some((used, value)) = var(name)
                .map(|v| (name, v))
                .or_else(|| var(fallback).map(|v| (fallback, v)))
            else {
                return Ok(None);
            };
            value.trim().parse().map(Some).map_err(|_| Error::Env {
                var: used,
                value,
                why: "not a whole number",
            })
        };
        let world = number("WORLD_SIZE", "SLURM_NTASKS")?.unwrap_or(1);
        if world <= 1 {
            return Ok(None);
        }
        let rank = number("RANK", "SLURM_PROCID")?.ok_or(Error::Env {
            var: "RANK",
            value: String::new(),
            why: "WORLD_SIZE is set, so RANK (or SLURM_PROCID) must be too",
        })?;
        if rank >= world {
            return Err(Error::Env {
                var: "RANK",
                value: rank.to_string(),
                why: "must be below WORLD_SIZE",
            });
        }
        let local_rank = number("LOCAL_RANK", "SLURM_LOCALID")?.unwrap_or(0);
        let master_addr = var("MASTER_ADDR").ok_or(Error::Env {
            var: "MASTER_ADDR",
            value: String::new(),
            why: "the host of rank 0 (torchrun and `genolm launch` set it; under Slurm, export it in the job script)",
        })?;
        let port = var("MASTER_PORT").unwrap_or_else(|| "29500".into());
        let master_port = port.trim().parse().map_err(|_| Error::Env {
            var: "MASTER_PORT",
            value: port.clone(),
            why: "not a port number",
        })?;
        let timeout = var("GENOLM_DIST_TIMEOUT").unwrap_or_else(|| "300".into());
        let timeout_s = timeout.trim().parse().map_err(|_| Error::Env {
            var: "GENOLM_DIST_TIMEOUT",
            value: timeout.clone(),
            why: "seconds, a whole number",
        })?;
        let agent_store = var("TORCHELASTIC_USE_AGENT_STORE")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let local_batch_norm = var("GENOLM_DIST_LOCAL_BN").is_some_and(|v| v == "1");
        Ok(Some(Self {
            rank,
            world,
            local_rank,
            master_addr,
            master_port,
            timeout_s,
            agent_store,
            local_batch_norm,
        }))
    }
}

/// This process's place in a data-parallel job, and its process group.
pub struct Dist {
    pub rank: usize,
    pub world: usize,
    pub local_rank: usize,
    /// BatchNorm in training normalises with the whole batch's statistics (see
    /// [`Launch::local_batch_norm`]).
    pub sync_batch_norm: bool,
    /// Where the group's tensors live: the CPU (Gloo) or this rank's GPU (NCCL).
    device: Device,
    group: ffi::Group,
    /// Gradient averaging so far: calls, bytes sent into allreduces, nanoseconds spent.
    averaged: [AtomicU64; 3],
    /// The gradient averaging of the model being trained, keyed by its parameters' addresses.
    reducer: std::sync::Mutex<Option<(Vec<usize>, ffi::Reducer)>>,
    /// A collective that failed inside a forward pass (which returns no Result), reported by the
    /// step's [`Self::after_backward`].
    failed: std::sync::Mutex<Option<Error>>,
}

/// What averaging the gradients cost this rank, per training step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AllreduceStats {
    pub world: usize,
    pub steps: u64,
    /// Gradient bytes each step allreduces.
    pub bytes_per_step: f64,
    /// Time per step spent on the averaging beyond the backward pass: waiting for the overlapped
    /// allreduces and copying back (or all of it, where it runs after the backward).
    pub ms_per_step: f64,
}

static DIST: OnceLock<Option<Dist>> = OnceLock::new();

/// Joins the job this process was launched into (the environment says which; none: a single
/// process). Once per process; later calls return the first answer.
pub fn init(device: Device) -> Result<Option<&'static Dist>> {
    if let Some(d) = DIST.get() {
        return Ok(d.as_ref());
    }
    let joined = match Launch::from_vars(|k| std::env::var(k).ok())? {
        None => None,
        Some(launch) => Some(Dist::join(&launch, device)?),
    };
    Ok(DIST.get_or_init(|| joined).as_ref())
}

/// The c10d backends this build can use: "gloo" (CPU), "gloo, nccl", or "none" (built without the
/// Gloo headers).
pub fn backends() -> &'static str {
    match (cfg!(genolm_c10d), ffi::HAS_NCCL) {
        (false, _) => "none",
        (true, false) => "gloo",
        (true, true) => "gloo, nccl",
    }
}

/// The job joined by [`init`], if any.
pub fn current() -> Option<&'static Dist> {
    DIST.get().and_then(Option::as_ref)
}

/// Whether this process writes the run's outputs (rank 0, or a single process).
pub fn is_main() -> bool {
    current().is_none_or(|d| d.rank == 0)
}

impl Dist {
    fn join(launch: &Launch, device: Device) -> Result<Self> {
        let gpu = match device {
            Device::Cuda(i) => Some(i),
            _ => None,
        };
        let group = ffi::Group::new(launch, gpu).map_err(|message| Error::C10d {
            op: "rendezvous",
            rank: launch.rank,
            world: launch.world,
            message,
        })?;
        Ok(Self {
            rank: launch.rank,
            world: launch.world,
            local_rank: launch.local_rank,
            sync_batch_norm: !launch.local_batch_norm,
            device,
            group,
            averaged: Default::default(),
            reducer: Default::default(),
            failed: Default::default(),
        })
    }

    fn err(&self, op: &'static str) -> impl Fn(String) -> Error + '_ {
        move |message| Error::C10d {
            op,
            rank: self.rank,
            world: self.world,
            message,
        }
    }

    /// One step's averaging of `grads`, begun at `started`, in [`Self::stats`].
    fn record<'a>(&self, grads: impl Iterator<Item = &'a Tensor>, started: std::time::Instant) {
        let bytes: usize = grads
            .map(|g| g.numel() * g.kind().elt_size_in_bytes())
            .sum();
        self.averaged[0].fetch_add(1, Ordering::Relaxed);
        self.averaged[1].fetch_add(bytes as u64, Ordering::Relaxed);
        self.averaged[2].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Gradient averaging so far, per step.
    pub fn stats(&self) -> AllreduceStats {
        let [calls, bytes, ns] = self.averaged.each_ref().map(|a| a.load(Ordering::Relaxed));
        let per = |v: u64| v as f64 / calls.max(1) as f64;
        AllreduceStats {
            world: self.world,
            steps: calls,
            bytes_per_step: per(bytes),
            ms_per_step: per(ns) / 1e6,
        }
    }

    /// Before a backward pass over `params` (`live[i]`: parameter i gets a gradient this step):
    /// arms the hooks that start each bucket's allreduce as soon as its gradients are computed,
    /// overlapping communication with the rest of the backward pass (GENOLM_DIST_NO_OVERLAP=1:
    /// all of them after it, to measure what overlap gains).
    pub fn before_backward(&self, params: &[&Tensor], live: &[bool]) -> Result<()> {
        let overlap = std::env::var_os("GENOLM_DIST_NO_OVERLAP").is_none_or(|v| v != "1");
        let key: Vec<usize> = params.iter().map(|p| p.data_ptr() as usize).collect();
        let mut slot = self.reducer.lock().expect("reducer lock");
        if slot.as_ref().is_none_or(|(k, _)| *k != key) {
            // Buckets filled in the order gradients arrive: the last parameters first.
            let arrival: Vec<&Tensor> = params.iter().rev().copied().collect();
            let mut bucket_of = vec![0; params.len()];
            for (b, bucket) in buckets(&arrival).iter().enumerate() {
                for &i in bucket {
                    bucket_of[params.len() - 1 - i] = b;
                }
            }
            let reducer = self
                .group
                .reducer(params, &bucket_of)
                .map_err(self.err("reducer"))?;
            *slot = Some((key, reducer));
        }
        let (_, reducer) = slot.as_ref().expect("a reducer");
        reducer.prepare(live, overlap);
        Ok(())
    }

    /// After the backward pass armed by [`Self::before_backward`]: waits for the buckets and
    /// writes the ranks' mean into `grads` (None where a parameter had no gradient).
    pub fn after_backward(&self, grads: &mut [Option<Tensor>]) -> Result<()> {
        if let Some(e) = self.failed.lock().expect("failed lock").take() {
            return Err(e);
        }
        let started = std::time::Instant::now();
        let slot = self.reducer.lock().expect("reducer lock");
        let Some((_, r)) = slot.as_ref() else {
            return Err(self.err("reducer")(
                "after_backward without before_backward".into(),
            ));
        };
        r.finish(grads, self.world).map_err(self.err("allreduce"))?;
        self.record(grads.iter().flatten(), started);
        Ok(())
    }

    /// The mean over ranks of one number (a loss), and whether any rank's `flag` is set: one
    /// allreduce of two numbers.
    pub fn mean_and_any(&self, value: f64, flag: bool) -> Result<(f64, bool)> {
        let t = Tensor::from_slice(&[value, f64::from(u8::from(flag))]).to_device(self.device);
        self.group
            .allreduce_sum(&t)
            .and_then(|w| w.wait())
            .map_err(self.err("allreduce"))?;
        Ok((
            t.double_value(&[0]) / self.world as f64,
            t.double_value(&[1]) > 0.0,
        ))
    }

    /// The sum over ranks of `local` (e.g. a batch's per-channel sums) and of `count` (the rows
    /// they sum), as a tensor whose gradient, in the backward pass, is the sum of every rank's
    /// gradient at it: what each rank's rows contribute to all ranks' losses (SyncBatchNorm).
    /// A failure (a peer gone) is reported by the step's [`Self::after_backward`]; meanwhile the
    /// local sums stand in.
    pub fn sum_over_ranks(&self, local: &Tensor, count: f64) -> (Tensor, f64) {
        let n = local.numel() as i64;
        let flat = Tensor::cat(
            &[
                local.detach().to_kind(Kind::Float).flatten(0, -1),
                Tensor::from_slice(&[count as f32]).to_device(local.device()),
            ],
            0,
        );
        let summed = self
            .group
            .allreduce_sum(&flat)
            .and_then(|w| w.wait())
            .map_err(self.err("allreduce"))
            .map(|()| {
                let others = flat.narrow(0, 0, n).view_as(local) - local.detach();
                (local + others, flat.double_value(&[n]))
            })
            .and_then(|(global, total)| {
                if global.requires_grad() {
                    self.group
                        .sum_grad_over_ranks(&global)
                        .map_err(self.err("gradient hook"))?;
                }
                Ok((global, total))
            });
        summed.unwrap_or_else(|e| {
            self.failed.lock().expect("failed lock").get_or_insert(e);
            (local.shallow_clone(), count)
        })
    }

    /// Copies rank 0's `tensors` into every rank's (one flat transfer).
    pub fn broadcast(&self, tensors: &mut [Tensor]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        if tensors.is_empty() {
            return Ok(());
        }
        let mut flat = Tensor::cat(
            &tensors
                .iter()
                .map(|t| t.to_kind(Kind::Float).flatten(0, -1))
                .collect::<Vec<_>>(),
            0,
        );
        self.group
            .broadcast(&mut flat, 0)
            .map_err(self.err("broadcast"))?;
        let mut at = 0;
        for t in tensors.iter_mut() {
            let n = t.numel() as i64;
            t.copy_(&flat.narrow(0, at, n).view_as(t).to_kind(t.kind()));
            at += n;
        }
        Ok(())
    }

    /// Every rank's rows of `local` (this rank's share of a batch, along dimension `dim`) in rank
    /// order: the whole batch, on every rank.
    pub fn gather_rows(&self, local: &Tensor, dim: i64) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let n = local.size()[dim as usize];
        let mut size = local.size();
        size[dim as usize] = n * self.world as i64;
        let whole = Tensor::zeros(&size, (Kind::Float, local.device()));
        whole
            .narrow(dim, n * self.rank as i64, n)
            .copy_(&local.to_kind(Kind::Float));
        self.group
            .allreduce_sum(&whole)
            .and_then(|w| w.wait())
            .map_err(self.err("allreduce"))?;
        Ok(whole.to_kind(local.kind()))
    }

    /// This rank's share (along `dim`) of a whole batch's rows.
    pub fn own_rows(&self, whole: &Tensor, dim: i64) -> Tensor {
        let n = whole.size()[dim as usize] / self.world as i64;
        whole.narrow(dim, n * self.rank as i64, n)
    }

    pub fn barrier(&self) -> Result<()> {
        self.group.barrier().map_err(self.err("barrier"))
    }
}

/// Indices of `grads` grouped into buckets of at most [`BUCKET_BYTES`] (a larger tensor alone),
/// in order, by dtype (a flat bucket has one).
fn buckets(grads: &[&Tensor]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let (mut bytes, mut kind) = (0usize, None);
    for (i, g) in grads.iter().enumerate() {
        let size = g.numel() * g.kind().elt_size_in_bytes();
        let fits = kind == Some(g.kind()) && bytes + size <= BUCKET_BYTES;
        if !fits || out.is_empty() {
            out.push(Vec::new());
            bytes = 0;
            kind = Some(g.kind());
        }
        out.last_mut().expect("a bucket").push(i);
        bytes += size;
    }
    out
}

#[cfg(genolm_c10d)]
mod ffi {
    use std::ffi::{c_char, c_int, CStr, CString};

    use tch::Tensor;

    #[repr(C)]
    struct RawGroup {
        _private: [u8; 0],
    }
    #[repr(C)]
    struct RawWork {
        _private: [u8; 0],
    }
    #[repr(C)]
    struct RawReducer {
        _private: [u8; 0],
    }
    type CTensor = torch_sys::C_tensor;
    /// csrc/c10d_nccl.cpp's `genolm_c10d_nccl_backend`.
    type NcclFactory = unsafe extern "C" fn(
        store: *mut std::ffi::c_void,
        rank: c_int,
        world: c_int,
        device: c_int,
        timeout_ms: i64,
        error: *mut *mut c_char,
    ) -> *mut std::ffi::c_void;

    extern "C" {
        fn genolm_c10d_new_group(
            host: *const c_char,
            port: c_int,
            rank: c_int,
            world: c_int,
            serve_store: c_int,
            nccl: Option<NcclFactory>,
            device: c_int,
            timeout_ms: i64,
            error: *mut *mut c_char,
        ) -> *mut RawGroup;
        fn genolm_c10d_free_group(group: *mut RawGroup);
        fn genolm_c10d_allreduce_sum(
            group: *mut RawGroup,
            tensor: *mut CTensor,
            error: *mut *mut c_char,
        ) -> *mut RawWork;
        fn genolm_c10d_wait(work: *mut RawWork, error: *mut *mut c_char) -> c_int;
        fn genolm_c10d_broadcast(
            group: *mut RawGroup,
            tensors: *mut *mut CTensor,
            n: c_int,
            root: c_int,
            error: *mut *mut c_char,
        ) -> c_int;
        fn genolm_c10d_barrier(group: *mut RawGroup, error: *mut *mut c_char) -> c_int;
        fn genolm_c10d_sum_grad_over_ranks(
            group: *mut RawGroup,
            tensor: *mut CTensor,
            error: *mut *mut c_char,
        ) -> c_int;
        fn genolm_c10d_new_reducer(
            group: *mut RawGroup,
            params: *mut *mut CTensor,
            n: c_int,
            bucket_of: *const c_int,
            error: *mut *mut c_char,
        ) -> *mut RawReducer;
        fn genolm_c10d_reducer_prepare(reducer: *mut RawReducer, live: *const u8, overlap: c_int);
        fn genolm_c10d_reducer_finish(
            reducer: *mut RawReducer,
            grads: *mut *mut CTensor,
            world: c_int,
            error: *mut *mut c_char,
        ) -> c_int;
        fn genolm_c10d_free_error(error: *mut c_char);
    }

    /// The C++ side's message, freed.
    fn take(error: *mut c_char) -> String {
        if error.is_null() {
            return "failed (no message)".into();
        }
        // SAFETY: a NUL-terminated string malloc'ed by the shim, freed once here.
        let text = unsafe { CStr::from_ptr(error) }
            .to_string_lossy()
            .into_owned();
        unsafe { genolm_c10d_free_error(error) };
        text
    }

    pub struct Group(*mut RawGroup);

    /// Whether libgenolm_c10d_nccl.so was built (build.rs: CUDA wheel and headers found).
    pub const HAS_NCCL: bool = cfg!(genolm_nccl);

    /// NCCL's process-group factory from libgenolm_c10d_nccl.so, loaded after libtorch_cuda (which
    /// it links; CPU runs load neither).
    #[cfg(genolm_nccl)]
    pub fn nccl_factory() -> Result<NcclFactory, String> {
        crate::device::load_cuda_backend()?;
        let path = env!("GENOLM_NCCL_SHIM");
        let handle = crate::device::open_library(std::path::Path::new(path), libc::RTLD_LOCAL)
            .map_err(|why| format!("{why} (rebuild genolm-torch)"))?;
        // SAFETY: symbol lookup by a NUL-terminated name in the handle just opened.
        let sym = unsafe { libc::dlsym(handle, c"genolm_c10d_nccl_backend".as_ptr()) };
        if sym.is_null() {
            return Err(format!("{path} lacks genolm_c10d_nccl_backend"));
        }
        // SAFETY: the symbol is the C function of that signature (csrc/c10d_nccl.cpp).
        Ok(unsafe { std::mem::transmute::<*mut libc::c_void, NcclFactory>(sym) })
    }

    #[cfg(not(genolm_nccl))]
    pub fn nccl_factory() -> Result<NcclFactory, String> {
        Err(
            "this genolm-torch was built without NCCL (scripts/setup.sh installs the CUDA \
             headers it needs; then rebuild), so data-parallel training runs on CPU only"
                .into(),
        )
    }

    // SAFETY: c10d process groups are thread-safe; genolm calls them from one thread at a time.
    unsafe impl Send for Group {}
    unsafe impl Sync for Group {}

    pub struct Work(*mut RawWork);

    /// Hooks on a model's parameters that average their gradients during the backward pass.
    /// Never freed: the hooks it registered stay on the parameters for the process's life.
    pub struct Reducer(*mut RawReducer);

    // SAFETY: used under the Dist's mutex, from the training thread.
    unsafe impl Send for Reducer {}

    impl Reducer {
        pub fn prepare(&self, live: &[bool], overlap: bool) {
            let live: Vec<u8> = live.iter().map(|&l| u8::from(l)).collect();
            // SAFETY: one flag per parameter the reducer was made with.
            unsafe { genolm_c10d_reducer_prepare(self.0, live.as_ptr(), c_int::from(overlap)) };
        }

        pub fn finish(&self, grads: &mut [Option<Tensor>], world: usize) -> Result<(), String> {
            let mut ptrs: Vec<*mut CTensor> = grads
                .iter_mut()
                .map(|g| g.as_mut().map_or(std::ptr::null_mut(), |t| t.as_mut_ptr()))
                .collect();
            let mut error = std::ptr::null_mut();
            // SAFETY: one (possibly null) live tensor handle per parameter.
            let ok = unsafe {
                genolm_c10d_reducer_finish(self.0, ptrs.as_mut_ptr(), world as c_int, &mut error)
            };
            if ok == 0 {
                return Err(take(error));
            }
            Ok(())
        }
    }

    impl Group {
        /// Joins the job's group: NCCL's on CUDA GPU `gpu`, else Gloo's.
        pub fn new(launch: &super::Launch, gpu: Option<usize>) -> Result<Self, String> {
            let host = CString::new(launch.master_addr.as_str()).map_err(|e| e.to_string())?;
            let nccl = gpu.map(|_| nccl_factory()).transpose()?;
            let mut error = std::ptr::null_mut();
            // SAFETY: valid arguments; the shim catches every C++ exception.
            let g = unsafe {
                genolm_c10d_new_group(
                    host.as_ptr(),
                    launch.master_port as c_int,
                    launch.rank as c_int,
                    launch.world as c_int,
                    c_int::from(launch.rank == 0 && !launch.agent_store),
                    nccl,
                    gpu.unwrap_or(0) as c_int,
                    launch.timeout_s as i64 * 1000,
                    &mut error,
                )
            };
            if g.is_null() {
                return Err(take(error));
            }
            Ok(Self(g))
        }

        pub fn allreduce_sum(&self, t: &Tensor) -> Result<Work, String> {
            let mut error = std::ptr::null_mut();
            // SAFETY: `t` outlives the work (the caller waits before dropping it); c10d keeps its
            // own reference to the storage.
            let w = unsafe {
                genolm_c10d_allreduce_sum(self.0, t.as_ptr() as *mut CTensor, &mut error)
            };
            if w.is_null() {
                return Err(take(error));
            }
            Ok(Work(w))
        }

        pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<(), String> {
            let mut error = std::ptr::null_mut();
            let mut ptr = t.as_mut_ptr();
            // SAFETY: one valid tensor handle; the call completes before returning.
            let ok =
                unsafe { genolm_c10d_broadcast(self.0, &mut ptr, 1, root as c_int, &mut error) };
            if ok == 0 {
                return Err(take(error));
            }
            Ok(())
        }

        pub fn reducer(&self, params: &[&Tensor], bucket_of: &[usize]) -> Result<Reducer, String> {
            let mut ptrs: Vec<*mut CTensor> =
                params.iter().map(|p| p.as_ptr() as *mut CTensor).collect();
            let bucket_of: Vec<c_int> = bucket_of.iter().map(|&b| b as c_int).collect();
            let mut error = std::ptr::null_mut();
            // SAFETY: live tensor handles and one bucket per parameter; the shim keeps its own
            // references to the tensors.
            let r = unsafe {
                genolm_c10d_new_reducer(
                    self.0,
                    ptrs.as_mut_ptr(),
                    ptrs.len() as c_int,
                    bucket_of.as_ptr(),
                    &mut error,
                )
            };
            if r.is_null() {
                return Err(take(error));
            }
            Ok(Reducer(r))
        }

        /// Sums the gradient reaching `t` over ranks during the backward pass (an autograd hook).
        pub fn sum_grad_over_ranks(&self, t: &Tensor) -> Result<(), String> {
            let mut error = std::ptr::null_mut();
            // SAFETY: a live tensor handle; the hook keeps what it needs (the group outlives
            // every backward pass: it lives as long as the process).
            let ok = unsafe {
                genolm_c10d_sum_grad_over_ranks(self.0, t.as_ptr() as *mut CTensor, &mut error)
            };
            if ok == 0 {
                return Err(take(error));
            }
            Ok(())
        }

        pub fn barrier(&self) -> Result<(), String> {
            let mut error = std::ptr::null_mut();
            // SAFETY: a live group.
            if unsafe { genolm_c10d_barrier(self.0, &mut error) } == 0 {
                return Err(take(error));
            }
            Ok(())
        }
    }

    impl Work {
        pub fn wait(self) -> Result<(), String> {
            let mut error = std::ptr::null_mut();
            let w = self.0;
            std::mem::forget(self);
            // SAFETY: waits and frees the work exactly once.
            if unsafe { genolm_c10d_wait(w, &mut error) } == 0 {
                return Err(take(error));
            }
            Ok(())
        }
    }

    impl Drop for Work {
        fn drop(&mut self) {
            let mut error = std::ptr::null_mut();
            // SAFETY: an unwaited work is waited for (its tensor may still be in use) and freed.
            if unsafe { genolm_c10d_wait(self.0, &mut error) } == 0 {
                let _ = take(error);
            }
        }
    }

    impl Drop for Group {
        fn drop(&mut self) {
            // SAFETY: freed once.
            unsafe { genolm_c10d_free_group(self.0) };
        }
    }
}

#[cfg(not(genolm_c10d))]
mod ffi {
    use tch::Tensor;

    const WHY: &str = "this genolm was built without c10d (run scripts/setup.sh, which unpacks the Gloo headers it needs, then rebuild)";

    pub struct Group;
    pub struct Work;
    pub struct Reducer;

    impl Reducer {
        pub fn prepare(&self, _: &[bool], _: bool) {}
        pub fn finish(&self, _: &mut [Option<Tensor>], _: usize) -> Result<(), String> {
            Err(WHY.into())
        }
    }

    pub const HAS_NCCL: bool = false;

    impl Group {
        pub fn new(_: &super::Launch, _: Option<usize>) -> Result<Self, String> {
            Err(WHY.into())
        }
        pub fn allreduce_sum(&self, _: &Tensor) -> Result<Work, String> {
            Err(WHY.into())
        }
        pub fn broadcast(&self, _: &mut Tensor, _: usize) -> Result<(), String> {
            Err(WHY.into())
        }
        pub fn barrier(&self) -> Result<(), String> {
            Err(WHY.into())
        }
        pub fn sum_grad_over_ranks(&self, _: &Tensor) -> Result<(), String> {
            Err(WHY.into())
        }
        pub fn reducer(&self, _: &[&Tensor], _: &[usize]) -> Result<Reducer, String> {
            Err(WHY.into())
        }
    }

    impl Work {
        pub fn wait(self) -> Result<(), String> {
            Err(WHY.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn test_launch_reads_torchrun_and_slurm_environments() {
        assert_eq!(Launch::from_vars(vars(&[])).unwrap(), None);
        assert_eq!(
            Launch::from_vars(vars(&[("WORLD_SIZE", "1")])).unwrap(),
            None
        );
        let torchrun = Launch::from_vars(vars(&[
            ("WORLD_SIZE", "4"),
            ("RANK", "3"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "node1"),
            ("MASTER_PORT", "29611"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (torchrun.rank, torchrun.world, torchrun.local_rank),
            (3, 4, 1)
        );
        assert_eq!(
            (torchrun.master_addr.as_str(), torchrun.master_port),
            ("node1", 29611)
        );
        let slurm = Launch::from_vars(vars(&[
            ("SLURM_NTASKS", "8"),
            ("SLURM_PROCID", "5"),
            ("SLURM_LOCALID", "1"),
            ("MASTER_ADDR", "n0"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((slurm.rank, slurm.world, slurm.master_port), (5, 8, 29500));
        assert!(!slurm.local_batch_norm && !slurm.agent_store);
        let err = Launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MASTER_ADDR"), "{err}");
        let err = Launch::from_vars(vars(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "2"),
            ("MASTER_ADDR", "h"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("below WORLD_SIZE"), "{err}");
    }

    /// With the CUDA wheel (setup adds the CUDA headers), NCCL's group library is built and loads
    /// beside libtorch_cuda: every symbol it takes from libtorch resolves (RTLD_NOW). Running it
    /// needs GPUs (scripts/gpu-check.sh).
    #[cfg(genolm_c10d)]
    #[test]
    fn test_nccl_library_is_built_and_loads_with_the_cuda_wheel() {
        if !crate::device::libtorch_dir()
            .join("libtorch_cuda.so")
            .exists()
        {
            return; // a CPU-only libtorch: there is no NCCL to bind
        }
        // Without the library (build.rs warned) this says "built without NCCL".
        ffi::nccl_factory().expect("libgenolm_c10d_nccl.so is built and loads");
    }

    #[test]
    fn test_buckets_respect_the_size_cap_and_dtype() {
        let big = (BUCKET_BYTES / 4) as i64;
        let grads = [
            Tensor::zeros([10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([big], (Kind::Float, Device::Cpu)),
            Tensor::zeros([10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([10], (Kind::BFloat16, Device::Cpu)),
        ];
        let grads: Vec<&Tensor> = grads.iter().collect();
        assert_eq!(buckets(&grads), vec![vec![0], vec![1], vec![2], vec![3]]);
        let small: Vec<Tensor> = (0..3)
            .map(|_| Tensor::zeros([10], (Kind::Float, Device::Cpu)))
            .collect();
        let small: Vec<&Tensor> = small.iter().collect();
        assert_eq!(buckets(&small), vec![vec![0, 1, 2]]);
    }
}
