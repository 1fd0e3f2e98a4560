//! Redraws a model directory's training curves from its metrics.jsonl:
//! `cargo run --release --example replot -- out/lm-ecoli 2.7726`
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: replot DIR [BASELINE]");
    let baseline = args.next().and_then(|b| b.parse().ok());
    for f in genolm::plot::training_curves(std::path::Path::new(&dir), baseline).expect("plot") {
        println!("{}", f.display());
    }
}
