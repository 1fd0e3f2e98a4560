use anyhow::Result;
use clap::Args;

use crate::device::{self, DeviceRequest};

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
