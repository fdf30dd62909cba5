//! A loop over one typed path, for a profiler: `valgrind --tool=callgrind
//! target/release/examples/profile publish|publish-reference|consume [N]`.

use std::hint::black_box;

use owlpost::{Outgoing, ProviderMetadata, Publisher, Received, Router};
use owlpost_bench::{NoopSink, example, ready, reference, wire_of};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "publish".into());
    let n: usize = args.next().map_or(100_000, |n| n.parse().expect("a count"));
    let publisher = Publisher::new("bench", NoopSink);
    let outgoing = || {
        Outgoing::new(example::UserCreatedV1 {
            user_id: "U_1001".parse().unwrap(),
            email: "ada@example.com".into(),
            plan: example::Plan::Pro,
            referrer: Some("newsletter".into()),
        })
        .header("request_id", "req-42")
    };
    match path.as_str() {
        "publish" => {
            for _ in 0..n {
                black_box(ready(example::publish_user_created(&publisher, outgoing())).unwrap());
            }
        }
        "publish-reference" => {
            for _ in 0..n {
                let message = Outgoing::new(reference::UserCreatedV1 { user_id: String::from("U_1001").into() })
                    .header("request_id", "req-42");
                black_box(ready(reference::publish_user_created(&publisher, message)).unwrap());
            }
        }
        "consume" => {
            let wire = wire_of(outgoing());
            let mut router = Router::new();
            router.route(|m: Received<example::UserCreatedV1>| async move {
                black_box(m);
                Ok(())
            });
            let provider = ProviderMetadata::Memory { queue: "bench".into(), receive_count: 1 };
            for _ in 0..n {
                black_box(ready(router.dispatch(&wire, provider.clone())));
            }
        }
        other => panic!("unknown path {other:?}: publish or consume"),
    }
}
