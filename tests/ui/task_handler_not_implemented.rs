// `register_send_invoice` takes only a handler of `billing.tasks.send_invoice`: a handler
// of another task does not do.
use owlpost::HandlerResult;
use owlpost::taskhawk::{ReceivedTask, TaskRouter};
use owlpost_e2e::tasks::{ChargeCustomerCardHandler, ChargeCustomerCardInput, register_send_invoice};

struct Charges;

impl ChargeCustomerCardHandler for Charges {
    async fn charge_customer_card(&self, _task: ReceivedTask<ChargeCustomerCardInput>) -> HandlerResult {
        Ok(())
    }
}

fn main() {
    let mut router = TaskRouter::new();
    register_send_invoice(&mut router, Charges);
}
