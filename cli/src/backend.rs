//! `owlpost provision` and `owlpost requeue-dlq`, through the runtime's backends.
//!
//! Connection settings come from the usual environment: the AWS SDK's chain
//! (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials) and, for Pub/Sub, Google's credentials or
//! `PUBSUB_EMULATOR_HOST`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owlpost::{BackendError, Requeued};

use crate::failure::Failure;

/// Which broker.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    /// AWS SNS topics fanning out to SQS queues.
    Aws,
    /// Google Cloud Pub/Sub.
    Gcp,
}

/// Where the broker is: the account or project.
#[derive(clap::Args)]
pub struct Target {
    /// The broker.
    #[arg(long, value_enum)]
    backend: Backend,
    /// AWS account id (for topic ARNs).
    #[arg(long, env = "AWS_ACCOUNT_ID", value_name = "ID", required_if_eq("backend", "aws"))]
    account_id: Option<String>,
    /// Google Cloud project.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT", value_name = "PROJECT", required_if_eq("backend", "gcp"))]
    project: Option<String>,
    /// The service's queue name (`HEDWIG-<QUEUE>` on SQS, `hedwig-<QUEUE>` on Pub/Sub).
    #[arg(long, value_name = "NAME")]
    queue: String,
}

/// `owlpost provision`
#[derive(clap::Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    target: Target,
    /// A topic the service publishes to (`<message type>-v<major>`); repeatable.
    #[arg(long = "publish", value_name = "TOPIC")]
    publishes: Vec<String>,
    /// A topic the queue consumes; repeatable. On Pub/Sub, `PROJECT/TOPIC` for another project's topic.
    #[arg(long = "consume", value_name = "TOPIC")]
    consumes: Vec<String>,
    /// Deliveries before a message goes to the dead-letter queue.
    #[arg(long, default_value_t = 5, value_name = "N")]
    max_deliveries: u32,
    /// Prints what would be created, without connecting.
    #[arg(long)]
    dry_run: bool,
}

/// `owlpost requeue-dlq`
#[derive(clap::Args)]
pub struct RequeueArgs {
    #[command(flatten)]
    target: Target,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))
}

fn backend_failure(action: &str, error: BackendError) -> Failure {
    Failure::new(format!("{action} failed")).details([error.to_string()])
}

#[cfg(not(all(feature = "aws", feature = "gcp")))]
fn disabled(backend: &str) -> Failure {
    Failure::new(format!("this owlpost was built without the `{backend}` feature"))
}

pub fn provision(args: &ProvisionArgs) -> Result<(), Failure> {
    let target = &args.target;
    match target.backend {
        #[cfg(feature = "aws")]
        Backend::Aws => {
            let mut plan = owlpost::aws::Provisioning::new(&target.queue);
            plan.publishes.clone_from(&args.publishes);
            plan.consumes.clone_from(&args.consumes);
            plan.max_receive_count = args.max_deliveries;
            print_plan(&plan.plan(), args.dry_run);
            if !args.dry_run {
                let account = target.account_id.clone().unwrap_or_default();
                runtime()?
                    .block_on(async { owlpost::aws::Aws::from_env(account).await.provision(&plan).await })
                    .map_err(|e| backend_failure("provisioning", e))?;
            }
        }
        #[cfg(feature = "gcp")]
        Backend::Gcp => {
            let project = target.project.clone().unwrap_or_default();
            let mut plan = owlpost::gcp::Provisioning::new(&target.queue);
            plan.publishes.clone_from(&args.publishes);
            plan.consumes = args
                .consumes
                .iter()
                .map(|topic| match topic.split_once('/') {
                    Some((project, topic)) => owlpost::gcp::ConsumedTopic::in_project(project, topic),
                    None => owlpost::gcp::ConsumedTopic::new(topic.as_str()),
                })
                .collect();
            plan.max_delivery_attempts = args.max_deliveries;
            print_plan(&plan.plan(&project), args.dry_run);
            if !args.dry_run {
                runtime()?
                    .block_on(async { owlpost::gcp::Gcp::from_env(project).await?.provision(&plan).await })
                    .map_err(|e| backend_failure("provisioning", e))?;
            }
        }
        #[cfg(not(feature = "aws"))]
        Backend::Aws => return Err(disabled("aws")),
        #[cfg(not(feature = "gcp"))]
        Backend::Gcp => return Err(disabled("gcp")),
    }
    if !args.dry_run {
        println!("provisioned (existing resources were left as they were)");
    }
    Ok(())
}

fn print_plan(plan: &[String], dry_run: bool) {
    println!("{}", if dry_run { "would create (unless it exists):" } else { "creating (unless it exists):" });
    for line in plan {
        println!("  {line}");
    }
}

pub fn requeue(args: &RequeueArgs) -> Result<(), Failure> {
    let target = &args.target;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} re-queued {pos} dead letters ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let progress = |report: &Requeued| bar.set_position(report.moved as u64);
    let (report, from, to): (Result<Requeued, BackendError>, String, String) = match target.backend {
        #[cfg(feature = "aws")]
        Backend::Aws => {
            let account = target.account_id.clone().unwrap_or_default();
            let report = runtime()?.block_on(async {
                let queue = owlpost::aws::Aws::from_env(account).await.queue(&target.queue).await?;
                queue.requeue_dead_letters_with_progress(progress).await
            });
            (report, owlpost::aws::dead_letter_queue_name(&target.queue), owlpost::aws::queue_name(&target.queue))
        }
        #[cfg(feature = "gcp")]
        Backend::Gcp => {
            let project = target.project.clone().unwrap_or_default();
            let report = runtime()?.block_on(async {
                owlpost::gcp::Gcp::from_env(project)
                    .await?
                    .requeue_dead_letters_with_progress(&target.queue, progress)
                    .await
            });
            (report, owlpost::gcp::dead_letter_name(&target.queue), owlpost::gcp::queue_name(&target.queue))
        }
        #[cfg(not(feature = "aws"))]
        Backend::Aws => return Err(disabled("aws")),
        #[cfg(not(feature = "gcp"))]
        Backend::Gcp => return Err(disabled("gcp")),
    };
    bar.finish_and_clear();
    let report = report.map_err(|e| backend_failure("re-queueing", e))?;
    println!("re-queued {} message(s) from {from} to {to}", report.moved);
    if !report.failed.is_empty() {
        return Err(Failure::new(format!(
            "{} message(s) could not be re-queued; they stay in {from}",
            report.failed.len()
        ))
        .details(report.failed));
    }
    Ok(())
}
