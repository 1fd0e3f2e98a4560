//! Device selection: `auto | cpu | cuda | cuda:N`.
//!
//! libtorch_cuda is not a link-time dependency of `genolm` (see build.rs): it is loaded here, on
//! demand, before the first CUDA query. libtorch registers its CUDA backend when that library is
//! loaded, so this is equivalent to linking it, without the cost for commands that never use a GPU.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown device {0:?}: expected auto, cpu, cuda or cuda:N")]
    Parse(String),
    #[error("--device {requested}: CUDA is not available ({reason})")]
    CudaUnavailable { requested: String, reason: String },
    #[error("--device cuda:{index}: only {count} CUDA device(s) present")]
    NoSuchGpu { index: usize, count: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Auto,
    Cpu,
    /// `cuda:N`, or `cuda` (None): this process's GPU, see [`own_gpu`].
    Cuda(Option<usize>),
}

impl FromStr for DeviceRequest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(None)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(|i| Self::Cuda(Some(i)))
                .ok_or_else(|| Error::Parse(s.to_string())),
        }
    }
}

/// The directory of the libtorch this binary was built against.
pub fn libtorch_dir() -> PathBuf {
    PathBuf::from(env!("GENOLM_LIBTORCH_DIR"))
}

/// Loads libtorch_cuda once. Returns why it could not be loaded, if it could not.
pub fn load_cuda_backend() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = libtorch_dir().join("libtorch_cuda.so");
            if !path.exists() {
                return Err(format!(
                    "{} not found: libtorch was installed without CUDA",
                    path.display()
                ));
            }
            open_library(&path, libc::RTLD_GLOBAL).map(|_| ())
        })
        .clone()
}

/// dlopen(`path`, RTLD_NOW | `scope`): the handle, kept for the process's life, or why not.
pub(crate) fn open_library(
    path: &std::path::Path,
    scope: libc::c_int,
) -> Result<*mut libc::c_void, String> {
    let c_path =
        std::ffi::CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen with a valid NUL-terminated path.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | scope) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local C string or null.
        let msg = unsafe { libc::dlerror() };
        let msg = if msg.is_null() {
            "unknown dlopen error".to_string()
        } else {
            unsafe { std::ffi::CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(format!("cannot load {}: {msg}", path.display()));
    }
    Ok(handle)
}

/// Whether a GPU is worth looking for: skips loading ~300 MB of CUDA libraries on machines
/// without the NVIDIA driver.
fn nvidia_driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
        || std::path::Path::new("/dev/nvidiactl").exists()
}

/// Resolves a request to a concrete device: `auto` falls back to CPU, an explicit `cuda` does not.
pub fn resolve(request: DeviceRequest) -> Result<tch::Device, Error> {
    match request {
        DeviceRequest::Cpu => Ok(tch::Device::Cpu),
        DeviceRequest::Auto => {
            if nvidia_driver_present() && load_cuda_backend().is_ok() && tch::Cuda::is_available() {
                Ok(tch::Device::Cuda(own_gpu(
                    tch::Cuda::device_count() as usize
                )))
            } else {
                Ok(tch::Device::Cpu)
            }
        }
        DeviceRequest::Cuda(asked) => {
            let requested = match asked {
                None => "cuda".to_string(),
                Some(index) => format!("cuda:{index}"),
            };
            load_cuda_backend().map_err(|reason| Error::CudaUnavailable {
                requested: requested.clone(),
                reason,
            })?;
            if !tch::Cuda::is_available() {
                return Err(Error::CudaUnavailable {
                    requested,
                    reason: "no NVIDIA GPU or driver found; use --device cpu or auto".into(),
                });
            }
            let count = tch::Cuda::device_count() as usize;
            let index = asked.unwrap_or_else(|| own_gpu(count));
            if index >= count {
                return Err(Error::NoSuchGpu { index, count });
            }
            Ok(tch::Device::Cuda(index))
        }
    }
}

