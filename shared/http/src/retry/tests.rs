use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server on loopback that answers each request with the next scripted
/// status (the last one repeats); `None` holds the connection without answering.
async fn scripted(statuses: Vec<Option<u16>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/thing", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let status = statuses[n.min(statuses.len() - 1)];
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                match status {
                    Some(code) => {
                        let reply = format!(
                            "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                        );
                        let _ = socket.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (url, count)
}

fn policy() -> HttpPolicy {
    HttpPolicy {
        max_retries: 3,
        retry_base_ms: 10,
        max_backoff_ms: 20,
        timeout_ms: 5_000,
    }
}

async fn post(url: &str, repeat: Repeat, policy: &HttpPolicy) -> Result<Reply, SendError> {
    let client = reqwest::Client::new();
    with_retries(policy, "test", "test", repeat, |timeout| {
        client.post(url).timeout(timeout).body("{}").send()
    })
    .await
}

#[tokio::test]
async fn a_write_without_idempotency_is_not_resent_after_a_server_error() {
    let (url, count) = scripted(vec![Some(503), Some(200)]).await;
    let reply = post(&url, Repeat::Unsafe, &policy()).await.unwrap();
    assert_eq!((reply.status, count.load(Ordering::SeqCst)), (503, 1));
}

#[tokio::test]
async fn a_write_without_idempotency_is_not_resent_after_a_timeout() {
    let (url, count) = scripted(vec![None, Some(200)]).await;
    let p = HttpPolicy {
        timeout_ms: 300,
        ..policy()
    };
    assert!(post(&url, Repeat::Unsafe, &p).await.is_err());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn safe_requests_and_429s_are_retried() {
    let (url, count) = scripted(vec![Some(503), Some(502), Some(200)]).await;
    assert_eq!(
        post(&url, Repeat::Safe, &policy()).await.unwrap().status,
        200
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let (url, count) = scripted(vec![Some(429), Some(201)]).await;
    assert_eq!(
        post(&url, Repeat::Unsafe, &policy()).await.unwrap().status,
        201
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn nothing_is_sent_without_time_left_in_the_invocation() {
    let (url, count) = scripted(vec![Some(200)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(900);
    let out =
        tally_core::deadline::within(Some(deadline), post(&url, Repeat::Safe, &policy())).await;
    assert!(matches!(out, Err(SendError::OutOfTime { .. })), "{out:?}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retries_stop_and_attempts_shrink_to_fit_the_deadline() {
    // the server never answers; each attempt would take 5 s and 3 retries are allowed
    let (url, count) = scripted(vec![None]).await;
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_millis(2_500);
    let out =
        tally_core::deadline::within(Some(deadline), post(&url, Repeat::Safe, &policy())).await;
    assert!(out.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "no retry fits in what is left"
    );
}

#[test]
fn retry_after_and_backoff_never_overflow() {
    let p = HttpPolicy {
        max_retries: 10,
        retry_base_ms: u64::MAX / 2,
        max_backoff_ms: u64::MAX,
        timeout_ms: 1_000,
    };
    let _ = backoff(&p, u32::MAX);
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "18446744073709551615".parse().unwrap());
    let reply = Reply {
        status: 429,
        headers,
        body: vec![],
    };
    assert_eq!(
        retry_after(&reply, &policy()),
        Some(Duration::from_millis(20))
    );
}
