//! `tally backfill`: runs the stack's backfill function (the same code the
//! schedule runs, with its permissions) over the asked window, resuming
//! where a run's page budget stopped until the window is done.

use serde_json::{json, Value};

use crate::stack::Stack;

pub struct Asked {
    pub since_secs: i64,
    pub min_age_secs: i64,
    pub dry_run: bool,
}

/// The summed reports of every invocation.
pub async fn backfill(
    stack: &Stack,
    asked: &Asked,
    progress: &indicatif::ProgressBar,
) -> Result<Value, String> {
    let mut total = json!({"since": asked.since_secs, "dry_run": asked.dry_run, "runs": 0, "pages": 0,
        "listed": 0, "already_journaled": 0, "too_recent": 0, "recovered": 0, "recovered_ids": []});
    let mut resume: Option<String> = None;
    loop {
        let payload = json!({"since_secs": asked.since_secs, "min_age_secs": asked.min_age_secs,
                             "dry_run": asked.dry_run, "resume_after": resume});
        let body = stack.invoke("StripeBackfillName", &payload).await?;
        total["runs"] = json!(total["runs"].as_u64().unwrap_or(0) + 1);
        for key in [
            "pages",
            "listed",
            "already_journaled",
            "too_recent",
            "recovered",
        ] {
            total[key] = json!(total[key].as_u64().unwrap_or(0) + body[key].as_u64().unwrap_or(0));
        }
        if let (Some(all), Some(more)) = (
            total["recovered_ids"].as_array_mut(),
            body["recovered_ids"].as_array(),
        ) {
            all.extend(more.iter().cloned());
        }
        total["since"] = body["since"].clone();
        progress.set_message(format!(
            "{} events read, {} recovered",
            total["listed"], total["recovered"]
        ));
        match body["resume_after"].as_str() {
            Some(next) if body["truncated"] == json!(true) => resume = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(total)
}
