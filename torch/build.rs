// Bakes libtorch's directory into the binary's RUNPATH, so `genolm` runs without LD_LIBRARY_PATH, and
// records where libtorch_cuda lives. libtorch_cuda is loaded at run time (src/device.rs) only when a
// command asks for `--device auto|cuda`: as a DT_NEEDED library it costs every process ~270 MB of RSS
// and 0.3 s at start-up, even `genolm tokenize` on a machine without a GPU.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib_dir = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    println!("cargo:rustc-env=GENOLM_LIBTORCH_DIR={lib_dir}");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if !lib_dir.is_empty() && target_os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
}
