//! P4: the code generator on a schema file of N message types (default 500), timed in the
//! profile it is run in; `cargo xtask bench` runs it in the dev profile, the one build
//! scripts run in unless a project configures `[profile.dev.build-override]`.
//!
//! Prints `codegen/<N> messages: <ms> ms` for the whole pipeline (parse, model, typify,
//! render, format), the median of 5 runs.

use std::time::Instant;

use serde_json::{Map, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(500), |n| n.parse())?;
    let dir = std::env::temp_dir().join(format!("owlpost-codegen-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("big.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&schema(n))?)?;
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let code = owlpost_codegen::generate(&path).expect("the schema generates");
            std::hint::black_box(code);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!("codegen/{n} messages: {:.0} ms", runs[runs.len() / 2]);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `n` message types in the style of `schemas/example.json`: a `$ref`ed id with a pattern,
/// a bounded integer, a bounded string and an enum each.
fn schema(n: usize) -> serde_json::Value {
    let messages: Map<String, serde_json::Value> = (0..n)
        .map(|i| {
            let schema = json!({"1.*": {
                "description": format!("Thing {i} happened."),
                "type": "object",
                "x-version": "1.0",
                "required": ["id", "count"],
                "properties": {
                    "id": {"$ref": "#/definitions/ThingId/1.0"},
                    "count": {"type": "integer", "minimum": 0},
                    "note": {"type": "string", "maxLength": 40},
                    "kind": {"type": "string", "enum": ["a", "b", "c"]}
                }
            }});
            (format!("thing-{i}-happened"), schema)
        })
        .collect();
    json!({
        "id": "https://owlpost.dev/schemas/big",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": messages,
        "definitions": {"ThingId": {"1.0": {"type": "string", "pattern": "^T_[0-9]+$"}}}
    })
}
