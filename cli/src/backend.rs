//! `owlpost provision` and `owlpost requeue-dlq`, through the runtime's backends.
//!
//! Connection settings come from the usual environment: the AWS SDK's chain
//! (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials) and, for Pub/Sub, Google's credentials or
//! `PUBSUB_EMULATOR_HOST`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owlpost::{BackendError, Broker, ConsumedTopic, Layout, Provisioning, Requeued};

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
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    #[arg(long, env = "AWS_ACCOUNT_ID", value_name = "ID", required_if_eq("backend", "aws"))]
    account_id: Option<String>,
    /// Google Cloud project.
    #[cfg_attr(not(feature = "gcp"), allow(dead_code))]
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
    /// A topic the queue consumes; repeatable. `OWNER/TOPIC` for another AWS account's or Google Cloud project's topic.
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

impl Target {
    /// The names of the target's resources, without connecting.
    fn layout(&self) -> Result<Box<dyn Layout>, Failure> {
        Ok(match self.backend {
            #[cfg(feature = "aws")]
            Backend::Aws => Box::new(owlpost::aws::AwsLayout::new(
                std::env::var("AWS_REGION")
                    .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|_| "us-east-1".into()),
                self.account_id.clone().unwrap_or_default(),
            )),
            #[cfg(feature = "gcp")]
            Backend::Gcp => Box::new(owlpost::gcp::GcpLayout::new(self.project.clone().unwrap_or_default())),
            #[cfg(not(feature = "aws"))]
            Backend::Aws => return Err(disabled("aws")),
            #[cfg(not(feature = "gcp"))]
            Backend::Gcp => return Err(disabled("gcp")),
        })
    }

    /// The target's broker, connected; a failure to connect is a failure of `action`.
    async fn broker(&self, action: &str) -> Result<Box<dyn Broker>, Failure> {
        Ok(match self.backend {
            #[cfg(feature = "aws")]
            Backend::Aws => Box::new(self.aws().await),
            #[cfg(feature = "gcp")]
            Backend::Gcp => Box::new(
                owlpost::gcp::Gcp::from_env(self.project.clone().unwrap_or_default())
                    .await
                    .map_err(|e| backend_failure(action, e))?,
            ),
            #[cfg(not(feature = "aws"))]
            Backend::Aws => return Err(disabled("aws")),
            #[cfg(not(feature = "gcp"))]
            Backend::Gcp => return Err(disabled("gcp")),
        })
    }

    #[cfg(feature = "aws")]
    async fn aws(&self) -> owlpost::aws::Aws {
        owlpost::aws::Aws::from_env(self.account_id.clone().unwrap_or_default()).await
    }
}

pub fn provision(args: &ProvisionArgs) -> Result<(), Failure> {
    let mut plan = Provisioning::new(&args.target.queue);
    plan.publishes.clone_from(&args.publishes);
    plan.consumes = args.consumes.iter().map(|topic| ConsumedTopic::parse(topic)).collect();
    plan.max_deliveries = args.max_deliveries;
    runtime()?.block_on(async {
        let layout = args.target.layout()?;
        print_plan(&layout.plan(&plan), args.dry_run);
        if args.dry_run {
            return Ok(());
        }
        let broker = args.target.broker("provisioning").await?;
        broker.provision(&plan).await.map_err(|e| backend_failure("provisioning", e))?;
        println!("provisioned (existing resources were left as they were)");
        Ok(())
    })
}

fn print_plan(plan: &[String], dry_run: bool) {
    println!("{}", if dry_run { "would create (unless it exists):" } else { "creating (unless it exists):" });
    for line in plan {
        println!("  {line}");
    }
}

pub fn requeue(args: &RequeueArgs) -> Result<(), Failure> {
    let queue = &args.target.queue;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} re-queued {pos} dead letters ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut progress = |report: &Requeued| bar.set_position(report.moved as u64);
    let (report, from, to) = runtime()?.block_on(async {
        let broker = args.target.broker("re-queueing").await?;
        let layout = broker.layout();
        let report = broker.requeue_dead_letters(queue, &mut progress).await;
        Ok::<_, Failure>((report, layout.dead_letter_queue(queue), layout.requeue_target(queue)))
    })?;
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
