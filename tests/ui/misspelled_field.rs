// Field names come from the schema: a typo does not compile.
use owlpost_e2e::messages::{Plan, UserCreatedV1};

fn main() {
    let _ = UserCreatedV1 { user_id: "U_1".parse().unwrap(), emial: String::new(), plan: Plan::Free, referrer: None };
}
