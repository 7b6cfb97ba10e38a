//! Signs or verifies a Stripe webhook payload with Tally's own code, so people
//! and tests can post signed events with curl and cross-check against Stripe's SDK.
//!
//!   tally-stripe-signature sign   [--timestamp T] < body      prints the Stripe-Signature value
//!   tally-stripe-signature verify --header H [--tolerance S] < body   exits 0 if valid
//!
//! The secret comes from STRIPE_WEBHOOK_SECRET (never an argument, so it stays out of `ps`).

use std::io::Read;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tally_core::secrets::SecretString;
use tally_core::stripe::signature::{sign, DEFAULT_TOLERANCE_SECS};
use tally_core::stripe::SignatureVerifier;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Ok(secret) = std::env::var("STRIPE_WEBHOOK_SECRET") else {
        eprintln!("set STRIPE_WEBHOOK_SECRET (e.g. `. .tally/local.env`)");
        return ExitCode::from(2);
    };
    let secret = SecretString::new(secret);
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("reading the body from stdin: {e}");
        return ExitCode::from(2);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    match args.first().map(String::as_str) {
        Some("sign") => {
            let timestamp = arg(&args, "--timestamp")
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            println!("{}", sign(&secret, timestamp, &body));
            ExitCode::SUCCESS
        }
        Some("verify") => {
            let header = arg(&args, "--header");
            let tolerance = arg(&args, "--tolerance")
                .and_then(|t| t.parse().ok())
                .unwrap_or(DEFAULT_TOLERANCE_SECS);
            match SignatureVerifier::new(vec![secret], tolerance).verify(
                header.as_deref(),
                &body,
                now,
            ) {
                Ok(_) => {
                    println!("valid");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("invalid: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!("usage: tally-stripe-signature sign [--timestamp T] | verify --header H [--tolerance S]  (body on stdin)");
            ExitCode::from(2)
        }
    }
}
