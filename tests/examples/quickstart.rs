//! Quickstart: the generated API of `schemas/example.json` and `schemas/tasks.json` on the
//! embedded in-memory broker.
//!
//! `cargo run -p owlpost-e2e --example quickstart`
//!
//! The build script generated `owlpost_e2e::messages` and `owlpost_e2e::tasks` from the
//! schemas. Here a "signup" service publishes two `user-created` messages (major 1 and
//! major 2), a "mailer" service consumes them through its typed handler, and an invalid
//! payload is refused at publish. Then a "billing" service dispatches three tasks at three
//! priorities, an invalid input is refused at dispatch, and one worker over billing's four
//! priority queues runs them.

use std::time::{Duration, Instant};

use owlpost::memory::MemoryBroker;

use owlpost::taskhawk::{self, Dispatcher, OutgoingTask, Priority, ReceivedTask, TaskRouter};
use owlpost::{Broker, Consumer, HandlerResult, Outgoing, Publisher, Received, Router};
use owlpost_e2e::messages::{
    Plan, UserCreatedHandler, UserCreatedV1, UserCreatedV2, UserCreatedV2Name, publish_user_created,
    register_user_created,
};
use owlpost_e2e::tasks::{
    ChargeCustomerCardHandler, ChargeCustomerCardInput, ChargeCustomerCardInputCurrency, RebuildHandler, RebuildInput,
    RemindOverdueHandler, RemindOverdueInput, SendInvoiceHandler, SendInvoiceInput, dispatch_charge_customer_card,
    dispatch_rebuild, dispatch_remind_overdue, dispatch_send_invoice, register_charge_customer_card, register_rebuild,
    register_remind_overdue, register_send_invoice,
};

/// The mailer's handler: one method per major version of `user-created`.
struct WelcomeMailer;

impl UserCreatedHandler for WelcomeMailer {
    async fn user_created_v1(&self, message: Received<UserCreatedV1>) -> HandlerResult {
        let user = &message.data;
        println!(
            "mailer: v{} from {:?}: welcome {} <{}> on plan {}",
            message.version, message.metadata.publisher, *user.user_id, user.email, user.plan
        );
        Ok(())
    }

    async fn user_created_v2(&self, message: Received<UserCreatedV2>) -> HandlerResult {
        let user = &message.data;
        println!(
            "mailer: v{} from {:?}: welcome {} ({}), headers {:?}",
            message.version, message.metadata.publisher, *user.name.given, *user.user_id, message.metadata.headers
        );
        Ok(())
    }
}

/// Billing's worker: one handler per task.
struct Billing;

impl SendInvoiceHandler for Billing {
    async fn send_invoice(&self, task: ReceivedTask<SendInvoiceInput>) -> HandlerResult {
        let input = &task.input;
        println!(
            "worker: [{}] send invoice {} (cc {:?}, memo {:?})",
            task.priority,
            *input.invoice_id,
            input.cc,
            input.memo.as_deref()
        );
        Ok(())
    }
}

impl ChargeCustomerCardHandler for Billing {
    async fn charge_customer_card(&self, task: ReceivedTask<ChargeCustomerCardInput>) -> HandlerResult {
        let input = &task.input;
        println!(
            "worker: [{}] charge {} cents {} for {}",
            task.priority, input.amount_cents, input.currency, *input.invoice_id
        );
        Ok(())
    }
}

impl RemindOverdueHandler for Billing {
    async fn remind_overdue(&self, task: ReceivedTask<RemindOverdueInput>) -> HandlerResult {
        println!(
            "worker: [{}] remind invoices {} days overdue, due at {:?}",
            task.priority,
            task.input.days,
            task.headers.get("owlpost_due")
        );
        Ok(())
    }
}

