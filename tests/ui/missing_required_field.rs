// `email` and `plan` are required by the schema, so the payload type has no default for them.
use owlpost_e2e::messages::UserCreatedV1;

fn main() {
    let _ = UserCreatedV1 { user_id: "U_1".parse().unwrap(), referrer: None };
}