/// The GPU of a process that asked for `cuda` or `auto`: GPU 0, except in a data-parallel job
/// (torchrun's LOCAL_RANK, Slurm's SLURM_LOCALID), where each rank on a machine takes its own,
/// LOCAL_RANK modulo the GPUs it sees (so a rank that Slurm gave one GPU takes GPU 0).
fn own_gpu(count: usize) -> usize {
    match crate::dist::Launch::from_vars(|k| std::env::var(k).ok()) {
        Ok(Some(launch)) => launch.local_rank % count.max(1),
        _ => 0,
    }
}

/// Whether `device` computes bf16 natively (not by emulation): a CPU with AVX-512 BF16 (Intel Cooper
/// Lake and Sapphire Rapids on, AMD Zen 4 on; AMX CPUs have it too), or a GPU of compute
/// capability 8.0 or more (Ampere on). None: a GPU whose capability could not be asked.
pub fn native_bf16(device: tch::Device) -> Option<bool> {
    match device {
        tch::Device::Cuda(i) => cuda_compute_capability(i).map(|(major, _)| major >= 8),
        _ => Some(cpu_has_avx512_bf16()),
    }
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx512_bf16() -> bool {
    std::arch::is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512_bf16() -> bool {
    false
}

/// A GPU's compute capability (major, minor), asked of the CUDA runtime that libtorch_cuda loaded
/// once per GPU (every precision decision asks, e.g. per chunk of `predict`); None when it cannot
/// be asked.
pub fn cuda_compute_capability(index: usize) -> Option<(i32, i32)> {
    /// (GPU index, its answer), for the GPUs asked about so far.
    type Answers = Vec<(usize, Option<(i32, i32)>)>;
    static ASKED: std::sync::Mutex<Answers> = std::sync::Mutex::new(Vec::new());
    let mut asked = ASKED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, cc)) = asked.iter().find(|(i, _)| *i == index) {
        return cc;
    }
    let cc = query_compute_capability(index);
    asked.push((index, cc));
    cc
}

fn query_compute_capability(index: usize) -> Option<(i32, i32)> {
    load_cuda_backend().ok()?;
    type GetAttribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    // SAFETY: looks up a symbol of the already-loaded CUDA runtime by its NUL-terminated name.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"cudaDeviceGetAttribute".as_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) -> cudaError_t.
    let get: GetAttribute = unsafe { std::mem::transmute(sym) };
    // cudaDevAttrComputeCapabilityMajor / Minor.
    let (mut major, mut minor) = (0, 0);
    // SAFETY: valid out-pointers; a bad device index returns an error code, checked.
    let ok =
        unsafe { get(&mut major, 75, index as i32) == 0 && get(&mut minor, 76, index as i32) == 0 };
    ok.then_some((major, minor))
}

/// Whether libtorch_cuda is mapped into this process (for `genolm info` and tests).
pub fn cuda_backend_loaded() -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.contains("libtorch_cuda.so"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The capability query finds the CUDA runtime's entry point; without a GPU the runtime answers
    /// with an error code, which must come back as None.
    #[test]
    fn test_compute_capability_query_without_a_gpu() {
        if nvidia_driver_present() {
            return; // a GPU machine: nothing to check here
        }
        if load_cuda_backend().is_ok() {
            // SAFETY: symbol lookup by a NUL-terminated name.
            let sym =
                unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"cudaDeviceGetAttribute".as_ptr()) };
            assert!(
                !sym.is_null(),
                "the CUDA runtime that libtorch_cuda loads exports cudaDeviceGetAttribute"
            );
        }
        assert_eq!(cuda_compute_capability(0), None);
        assert_eq!(native_bf16(tch::Device::Cuda(0)), None);
    }

    #[test]
    fn test_parse_device() {
        assert_eq!(
            "auto".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Auto
        );
        assert_eq!(
            "cuda:1".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(Some(1))
        );
        assert_eq!(
            "cuda".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(None)
        );
        assert!("tpu".parse::<DeviceRequest>().is_err());
        assert!("cuda:x".parse::<DeviceRequest>().is_err());
    }
}
