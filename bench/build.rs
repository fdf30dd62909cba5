//! Generates the API of the two schemas the benchmarks publish and consume: hedwig's own
//! reference schema and `schemas/example.json`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    owlpost_codegen::Config::new().schema("../schemas/example.json").compile()?;
    owlpost_codegen::Config::new()
        .schema("../codegen/tests/fixtures/hedwig_reference.json")
        .file_name("reference")
        .compile()?;
    Ok(())
}
