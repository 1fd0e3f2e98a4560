// Bakes libtorch's directory into the binary's RUNPATH, so `genolm` runs without LD_LIBRARY_PATH, and
// records where libtorch_cuda lives. libtorch_cuda is loaded at run time (src/device.rs) only when a
// command asks for `--device auto|cuda`: as a DT_NEEDED library it costs every process ~270 MB of RSS
// and 0.3 s at start-up, even `genolm tokenize` on a machine without a GPU.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib_dir = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    if build_c10d_shim(&lib_dir) {
        build_nccl_shim(&lib_dir);
    }
    println!("cargo:rustc-env=GENOLM_LIBTORCH_DIR={lib_dir}");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if !lib_dir.is_empty() && target_os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
}

/// Compiles csrc/c10d_shim.cpp (PyTorch's c10d process groups for data-parallel training) against
/// the headers of the libtorch tch links. c10d's Gloo header includes Gloo's own headers, which the
/// torch wheel does not ship: setup unpacks Debian's libgloo-dev into .cache/gloo (only its
/// declarations are used; the code is libtorch's). Without them genolm builds without
/// data-parallel training (cfg `genolm_c10d` unset) and says so when asked for it.
fn build_c10d_shim(lib_dir: &str) -> bool {
    println!("cargo::rustc-check-cfg=cfg(genolm_c10d)");
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-env-changed=GENOLM_GLOO_INCLUDE");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let torch_include = std::path::Path::new(lib_dir).join("../include");
    let c10d_header = torch_include.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp");
    let gloo = std::env::var("GENOLM_GLOO_INCLUDE")
        .map(std::path::PathBuf::from)
        .ok()
        .into_iter()
        .chain([
            manifest.join("../.cache/gloo/usr/include"),
            std::path::PathBuf::from("/usr/include"),
        ])
        .find(|dir| dir.join("gloo/context.h").exists());
    let Some(gloo) = gloo.filter(|_| c10d_header.exists()) else {
        println!(
            "cargo:warning=building without data-parallel training: c10d or Gloo headers not found \
             (scripts/setup.sh unpacks libgloo-dev into .cache/gloo)"
        );
        return false;
    };
    println!(
        "cargo:rerun-if-changed={}",
        gloo.join("gloo/context.h").display()
    );
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("csrc/c10d_shim.cpp")
        .include(&torch_include)
        .include(torch_include.join("torch/csrc/api/include"))
        .include(&gloo)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .define("USE_C10D_GLOO", None)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false)
        .compile("genolm_c10d");
    println!("cargo:rustc-cfg=genolm_c10d");
    true
}

/// Builds csrc/c10d_nccl.cpp into its own shared library, libgenolm_c10d_nccl.so in OUT_DIR (its
/// path baked in as GENOLM_NCCL_SHIM; cfg `genolm_nccl`): c10d's NCCL process group lives in
/// libtorch_cuda, which this library links and genolm only loads for CUDA runs. Needs the CUDA
/// wheel's libtorch_cuda and the headers of NCCL (nvidia-nccl) and of the CUDA runtime with its
/// crt/ and cccl parts (nvidia-cuda-runtime, -crt and -cccl, which setup installs); without them
/// data-parallel training runs on Gloo only.
fn build_nccl_shim(lib_dir: &str) {
    println!("cargo::rustc-check-cfg=cfg(genolm_nccl)");
    println!("cargo:rerun-if-changed=csrc/c10d_nccl.cpp");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let lib = std::path::Path::new(lib_dir);
    let site = lib.join("../..");
    let torch_include = lib.join("../include");
    let nccl = site.join("nvidia/nccl/include");
    // Headers that setup installs later must trigger a rebuild (a missing path always does).
    println!(
        "cargo:rerun-if-changed={}",
        site.join("nvidia/cu13/include/crt/host_config.h").display()
    );
    let cuda = std::env::var("CUDA_HOME")
        .map(|home| std::path::Path::new(&home).join("include"))
        .ok()
        .into_iter()
        .chain([
            site.join("nvidia/cu13/include"),
            std::path::PathBuf::from("/usr/local/cuda/include"),
        ])
        .find(|dir| dir.join("crt/host_config.h").exists() && dir.join("nv/target").exists());
    let (Some(cuda), true, true) = (
        cuda,
        nccl.join("nccl.h").exists(),
        lib.join("libtorch_cuda.so").exists(),
    ) else {
        println!(
            "cargo:warning=data-parallel training without NCCL: libtorch_cuda, nccl.h or the CUDA \
             runtime headers (with crt/ and cccl) not found (scripts/setup.sh installs them)"
        );
        return;
    };
    let out =
        std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("libgenolm_c10d_nccl.so");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let status = compiler
        .to_command()
        .args(["-std=c++17", "-shared", "-fPIC", "-O2", "-DUSE_C10D_NCCL"])
        .arg(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .args(["-Wno-deprecated-declarations", "-Wno-c++20-extensions"])
        .arg("-Wno-interference-size")
        .arg("csrc/c10d_nccl.cpp")
        .arg("-I")
        .arg(&torch_include)
        .arg("-I")
        .arg(torch_include.join("torch/csrc/api/include"))
        .arg("-I")
        .arg(&cuda)
        .arg("-I")
        .arg(&nccl)
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{lib_dir}"))
        .args(["-ltorch_cuda", "-lc10_cuda", "-ltorch_cpu", "-lc10"])
        .arg(format!("-Wl,-rpath,{lib_dir}"))
        .status();
    match status {
        Ok(s) if s.success() => {
            println!("cargo:rustc-cfg=genolm_nccl");
            println!("cargo:rustc-env=GENOLM_NCCL_SHIM={}", out.display());
        }
        other => println!(
            "cargo:warning=data-parallel training without NCCL: compiling csrc/c10d_nccl.cpp failed ({other:?})"
        ),
    }
}
