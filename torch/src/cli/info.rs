use anyhow::Result;
use clap::Args;

use crate::device::{self, DeviceRequest};
use crate::train::Precision;

#[derive(Args)]
pub struct InfoArgs {
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let request: DeviceRequest = args.device.parse()?;
    let resolved = device::resolve(request)?;
    let info = serde_json::json!({
        "genolm_version": env!("CARGO_PKG_VERSION"),
        "libtorch_dir": device::libtorch_dir().display().to_string(),
        "cuda_backend_loaded": device::cuda_backend_loaded(),
        "cuda_available": tch::Cuda::is_available(),
        "cuda_devices": tch::Cuda::device_count(),
        "device": format!("{resolved:?}"),
        "threads": tch::get_num_threads(),
        "bf16": match device::native_bf16(resolved) {
            Some(true) => "native",
            Some(false) => "emulated (slower than fp32)",
            None => "unknown",
        },
        "precision_auto": format!("{:?}", Precision::Auto.resolve(resolved)?).to_lowercase(),
        "data_parallel": crate::dist::backends(),
        "gpu_compute_capability": match resolved {
            tch::Device::Cuda(i) => device::cuda_compute_capability(i).map(|(a, b)| format!("{a}.{b}")),
            _ => None,
        },
    });
    if args.json {
        println!("{info}");
    } else {
        for (k, v) in info.as_object().expect("object") {
            println!("{k:<20} {v}");
        }
    }
    Ok(())
}
