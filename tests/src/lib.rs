//! The example schema's generated API, used by this crate's tests and examples exactly as
//! a service would use its own.
#![deny(missing_docs)]

/// Types, `publish_*` functions and handler traits generated from `schemas/example.json`.
pub mod messages {
    owlpost::include_messages!();
}

/// Task inputs, `dispatch_*` functions and handler traits generated from `schemas/tasks.json`.
pub mod tasks {
    owlpost::include_tasks!();
}

/// The code generator's fixture schemas, compiled here with `owlpost` as the only
/// dependency (their golden copies live in `codegen/tests/fixtures`).
pub mod fixtures {
    /// `codegen/tests/fixtures/constructs.json`.
    pub mod constructs {
        owlpost::include_messages!("fixture_constructs");
    }
    /// `codegen/tests/fixtures/enforced.json`.
    pub mod enforced {
        owlpost::include_messages!("fixture_enforced");
    }
    /// `codegen/tests/fixtures/hedwig_reference.json`.
    pub mod hedwig_reference {
        owlpost::include_messages!("fixture_hedwig_reference");
    }
    /// `codegen/tests/fixtures/naming.json`.
    pub mod naming {
        owlpost::include_messages!("fixture_naming");
    }
}
