//! Unit tests of head parsing and body framing, with no socket.

use std::io::BufReader;

use super::*;

fn head(text: &str) -> Head {
    parse_head(text.as_bytes(), 64 * 1024).unwrap().unwrap().0
}

fn body(head_text: &str, body: &str, limit: usize) -> Result<Vec<u8>, BodyError> {
    let head = head(head_text);
    let framing = framing(&head)?;
    read_body(&mut BufReader::new(body.as_bytes()), framing, limit)
}

#[test]
fn a_head_is_complete_only_with_its_blank_line() {
    let text = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
    for cut in 0..text.len() - 4 {
        assert_eq!(parse_head(&text.as_bytes()[..cut], 1024).map(|h| h.is_some()), Ok(false), "cut at {cut}");
    }
    let (head, length) = parse_head(text.as_bytes(), 1024).unwrap().unwrap();
    assert_eq!(length, text.len() - 4, "the head's length excludes what follows");
    assert_eq!((head.method.as_str(), head.target.as_str(), head.path(), head.http11), ("GET", "/a?b=1", "/a", true));
    assert_eq!(head.header("host"), Some("x"));
}

#[test]
fn leading_empty_lines_are_skipped() {
    let head = head("\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    assert!(!head.http11 && !head.keep_alive());
}

#[test]
fn heads_over_the_limit_or_with_too_many_headers_are_too_large() {
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
    assert_eq!(parse_head(long.as_bytes(), 1000).unwrap_err(), HeadError::TooLarge);
    assert_eq!(parse_head(&long.as_bytes()[..1000], 1000).unwrap_err(), HeadError::TooLarge);
    let many: String = (0..MAX_HEADERS + 1).map(|i| format!("H{i}: v\r\n")).collect();
    let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(parse_head(text.as_bytes(), 64 * 1024).unwrap_err(), HeadError::TooLarge);
}

#[test]
fn malformed_heads_are_refused() {
    for bad in [
        "GET / HTTP/2.0\r\n\r\n",
        "GET /\r\n\r\n",
        "GET * HTTP/1.1\r\n\r\n",
        "GET http://x/ HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
        "G\u{1}T / HTTP/1.1\r\n\r\n",
    ] {
        assert!(matches!(parse_head(bad.as_bytes(), 1024), Err(HeadError::Malformed(_))), "{bad:?}");
    }
}

#[test]
fn non_utf8_header_values_are_kept_lossily() {
    let mut text = b"GET / HTTP/1.1\r\nX-Name: caf".to_vec();
    text.extend_from_slice(&[0xe9, 0xff]);
    text.extend_from_slice(b"\r\n\r\n");
    let (head, _) = parse_head(&text, 1024).unwrap().unwrap();
    assert!(head.header("x-name").unwrap().starts_with("caf"));
}

#[test]
fn connection_tokens_decide_keep_alive() {
    assert!(head("GET / HTTP/1.1\r\n\r\n").keep_alive());
    assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").keep_alive());
    assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    assert!(head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expects_continue());
}

#[test]
fn framing_is_strict() {
    let framing_of = |text: &str| framing(&head(text));
    assert!(matches!(framing_of("GET / HTTP/1.1\r\n\r\n"), Ok(Framing::None)));
    assert!(matches!(framing_of("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), Ok(Framing::Length(5))));
    assert!(matches!(
        framing_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n"),
        Ok(Framing::Length(5))
    ));
    assert!(matches!(framing_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), Ok(Framing::Chunked)));
    for bad in [
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert!(matches!(framing_of(bad), Err(BodyError::Malformed(_))), "{bad:?}");
    }
}

#[test]
fn bodies_are_read_to_their_length_within_the_limit() {
    assert_eq!(body("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "helloEXTRA", 100).unwrap(), b"hello");
    assert!(matches!(body("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "hel", 100), Err(BodyError::Malformed(_))));
    assert!(matches!(
        body("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", "", 100),
        Err(BodyError::TooLarge)
    ));
}

#[test]
fn chunked_bodies_count_their_framing() {
    let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        body(chunked, "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n", 100).unwrap(),
        b"hello world"
    );
    assert_eq!(body(chunked, "3\nabc\r\n0\n\n", 100).unwrap(), b"abc", "bare LF lines");
    assert!(matches!(body(chunked, "5\r\nhello\r\n0\r\n\r\n", 8), Err(BodyError::TooLarge)), "framing counts");
    assert!(matches!(body(chunked, &"1\r\na\r\n".repeat(50), 100), Err(BodyError::TooLarge)));
    for bad in ["zz\r\n", "5\r\nhel", "5\r\nhelloXX0\r\n\r\n", "-1\r\n", "ffffffffffffffffff\r\n"] {
        assert!(body(chunked, bad, 1 << 20).is_err(), "{bad:?}");
    }
    let long_line = format!("{}1\r\n", "0".repeat(MAX_CHUNK_LINE));
    assert!(matches!(body(chunked, &long_line, 1 << 20), Err(BodyError::Malformed(_))));
}

#[test]
fn response_heads_frame_the_body_themselves() {
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("content-length".to_string(), "999".to_string()),
        ("Bad\nName".to_string(), "x".to_string()),
        ("X-Evil".to_string(), "a\r\nInjected: 1".to_string()),
    ];
    let text = String::from_utf8(response_head(200, &headers, Delimited::Length(12), After::KeepAlive(60))).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"), "{text}");
    assert!(text.contains("Content-Length: 12\r\n") && !text.contains("999") && !text.contains("Injected"), "{text}");
    assert!(text.ends_with("Keep-Alive: timeout=60\r\n\r\n"), "{text}");
    let closing = String::from_utf8(response_head(503, &[], Delimited::Length(0), After::Close)).unwrap();
    assert!(
        closing.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && closing.ends_with("Connection: close\r\n\r\n")
    );
}

#[test]
fn streamed_bodies_are_chunked_or_end_with_the_connection() {
    let chunked = String::from_utf8(response_head(200, &[], Delimited::Chunked, After::KeepAlive(60))).unwrap();
    assert!(chunked.contains("Transfer-Encoding: chunked\r\n") && !chunked.contains("Content-Length"), "{chunked}");
    assert!(chunked.ends_with("Keep-Alive: timeout=60\r\n\r\n"), "{chunked}");
    // HTTP/1.0 knows no chunks: the body ends where the connection does, whatever was asked.
    let until_close = String::from_utf8(response_head(200, &[], Delimited::UntilClose, After::KeepAlive(60))).unwrap();
    assert!(!until_close.contains("Content-Length") && !until_close.contains("chunked"), "{until_close}");
    assert!(until_close.ends_with("Connection: close\r\n\r\n"), "{until_close}");

    let mut buf = vec![0u8; CHUNK_PREFIX];
    buf.extend_from_slice(&[b'x'; 300]);
    let start = frame_chunk(&mut buf);
    let framed = &buf[start..];
    assert!(framed.starts_with(b"12c\r\nxxx") && framed.ends_with(b"x\r\n") && framed.len() == 5 + 300 + 2);
    // A chunked body read back with our own reader is the data again.
    let mut wire = framed.to_vec();
    wire.extend_from_slice(LAST_CHUNK);
    assert_eq!(read_body(&mut &wire[..], Framing::Chunked, 1 << 20).unwrap(), vec![b'x'; 300]);
}
