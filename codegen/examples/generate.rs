//! Prints the code generated for a schema file: `cargo run -p owlpost-codegen --example generate -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: generate SCHEMA_FILE");
    match owlpost_codegen::generate(&path) {
        Ok(source) => print!("{source}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
