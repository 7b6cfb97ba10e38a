//! `tally`: operate a deployed Tally stack, found by its name (`--stack`,
//! or `TALLY_STACK_NAME`), with the default AWS credential chain
//! (`AWS_ENDPOINT_URL` for an emulator). `--json` for scripts.
//!
//! Exit codes: 0 done (and, for `status`, healthy); 1 the command failed;
//! 2 a usage error; 3 `status` found dead letters.

mod backfill;
mod dlq;
mod order;
mod payout;
mod platform_webhooks;
mod queues;
mod replay;
mod stack;
mod status;
mod stripe_client;
mod webhooks;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Serialize;
use tally_core::clock::{Clock, SystemClock};

#[derive(Parser)]
#[command(name = "tally", about = "Operate a deployed Tally stack", version)]
struct Cli {
    /// The CloudFormation stack name.
    #[arg(long, env = "TALLY_STACK_NAME", default_value = "tally", global = true)]
    stack: String,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Queue depths and dead letters with their most frequent reasons, per flow; when each poller last finished.
    Status {
        /// Also count the Stripe events handled in the last hour (scans the events table).
        #[arg(long)]
        events: bool,
    },
    /// A flow's dead letters (`payments`, `payouts`).
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Enqueue every routed Stripe event since a time that no webhook delivered.
    Backfill {
        /// `2026-11-27`, `2026-11-27 10:00:00` (UTC), or an age: `90m`, `6h`, `3d` (at most 30 days).
        #[arg(long, default_value = "1d")]
        since: String,
        /// Leave events younger than this many seconds to their webhooks.
        #[arg(long, default_value_t = 300)]
        min_age_secs: i64,
        /// Count what would be enqueued; enqueue nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// An order's story from Tally's records: its PaymentIntent, each step, the Stripe events.
    Order {
        /// magento, znode, kentico
        platform: String,
        /// The platform's order id (Magento's entity id, Znode's OmsOrderId, Kentico's OrderID),
        /// or its number (Magento's increment id, Znode's order number), found through Stripe.
        order_id: String,
        /// The store (Magento store code, Znode portal, Kentico site); any when not given.
        #[arg(long)]
        store: Option<String>,
    },
    /// Re-run journaled Stripe events through their flows (idempotent: what is done stays done).
    Replay {
        /// Events Tally recorded from this time (a date, a UTC time or an age, as for backfill).
        #[arg(long)]
        from: String,
        /// ... to this time (default now).
        #[arg(long)]
        to: Option<String>,
        /// Only events of this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only one order's events: `platform/store/order id`.
        #[arg(long)]
        order: Option<String>,
        /// List what would be re-run; enqueue nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stripe's webhook endpoint for this stack.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// A payout's reconciliation report (CSV to stdout unless a file is named).
    Payout {
        payout: String,
        #[arg(long)]
        csv: Option<String>,
        #[arg(long)]
        html: Option<String>,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// Register (or check and fix) the endpoint with exactly the event types Tally routes;
    /// a new endpoint's signing secret is added to the stack's webhook secret.
    Setup {
        /// The URL called (default: the stack's StripeWebhookUrl output, or the platform's).
        #[arg(long)]
        url: Option<String>,
        /// A platform's own webhooks instead of Stripe's: magento (Adobe Commerce subscribes
        /// them over REST); znode and kentico say what to set in their admin.
        #[arg(long)]
        platform: Option<String>,
        /// Say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// The dead letters, each with its event and reason (left in place).
    List { flow: String },
    /// Move dead letters back to the flow's queue.
    Redrive {
        flow: String,
        /// Only those whose reason contains this text.
        #[arg(long)]
        only: Option<String>,
        /// Say what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// An AWS SDK error with its whole chain of causes, after what failed.
pub(crate) fn aws_error<E: std::error::Error>(what: &str, e: E) -> String {
    format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

/// Unix seconds of `2026-11-27[ 10:00:00]` (UTC) or of an age before `now`.
fn since_secs(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let n: i64 = t[..t.len() - 1]
            .parse()
            .map_err(|_| format!("{text:?}: an age is a number and m, h or d"))?;
        let secs = match unit {
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{text:?}: an age ends in m, h or d")),
        };
        return Ok(now - n.saturating_mul(secs));
    }
    let full = if t.len() == 10 {
        format!("{t} 00:00:00")
    } else {
        t.to_string()
    };
    tally_core::clock::parse_utc_datetime(&full)
        .ok_or_else(|| format!("{text:?} is not a date, a UTC time or an age"))
}

fn spinner(json: bool, what: &str) -> indicatif::ProgressBar {
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

fn letters_table(letters: &[queues::Peeked], now_ms: i64) -> String {
    let mut out = format!("{:<28} {:<32} {:>8}  reason\n", "event", "type", "age");
    for m in letters {
        let age = m
            .sent_at_ms
            .map(|t| format!("{}s", (now_ms - t).max(0) / 1000))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<28} {:<32} {:>8}  {}\n",
            m.event_id.as_deref().unwrap_or(&m.message_id),
            m.event_type.as_deref().unwrap_or("-"),
            age,
            m.reason.as_deref().unwrap_or("-")
        ));
    }
    out.push_str(&format!("{} message(s)", letters.len()));
    out
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let now_ms = SystemClock.now_ms();
    let stack = stack::Stack::find(&cli.stack).await?;
    let json = cli.json;
    match cli.command {
        Command::Status { events } => {
            let bar = spinner(json, "reading queues");
            let s = status::status(&stack, now_ms, events).await?;
            bar.finish_and_clear();
            print(json, &s, || {
                let mut out = format!(
                    "stack {}: {}\n",
                    s.stack,
                    if s.healthy { "healthy" } else { "DEAD LETTERS" }
                );
                out.push_str(&format!(
                    "{:<10} {:>7} {:>9} {:>13} {:>12}\n",
                    "flow", "queued", "in flight", "dead letters", "oldest dead"
                ));
                for f in &s.flows {
                    out.push_str(&format!(
                        "{:<10} {:>7} {:>9} {:>13} {:>12}\n",
                        f.flow,
                        f.queued,
                        f.in_flight,
                        f.dead_letters,
                        f.oldest_dead_letter_secs
                            .map(|s| format!("{s}s"))
                            .unwrap_or_else(|| "-".into())
                    ));
                    for (reason, n) in &f.top_reasons {
                        out.push_str(&format!("    {n:>5} × {reason}\n"));
                    }
                }
                if let Some(n) = s.events_last_hour {
                    out.push_str(&format!("Stripe events handled in the last hour: {n}\n"));
                }
                for (poller, at) in &s.last_polls {
                    out.push_str(&format!(
                        "{poller}: last poll finished {}s ago\n",
                        (now_ms - at).max(0) / 1000
                    ));
                }
                out.trim_end().to_string()
            });
            Ok(if s.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Dlq {
            action: DlqAction::List { flow },
        } => {
            let bar = spinner(json, "reading the dead-letter queue");
            let letters = dlq::list(&stack, &flow).await?;
            bar.finish_and_clear();
            print(json, &letters, || letters_table(&letters, now_ms));
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq {
            action:
                DlqAction::Redrive {
                    flow,
                    only,
                    dry_run,
                },
        } => {
            let bar = if json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(0)
            };
            let r = dlq::redrive(&stack, &flow, only.as_deref(), dry_run, &bar).await?;
            bar.finish_and_clear();
            print(json, &r, || {
                format!(
                    "{}\n{} {} of {} selected to the {} queue; {} left in its DLQ",
                    letters_table(&r.messages, now_ms),
                    if r.dry_run { "would move" } else { "moved" },
                    if r.dry_run { r.selected } else { r.moved },
                    r.selected,
                    r.flow,
                    r.left
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Backfill {
            since,
            min_age_secs,
            dry_run,
        } => {
            let asked = backfill::Asked {
                since_secs: since_secs(&since, now_ms / 1000)?,
                min_age_secs,
                dry_run,
            };
            let bar = spinner(json, "listing Stripe's events");
            let report = backfill::backfill(&stack, &asked, &bar).await?;
            bar.finish_and_clear();
            print(json, &report, || {
                format!(
                    "{} routed event(s) since {} read in {} page(s): {} already processed, {} too recent for backfill, {} {}",
                    report["listed"],
                    tally_core::clock::utc_datetime(report["since"].as_i64().unwrap_or_default()),
                    report["pages"],
                    report["already_journaled"],
                    report["too_recent"],
                    report["recovered"],
                    if dry_run { "would be enqueued" } else { "enqueued" }
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Order {
            platform,
            order_id,
            store,
        } => {
            let bar = spinner(json, "reading Tally's records");
            let mut story = order::story(&stack, &platform, store.as_deref(), &order_id).await?;
            if story.steps.is_empty() && story.payment_intent.is_none() {
                // not an order id Tally knows: perhaps the order's number
                if let Some((found_store, id)) =
                    order::by_number(&stack, &platform, &order_id).await?
                {
                    story = order::story(&stack, &platform, Some(&found_store), &id).await?;
                }
            }
            bar.finish_and_clear();
            if story.steps.is_empty() && story.payment_intent.is_none() {
                return Err(format!(
                    "Tally has no record of {platform} order {order_id}"
                ));
            }
            let at = |s: Option<i64>| {
                s.map(tally_core::clock::utc_datetime)
                    .unwrap_or_else(|| "-".into())
            };
            print(json, &story, || {
                let mut out = format!(
                    "order {}: PaymentIntent {}, paid by {}\n",
                    story.order,
                    story.payment_intent.as_deref().unwrap_or("none"),
                    story.charge.as_deref().unwrap_or("no charge yet")
                );
                for s in &story.steps {
                    out.push_str(&format!(
                        "  {}  {:<10} {:<40} {}\n",
                        at(s.claimed_at),
                        s.status,
                        s.step,
                        s.result.as_deref().unwrap_or("")
                    ));
                }
                out.push_str("Stripe events journaled:\n");
                for e in &story.events {
                    out.push_str(&format!(
                        "  {}  {:<30} {} ({})\n",
                        at(e.recorded_at_ms.map(|m| m / 1000)),
                        e.event_type,
                        e.event_id,
                        e.object_id.as_deref().unwrap_or("-")
                    ));
                }
                out.trim_end().to_string()
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            from,
            to,
            event_type,
            order,
            dry_run,
        } => {
            let now = now_ms / 1000;
            let objects = match &order {
                None => None,
                Some(key) => {
                    let parts: Vec<&str> = key.splitn(3, '/').collect();
                    let [platform, store, id] = parts[..] else {
                        return Err(format!("--order {key:?}: give platform/store/order id"));
                    };
                    let story = order::story(&stack, platform, Some(store), id).await?;
                    Some(story.stripe_ids())
                }
            };
            let asked = replay::Asked {
                from_ms: since_secs(&from, now)? * 1000,
                to_ms: to
                    .as_deref()
                    .map(|t| since_secs(t, now))
                    .transpose()?
                    .unwrap_or(now + 1)
                    * 1000,
                event_type: event_type.as_deref(),
                objects,
                dry_run,
            };
            let bar = if json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(0)
            };
            let done = replay::replay(&stack, &asked, &bar).await?;
            bar.finish_and_clear();
            print(json, &done, || {
                let mut out = String::new();
                for (id, t) in &done.events {
                    out.push_str(&format!("  {id}  {t}\n"));
                }
                out.push_str(&if done.dry_run {
                    format!(
                        "{} event(s) would be re-run; steps already done are not done again",
                        done.events.len()
                    )
                } else {
                    format!(
                        "{} event(s) re-run, {} skipped (gone from Stripe or not routed)",
                        done.enqueued,
                        done.skipped.len()
                    )
                });
                out
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Webhooks {
            action:
                WebhooksAction::Setup {
                    url,
                    platform,
                    dry_run,
                },
        } => {
            let Some(platform) = platform else {
                let done = webhooks::setup(&stack, url.as_deref(), dry_run).await?;
                print(json, &done, || {
                    format!(
                        "Stripe webhook endpoint {} for {}: {} ({} event types){}",
                        done.endpoint,
                        done.url,
                        done.action,
                        done.enabled_events.len(),
                        if done.secret_stored {
                            "; its signing secret is stored in the stack's webhook secret"
                        } else {
                            ""
                        }
                    )
                });
                return Ok(ExitCode::SUCCESS);
            };
            let done = platform_webhooks::setup(&stack, &platform, url.as_deref(), dry_run).await?;
            print(json, &done, || {
                let mut out = format!("{} webhooks to {}:", done.platform, done.url);
                for h in &done.hooks {
                    out += &format!("\n  {} ({}): {}", h.webhook_method, h.hook_name, h.action);
                }
                for n in &done.notes {
                    out += &format!("\n  note: {n}");
                }
                out
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Payout { payout, csv, html } => {
            let text = payout::report(&stack, &payout, csv.as_deref(), html.as_deref()).await?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tally: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_takes_dates_times_and_ages() {
        let now = 1_795_651_200; // 2026-11-26 00:00:00
        assert_eq!(super::since_secs("2026-11-25", now), Ok(now - 86_400));
        assert_eq!(
            super::since_secs("2026-11-25 12:00:00", now),
            Ok(now - 43_200)
        );
        assert_eq!(super::since_secs("90m", now), Ok(now - 5_400));
        assert_eq!(super::since_secs("3d", now), Ok(now - 259_200));
        assert!(super::since_secs("3w", now).is_err());
        assert!(super::since_secs("yesterday", now).is_err());
    }
}
