fn main() {
    std::process::exit(genolm::cli::main());
}
