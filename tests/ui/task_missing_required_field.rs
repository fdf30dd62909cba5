// A task's input has every required field: `billing.tasks.charge_card` needs a `currency`.
use owlpost_e2e::tasks::ChargeCustomerCardInput;

fn main() {
    let amount_cents = std::num::NonZeroU64::new(1250).unwrap();
    let _ = ChargeCustomerCardInput { invoice_id: "INV-1".parse().unwrap(), amount_cents };
}
