// A handler of `billing.tasks.send_invoice` implements its one method.
use owlpost_e2e::tasks::SendInvoiceHandler;

struct Invoices;

impl SendInvoiceHandler for Invoices {}

fn main() {}
