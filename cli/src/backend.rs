//! `owlpost provision` and `owlpost requeue-dlq`, through the runtime's backends: for a
//! Hedwig queue (`--queue`), or for the priority queues of a Taskhawk service (`--tasks`,
//! one queue per `--priority`, default all four), named by the protocol's naming.
//!
//! Connection settings come from the usual environment: the AWS SDK's chain
//! (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials) and, for Pub/Sub, Google's credentials or
//! `PUBSUB_EMULATOR_HOST`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owlpost::taskhawk::{self, Priority, TaskhawkNaming};
use owlpost::{BackendError, Broker, ConsumedTopic, HedwigNaming, Layout, Naming, Provisioning, Requeued};

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
    /// The service's Hedwig queue name (`HEDWIG-<QUEUE>` on SQS, `hedwig-<QUEUE>` on Pub/Sub).
    #[arg(long, value_name = "NAME", required_unless_present_any = ["tasks", "priorities"], conflicts_with_all = ["tasks", "priorities"])]
    queue: Option<String>,
    /// The service's Taskhawk queue setting instead: one queue per priority
    /// (`TASKHAWK-<QUEUE>[-HIGH-PRIORITY|-LOW-PRIORITY|-BULK]` on SQS from the SNS topic
    /// `taskhawk-<queue>[…]`; topic and subscription `taskhawk-<queue>[…]` on Pub/Sub).
    #[arg(long, value_name = "QUEUE")]
    tasks: Option<String>,
    /// With --tasks: a priority (`high`, `default`, `low`, `bulk`); repeatable; default all four.
    #[arg(long = "priority", value_name = "PRIORITY", requires = "tasks")]
    priorities: Vec<Priority>,
}

/// `owlpost provision`
#[derive(clap::Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    target: Target,
    /// A topic the service publishes to (`<message type>-v<major>`); repeatable.
    #[arg(long = "publish", value_name = "TOPIC", conflicts_with = "tasks")]
    publishes: Vec<String>,
    /// A topic the queue consumes; repeatable. `OWNER/TOPIC` for another AWS account's or Google Cloud project's topic.
    #[arg(long = "consume", value_name = "TOPIC", conflicts_with = "tasks")]
    consumes: Vec<String>,
    /// Deliveries before a message goes to the dead-letter queue.
    #[arg(long, default_value_t = 5, value_name = "N")]
    max_deliveries: u32,
    /// With --tasks: the task schema whose `schedules` the service's schedules become
    /// (created, updated, and the service's others deleted): EventBridge Scheduler on AWS;
    /// on Google Cloud the `gcloud scheduler` commands to run are printed.
    #[arg(long, value_name = "SCHEMA", requires = "tasks")]
    schedules: Option<std::path::PathBuf>,
    /// With --schedules on AWS: the IAM role EventBridge Scheduler sends to the SQS queues as.
    #[arg(long, value_name = "ARN", env = "OWLPOST_SCHEDULER_ROLE")]
    scheduler_role: Option<String>,
    /// With --schedules on Google Cloud: the Cloud Scheduler location of the jobs.
    #[arg(long, value_name = "REGION", default_value = "us-central1")]
    scheduler_location: String,
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

/// One queue of a target: a Hedwig queue, or one priority of a Taskhawk service.
struct Queue {
    /// The priority, for a Taskhawk service.
    priority: Option<Priority>,
    /// The queue name before the protocol's naming (`billing-high-priority`).
    name: String,
}

impl Queue {
    /// `priority high: ` for a Taskhawk queue, nothing for a Hedwig one.
    fn label(&self) -> String {
        self.priority.map(|p| format!("priority {p}: ")).unwrap_or_default()
    }
}

