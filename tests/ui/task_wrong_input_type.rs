// `dispatch_send_invoice` accepts only the input of `billing.tasks.send_invoice`.
use owlpost::memory::MemoryBroker;
use owlpost::taskhawk::Dispatcher;
use owlpost_e2e::tasks::{RebuildInput, dispatch_send_invoice};

fn main() {
    let dispatcher = Dispatcher::new("billing", MemoryBroker::new());
    let rebuild = RebuildInput { month: "2026-11".parse().unwrap() };
    let _ = dispatch_send_invoice(&dispatcher, rebuild);
}
