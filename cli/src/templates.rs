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

/// Renders one template. HTML templates escape what they insert; the others do not.
pub fn render(name: &str, data: &impl Serialize) -> Result<String, Failure> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    if !name.ends_with(".html") {
        registry.register_escape_fn(handlebars::no_escape);
    }
    let (_, text) = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| Failure::new(format!("no template {name} (a bug in owlpost)")))?;
    registry
        .render_template(text, data)
        .map_err(|e| Failure::new(format!("cannot render template {name} (a bug in owlpost)")).details([e.to_string()]))
}