impl Target {
    /// The protocol's naming: Taskhawk's with --tasks, else Hedwig's.
    fn naming(&self) -> &'static dyn Naming {
        if self.tasks.is_some() { &TaskhawkNaming } else { &HedwigNaming }
    }

    /// The queues the command works on, most urgent priority first.
    fn queues(&self) -> Vec<Queue> {
        match (&self.tasks, &self.queue) {
            (Some(service), _) => Priority::ALL
                .into_iter()
                .filter(|p| self.priorities.is_empty() || self.priorities.contains(p))
                .map(|p| Queue { priority: Some(p), name: p.queue(service) })
                .collect(),
            (None, queue) => vec![Queue { priority: None, name: queue.clone().unwrap_or_default() }],
        }
    }

    /// The names of the target's resources, without connecting; Cloud Scheduler jobs in
    /// `scheduler_location`.
    fn layout(&self, scheduler_location: &str) -> Result<Box<dyn Layout>, Failure> {
        Ok(match self.backend {
            #[cfg(feature = "aws")]
            Backend::Aws => Box::new(
                owlpost::aws::AwsLayout::new(
                    std::env::var("AWS_REGION")
                        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                        .unwrap_or_else(|_| "us-east-1".into()),
                    self.account_id.clone().unwrap_or_default(),
                )
                .with_naming(self.naming()),
            ),
            #[cfg(feature = "gcp")]
            Backend::Gcp => Box::new(
                owlpost::gcp::GcpLayout::new(self.project.clone().unwrap_or_default())
                    .with_naming(self.naming())
                    .with_scheduler_location(scheduler_location),
            ),
            #[cfg(not(feature = "aws"))]
            Backend::Aws => return Err(disabled("aws")),
            #[cfg(not(feature = "gcp"))]
            Backend::Gcp => return Err(disabled("gcp")),
        })
    }

    /// The target's broker, connected; a failure to connect is a failure of `action`.
    /// EventBridge Scheduler sends as `scheduler_role`.
    async fn broker(&self, action: &str, scheduler_role: Option<&str>) -> Result<Box<dyn Broker>, Failure> {
        Ok(match self.backend {
            #[cfg(feature = "aws")]
            Backend::Aws => {
                let aws = self.aws().await.with_naming(self.naming());
                Box::new(match scheduler_role {
                    Some(role) => aws.with_scheduler_role(role),
                    None => aws,
                })
            }
            #[cfg(feature = "gcp")]
            Backend::Gcp => Box::new(
                owlpost::gcp::Gcp::from_env(self.project.clone().unwrap_or_default())
                    .await
                    .map_err(|e| backend_failure(action, e))?
                    .with_naming(self.naming()),
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
    let queues = args.target.queues();
    let plans: Vec<(String, Provisioning)> = queues
        .iter()
        .map(|queue| {
            let mut plan = match queue.priority {
                Some(priority) => taskhawk::provisioning(args.target.tasks.as_deref().unwrap_or_default(), priority),
                None => {
                    let mut plan = Provisioning::new(&queue.name);
                    plan.publishes.clone_from(&args.publishes);
                    plan.consumes = args.consumes.iter().map(|topic| ConsumedTopic::parse(topic)).collect();
                    plan
                }
            };
            plan.max_deliveries = args.max_deliveries;
            (queue.label(), plan)
        })
        .collect();
    let service = args.target.tasks.as_deref().unwrap_or_default();
    let schedules = match &args.schedules {
        Some(path) => scheduled_messages(path, service)?,
        None => Vec::new(),
    };
    runtime()?.block_on(async {
        let layout = args.target.layout(&args.scheduler_location)?;
        for (label, plan) in &plans {
            print_plan(label, &layout.plan(plan), args.dry_run);
        }
        if args.schedules.is_some() {
            let verb = if args.dry_run { "would make" } else { "making" };
            println!("schedules: {verb} the service's schedules these {}:", schedules.len());
            for line in layout.schedule_plan(service, &schedules) {
                println!("  {line}");
            }
        }
        if args.dry_run {
            return Ok(());
        }
        let broker = args.target.broker("provisioning", args.scheduler_role.as_deref()).await?;
        for (label, plan) in &plans {
            broker.provision(plan).await.map_err(|e| backend_failure(&format!("{label}provisioning"), e))?;
        }
        println!("provisioned (existing resources were left as they were)");
        if args.schedules.is_some() {
            match broker.schedule(service, &schedules).await {
                Ok(report) => println!(
                    "schedules: created {:?}, updated {:?}, deleted {:?}",
                    report.created, report.updated, report.deleted
                ),
                Err(BackendError::Unsupported { what }) => {
                    println!("schedules: owlpost does not call this scheduler ({what}); run the commands above");
                }
                Err(error) => return Err(backend_failure("scheduling", error)),
            }
        }
        Ok(())
    })
}

/// The schedules of the task schema at `path`, as the service `service`'s scheduler sends them.
fn scheduled_messages(path: &std::path::Path, service: &str) -> Result<Vec<owlpost::ScheduledMessage>, Failure> {
    let text = crate::read(&path.to_path_buf())?;
    let schema = owlpost::Schema::from_json(&crate::shown(path), &text).map_err(|error| {
        Failure::new(format!("{} is not a valid task schema", crate::shown(path))).details(error.problems.iter().map(
            |problem| {
                format!("{}: {}", if problem.pointer.is_empty() { "/" } else { &problem.pointer }, problem.reason)
            },
        ))
    })?;
    schema
        .schedules()
        .map(|schedule| {
            schedule.scheduled_message(service).map_err(|e| Failure::new(format!("schedule {}: {e}", schedule.name)))
        })
        .collect()
}

fn print_plan(label: &str, plan: &[String], dry_run: bool) {
    let verb = if dry_run { "would create" } else { "creating" };
    println!("{label}{verb} (unless it exists):");
    for line in plan {
        println!("  {line}");
    }
}

pub fn requeue(args: &RequeueArgs) -> Result<(), Failure> {
    let mut stuck = Vec::new();
    runtime()?.block_on(async {
        let broker = args.target.broker("re-queueing", None).await?;
        for queue in args.target.queues() {
            stuck.extend(requeue_one(broker.as_ref(), &queue).await?);
        }
        Ok::<_, Failure>(())
    })?;
    if !stuck.is_empty() {
        return Err(Failure::new(format!(
            "{} message(s) could not be re-queued; they stay in their dead-letter queue",
            stuck.len()
        ))
        .details(stuck));
    }
    Ok(())
}

/// Re-queues one queue's dead letters with a progress spinner and prints what it moved;
/// returns the messages that could not be moved.
async fn requeue_one(broker: &dyn Broker, queue: &Queue) -> Result<Vec<String>, Failure> {
    let label = queue.label();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {label}re-queued {{pos}} dead letters ({{elapsed}})"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut progress = |report: &Requeued| bar.set_position(report.moved as u64);
    let report = broker.requeue_dead_letters(&queue.name, &mut progress).await;
    bar.finish_and_clear();
    let report = report.map_err(|e| backend_failure(&format!("{label}re-queueing"), e))?;
    let layout = broker.layout();
    let (from, to) = (layout.dead_letter_queue(&queue.name), layout.requeue_target(&queue.name));
    println!("{label}re-queued {} message(s) from {from} to {to}", report.moved);
    Ok(report.failed.into_iter().map(|failure| format!("{from}: {failure}")).collect())
}