impl RebuildHandler for Billing {
    async fn rebuild(&self, task: ReceivedTask<RebuildInput>) -> HandlerResult {
        println!("worker: [{}] rebuild the report of {}, headers {:?}", task.priority, *task.input.month, task.headers);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The broker: each major has its own topic (`user-created-v1`, `-v2`); the mailer's
    // queue subscribes to both.
    let broker = MemoryBroker::new();
    broker.subscribe("user-created-v1", "mailer");
    broker.subscribe("user-created-v2", "mailer");

    // Publishing: typed payloads, validated against the schema before they are sent.
    let publisher = Publisher::new("signup", broker.clone());
    let v1 =
        UserCreatedV1 { user_id: "U_1001".parse()?, email: "ada@example.com".into(), plan: Plan::Pro, referrer: None };
    let sent = publish_user_created(&publisher, v1).await?;
    println!("signup: published user-created 1.1 as {} to {}", sent.id, sent.topic);

    let v2 = UserCreatedV2 {
        user_id: "U_1002".parse()?,
        name: UserCreatedV2Name { given: "Grace".parse()?, family: Some("Hopper".into()) },
        plan: Plan::Free,
        address: None,
    };
    let sent = publish_user_created(&publisher, Outgoing::new(v2).header("request_id", "req-42")).await?;
    println!("signup: published user-created 2.0 as {} to {}", sent.id, sent.topic);

    // The schema also checks what the types cannot: `email` must be an e-mail address.
    let invalid =
        UserCreatedV1 { user_id: "U_1003".parse()?, email: "not-an-email".into(), plan: Plan::Free, referrer: None };
    match publish_user_created(&publisher, invalid).await {
        Err(error) => println!("signup: refused as expected: {error}"),
        Ok(sent) => return Err(format!("an invalid message was published: {sent:?}").into()),
    }

    // Consuming: route every major of `user-created` to the mailer, then poll once.
    let mut router = Router::new();
    register_user_created(&mut router, WelcomeMailer);
    let consumer = Consumer::new(broker.source("mailer"), router);
    let processed = consumer.poll().await?;
    let acked = processed.iter().filter(|p| p.outcome.is_acked()).count();
    println!("mailer: handled {} messages, acknowledged {acked}", processed.len());
    if acked != 2 {
        return Err(format!("expected 2 acknowledged messages, got {processed:?}").into());
    }

    // Tasks: billing's four priority queues (`billing-high-priority`, `billing`,
    // `billing-low-priority`, `billing-bulk`), each with its dead letters.
    for priority in Priority::ALL {
        broker.provision(&taskhawk::provisioning("billing", priority)).await?;
    }
    let dispatcher = Dispatcher::new("billing", broker.clone());
    let rebuild = RebuildInput { month: "2026-11".parse()? };
    let sent = dispatch_rebuild(&dispatcher, OutgoingTask::new(rebuild).header("request_id", "req-43")).await?;
    println!("billing: dispatched {} at {} priority to {}", sent.id, sent.priority, sent.topic);
    let invoice = SendInvoiceInput {
        invoice_id: "INV-1001".parse()?,
        cc: Some("accounts@example.com".into()),
        memo: Some("Merci ! Paiement sous 30 jours — 30 日以内にお支払いください".parse()?),
    };
    let sent = dispatch_send_invoice(&dispatcher, invoice).await?;
    println!("billing: dispatched {} at {} priority to {}", sent.id, sent.priority, sent.topic);
    let charge = ChargeCustomerCardInput {
        invoice_id: "INV-1001".parse()?,
        amount_cents: 4_200.try_into()?,
        currency: ChargeCustomerCardInputCurrency::Eur,
    };
    let sent = dispatch_charge_customer_card(&dispatcher, charge).await?;
    println!("billing: dispatched {} at {} priority to {}", sent.id, sent.priority, sent.topic);

    // Delayed: held by the worker until due (on SQS, the queue delays its arrival).
    let reminder = OutgoingTask::new(RemindOverdueInput { days: 30.try_into()? }).delay(Duration::from_millis(500));
    let sent = dispatch_remind_overdue(&dispatcher, reminder).await?;
    println!("billing: dispatched {} at {} priority to {}, to run in 500 ms", sent.id, sent.priority, sent.topic);

    let invalid = SendInvoiceInput { invoice_id: "INV-1002".parse()?, cc: Some("not-an-email".into()), memo: None };
    match dispatch_send_invoice(&dispatcher, invalid).await {
        Err(error) => println!("billing: refused as expected: {error}"),
        Ok(sent) => return Err(format!("an invalid task was dispatched: {sent:?}").into()),
    }

    // One worker over the four queues (while all have work, it takes 8 high, 4 default,
    // 2 low and 1 bulk in every 15).
    let mut router = TaskRouter::new();
    register_send_invoice(&mut router, Billing);
    register_charge_customer_card(&mut router, Billing);
    register_rebuild(&mut router, Billing);
    register_remind_overdue(&mut router, Billing);
    let sources = taskhawk::sources(Priority::ALL.map(|p| (p, broker.source(&p.queue("billing")))));
    let worker = Consumer::new(sources, router);
    let started = Instant::now();
    let mut ran = Vec::new();
    while ran.len() < 4 {
        ran.extend(worker.poll().await?);
    }
    let acked = ran.iter().filter(|p| p.outcome.is_acked()).count();
    println!("worker: ran {} tasks in {:?}, acknowledged {acked}", ran.len(), started.elapsed());
    if acked != 4 || started.elapsed() < Duration::from_millis(400) {
        return Err(format!("expected 4 acknowledged tasks, the delayed one after its time, got {ran:?}").into());
    }
    Ok(())
}
