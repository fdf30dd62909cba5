// `publish_user_created` accepts only `user-created` payloads.
use owlpost::Publisher;
use owlpost::memory::MemoryBroker;
use owlpost_e2e::messages::{UserDeletedV1, publish_user_created};

fn main() {
    let publisher = Publisher::new("svc", MemoryBroker::new());
    let deleted = UserDeletedV1 { user_id: "U_1".parse().unwrap(), reason: None };
    let _ = publish_user_created(&publisher, deleted);
}
