//! libtorch linkage: the binary finds libtorch by its RUNPATH, loads libtorch_cuda on demand, and
//! explains a missing GPU instead of failing obscurely.

mod common;

use common::*;
use genolm_torch::device::{self, DeviceRequest};

#[test]
fn test_cuda_backend_loads_from_libtorch_dir() {
    // The PyPI wheel setup installs is the CUDA build: libtorch_cuda must load (no GPU needed).
    assert!(
        device::libtorch_dir().join("libtorch_cuda.so").exists(),
        "setup installs CUDA-enabled libtorch"
    );
    device::load_cuda_backend().expect("libtorch_cuda loads");
    assert!(device::cuda_backend_loaded());
}

#[test]
fn test_device_resolution() {
    assert_eq!(
        device::resolve(DeviceRequest::Cpu).unwrap(),
        tch::Device::Cpu
    );
    let auto = device::resolve(DeviceRequest::Auto).unwrap();
    if tch::Cuda::is_available() {
        assert_eq!(auto, tch::Device::Cuda(0));
    } else {
        assert_eq!(auto, tch::Device::Cpu, "auto falls back to the CPU");
        let err = device::resolve(DeviceRequest::Cuda(None))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CUDA is not available") && err.contains("--device cpu"),
            "{err}"
        );
    }
}

#[test]
fn test_info_through_the_front_binary_without_ld_library_path() {
    let out = front_bin()
        .args(["info", "--device", "auto", "--json"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("genolm runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["libtorch_dir"].as_str().unwrap().ends_with("torch/lib"));
    let tensor_ok = tch::Tensor::from_slice(&[1.0f32, 2.0])
        .sum(tch::Kind::Float)
        .double_value(&[]);
    assert_eq!(tensor_ok, 3.0);
    if !tch::Cuda::is_available() {
        let out = front_bin()
            .args(["info", "--device", "cuda"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("CUDA is not available"));
    }
}
