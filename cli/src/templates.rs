//! The handlebars templates of `templates/`, compiled into the binary.

use handlebars::Handlebars;
use serde::Serialize;

use crate::failure::Failure;

const TEMPLATES: &[(&str, &str)] = &[
    ("crate/Cargo.toml", include_str!("../../templates/crate/Cargo.toml.hbs")),
    ("crate/README.md", include_str!("../../templates/crate/README.md.hbs")),
    ("docs/catalogue.md", include_str!("../../templates/docs/catalogue.md.hbs")),
    ("docs/catalogue.html", include_str!("../../templates/docs/catalogue.html.hbs")),
];

/// Partials (`{{> fields}}`), per kind of output: the field table of a message major or a task.
const PARTIALS: &[(&str, &str, &str)] = &[
    (".md", "fields", include_str!("../../templates/docs/fields.md.hbs")),
    (".html", "fields", include_str!("../../templates/docs/fields.html.hbs")),
];

/// Renders one template. HTML templates escape what they insert; the others do not.
pub fn render(name: &str, data: &impl Serialize) -> Result<String, Failure> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    if !name.ends_with(".html") {
        registry.register_escape_fn(handlebars::no_escape);
    }
    registry.register_helper("cell", Box::new(markdown_cell));
    for (_, partial, text) in PARTIALS.iter().filter(|(kind, _, _)| name.ends_with(kind)) {
        registry.register_partial(partial, *text).map_err(|e| {
            Failure::new(format!("cannot compile partial {partial} (a bug in owlpost)")).details([e.to_string()])
        })?;
    }
    let (_, text) = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Failure::new(format!("no template {name} (a bug in owlpost)")))?;
    registry
        .render_template(text, data)
        .map_err(|e| Failure::new(format!("cannot render template {name} (a bug in owlpost)")).details([e.to_string()]))
}

/// `{{cell value}}`: text for a markdown table cell (`|` escaped, one line).
fn markdown_cell(
    helper: &handlebars::Helper,
    _: &Handlebars,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let value = helper.param(0).map(|p| p.value().clone()).unwrap_or_default();
    let text = match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    out.write(&text.replace('|', "\\|").replace(['\n', '\r'], " "))?;
    Ok(())
}
