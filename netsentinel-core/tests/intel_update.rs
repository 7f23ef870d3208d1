//! `intel update` against a feed server on loopback: download, conditional request,
//! server failure leaving the old feed in place.
#![cfg(feature = "intel-update")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use netsentinel_core::detect::threat_intel::FeedConfig;
use netsentinel_core::intel::FeedFormat;
use netsentinel_core::intel::update::{UpdateError, UpdateOutcome, update_feed};

/// Serves `responses` in order, one per connection, recording each request's headers.
fn serve(responses: Vec<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.txt", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

#[test]
fn download_then_not_modified_then_failure_keeps_the_feed() {
    let body = "203.0.113.0/24\nevil.example\n";
    let ok = "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: 28\r\nConnection: close\r\n\r\n203.0.113.0/24\nevil.example\n";
    let not_modified = "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n";
    let broken =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (url, seen) = serve(vec![ok, not_modified, broken]);
    let dir = std::env::temp_dir().join(format!("ns-intel-update-{}", std::process::id()));
    let feed = FeedConfig {
        name: "lab".into(),
        path: dir.join("feeds/lab.txt"),
        format: FeedFormat::Auto,
        url: Some(url),
    };
    assert_eq!(
        update_feed(&feed).unwrap(),
        UpdateOutcome::Updated(body.len() as u64)
    );
    assert_eq!(std::fs::read_to_string(&feed.path).unwrap(), body);
    assert_eq!(update_feed(&feed).unwrap(), UpdateOutcome::NotModified);
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests[1].contains("If-None-Match: \"v1\""),
        "{requests:?}"
    );
    let err = update_feed(&feed).unwrap_err();
    assert!(matches!(err, UpdateError::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&feed.path).unwrap(),
        body,
        "old feed kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let feed = FeedConfig {
        name: "remote".into(),
        path: std::env::temp_dir().join("ns-never-written.txt"),
        format: FeedFormat::Plain,
        url: Some("http://feeds.example.com/list.txt".into()),
    };
    assert!(matches!(
        update_feed(&feed),
        Err(UpdateError::InsecureUrl { .. })
    ));
    assert!(!feed.path.exists());
}
