//! Generates code the way a service's build script does: for the example schema, the example
//! task schema, and for every codegen fixture schema, so that all of them compile in a crate
//! whose only dependency is `owlpost`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    owlpost_codegen::Config::new().schema("../schemas/example.json").compile()?;
    owlpost_codegen::Config::new().schema("../schemas/tasks.json").compile()?;
    for fixture in ["constructs", "enforced", "hedwig_reference", "naming"] {
        owlpost_codegen::Config::new()
            .schema(format!("../codegen/tests/fixtures/{fixture}.json"))
            .file_name(format!("fixture_{fixture}"))
            .compile()?;
    }
    Ok(())
}
