// A handler of `user-created` must handle every major version.
use owlpost::{HandlerResult, Received};
use owlpost_e2e::messages::{UserCreatedHandler, UserCreatedV1};

struct OnlyV1;

impl UserCreatedHandler for OnlyV1 {
    async fn user_created_v1(&self, _message: Received<UserCreatedV1>) -> HandlerResult {
        Ok(())
    }
}

fn main() {}
