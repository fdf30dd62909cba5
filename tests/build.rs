fn main() -> Result<(), Box<dyn std::error::Error>> {
    owlpost_codegen::Config::new().schema("../schemas/example.json").compile()?;
    Ok(())
}
