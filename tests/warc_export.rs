//! `finscan export warc`: crawl a site served on 127.0.0.1, export the WARC
//! through the binary, and read it back with a reader written here (gzip
//! members one by one, records by hand, both digests recomputed). The
//! independent reader, Python's warcio, runs in `.ci/warc-check`.

mod crawl_support;

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crawl_support::*;
use data_encoding::BASE32;
use sha1::{Digest, Sha1};

/// One WARC record as read back.
#[derive(Debug)]
struct Record {
    fields: Vec<(String, String)>,
    block: Vec<u8>,
}

impl Record {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn must(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("record has no {name}: {:?}", self.fields))
    }

    /// HTTP head and payload of an `application/http` block.
    fn http(&self) -> (&[u8], &[u8]) {
        let end = find(&self.block, b"\r\n\r\n").expect("HTTP head ends") + 4;
        (&self.block[..end], &self.block[end..])
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn sha1_b32(b: &[u8]) -> String {
    format!("sha1:{}", BASE32.encode(&Sha1::digest(b)))
}

/// Reads a `.warc.gz`: every gzip member must hold exactly one record.
fn read_warc(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).expect("read the WARC");
    let mut rest: &[u8] = &bytes;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let mut d = flate2::bufread::GzDecoder::new(rest);
        let mut member = Vec::new();
        d.read_to_end(&mut member).expect("a gzip member");
        rest = d.into_inner();
        let head_end = find(&member, b"\r\n\r\n").expect("WARC head ends");
        let head = std::str::from_utf8(&member[..head_end]).expect("UTF-8 WARC head");
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("WARC/1.1"));
        let fields: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(": ").expect("a named field");
                (k.to_string(), v.to_string())
            })
            .collect();
        let rec = Record {
            fields,
            block: Vec::new(),
        };
        let len: usize = rec.must("Content-Length").parse().unwrap();
        let start = head_end + 4;
        let block = member[start..start + len].to_vec();
        assert_eq!(
            &member[start + len..],
            b"\r\n\r\n",
            "one record per gzip member, ended by two CRLFs"
        );
        records.push(Record { block, ..rec });
    }
    records
}

fn export(db: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = Command::new(BIN)
        .args(["export", "warc", "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("FINSCAN_DB")
        .output()
        .expect("run finscan export warc");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, b).unwrap();
    e.finish().unwrap()
}

const PROMO: &str = "<p>本平台承诺保本保息，年化收益率高达18%。</p>";

fn page(body: &str) -> String {
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>")
}

/// Request headers as the server received them, by request target.
type SeenHeaders = Arc<Mutex<HashMap<String, Vec<(String, String)>>>>;

/// A site: a home page with a hit, a gzip page and a deflate page with
/// hits, a 203 with a reason phrase of its own, and a page without hits.
/// Returns the server and the request headers it saw, by path.
fn site() -> (Server, SeenHeaders) {
    let seen: SeenHeaders = Arc::default();
    let log = seen.clone();
    let srv = serve(move |r| {
        log.lock()
            .unwrap()
            .insert(r.target.clone(), r.headers.clone());
        match r.path() {
            "/robots.txt" => allow_all(),
            "/" => Response::html(page(&format!(
                "{PROMO}<a href=\"/gz\">gz</a><a href=\"/deflate\">d</a><a href=\"/odd?x=1\">o</a><a href=\"/clean\">c</a>"
            )))
            .header("X-Served-By", "test one")
            .header("X-Served-By", "test two"),
            "/gz" => Response::bytes(
                "text/html; charset=utf-8",
                gzip(page("<p>资金池运作，配资杠杆10倍。</p>").as_bytes()),
            )
            .header("Content-Encoding", "gzip"),
            "/deflate" => Response::bytes(
                "text/html; charset=utf-8",
                zlib(page("<p>首付贷，先行垫付。</p>").as_bytes()),
            )
            .header("Content-Encoding", "deflate"),
            "/odd" => {
                let mut r = Response::html(page(PROMO));
                r.status = 203;
                r
            }
            "/clean" => Response::html(page("<p>公司简介</p>")),
            _ => Response::not_found(),
        }
    });
    (srv, seen)
}

/// The stored raw body of every page, by URL (through the library).
fn stored_bodies(db: &Path) -> HashMap<String, Vec<u8>> {
    let store = finscan::store::Store::open(db).expect("open the database");
    let mut out = HashMap::new();
    for p in store.pages_iter() {
        let p = p.unwrap();
        if let Some(sha) = &p.sha256 {
            out.insert(p.final_url.clone(), store.body(sha).unwrap().unwrap());
        }
    }
    out
}

fn is_warc_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn is_record_id(s: &str) -> bool {
    s.strip_prefix("<urn:uuid:")
        .and_then(|r| r.strip_suffix('>'))
        .is_some_and(|u| u.len() == 36 && u.chars().filter(|&c| c == '-').count() == 4)
}

/// Every check that holds for any export: warcinfo first, required fields,
/// digests recomputed, each request naming its response.
fn check_records(records: &[Record]) -> HashMap<String, (usize, usize)> {
    assert!(!records.is_empty());
    assert_eq!(records[0].must("WARC-Type"), "warcinfo");
    let info = String::from_utf8_lossy(&records[0].block).into_owned();
    assert!(info.contains("software: finscan/"), "{info}");
    assert!(info.contains("finscan-selection: "), "{info}");
    let info_id = records[0].must("WARC-Record-ID").to_string();
    let mut ids = std::collections::HashSet::new();
    let mut responses: HashMap<String, usize> = HashMap::new();
    let mut pairs = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let id = r.must("WARC-Record-ID");
        assert!(is_record_id(id), "{id}");
        assert!(ids.insert(id.to_string()), "record ids are unique");
        assert!(is_warc_date(r.must("WARC-Date")), "{}", r.must("WARC-Date"));
        assert_eq!(r.must("WARC-Block-Digest"), sha1_b32(&r.block));
        assert_eq!(r.must("Content-Length"), r.block.len().to_string());
        if i == 0 {
            continue;
        }
        assert_eq!(r.must("WARC-Warcinfo-ID"), info_id);
        let uri = r.must("WARC-Target-URI").to_string();
        let (_, payload) = r.http();
        assert_eq!(r.must("WARC-Payload-Digest"), sha1_b32(payload));
        match r.must("WARC-Type") {
            "response" => {
                assert_eq!(r.must("Content-Type"), "application/http; msgtype=response");
                assert!(r.http().0.starts_with(b"HTTP/1."));
                responses.insert(id.to_string(), i);
            }
            "request" => {
                assert_eq!(r.must("Content-Type"), "application/http; msgtype=request");
                assert!(r.http().0.starts_with(b"GET /"));
                assert!(payload.is_empty());
                let to = r.must("WARC-Concurrent-To");
                let &j = responses
                    .get(to)
                    .unwrap_or_else(|| panic!("request {id} names no earlier response: {to}"));
                let resp = &records[j];
                assert_eq!(resp.must("WARC-Target-URI"), uri);
                assert_eq!(resp.must("WARC-Date"), r.must("WARC-Date"));
                assert_eq!(resp.get("WARC-IP-Address"), r.get("WARC-IP-Address"));
                assert!(pairs.insert(uri, (j, i)).is_none(), "one capture per page");
            }
            other => panic!("unexpected record type {other}"),
        }
    }
    assert_eq!(
        pairs.len(),
        responses.len(),
        "every response has its request"
    );
    pairs
}

fn header_lines(head: &[u8]) -> Vec<String> {
    head.lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn a_crawled_site_exports_as_warc_with_its_exchanges_as_fetched() {
    let (srv, seen) = site();
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = s.dir.path().join("evidence.warc.gz");
    let (code, err) = export(&s.db(), &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote 4 page(s) as 9 WARC records"), "{err}");
    let records = read_warc(&out);
    let pairs = check_records(&records);
    let u = |p: &str| url("a.test", srv.port, p);
    let mut uris: Vec<_> = pairs.keys().cloned().collect();
    uris.sort();
    let mut want = vec![u("/"), u("/deflate"), u("/gz"), u("/odd?x=1")];
    want.sort();
    assert_eq!(uris, want, "pages with hits only, /clean left out");

    let bodies = stored_bodies(&s.db());
    let seen = seen.lock().unwrap().clone();
    for (uri, &(resp, req)) in &pairs {
        let (resp, req) = (&records[resp], &records[req]);
        assert_eq!(resp.must("WARC-IP-Address"), "127.0.0.1");
        assert_eq!(
            resp.http().1,
            bodies[uri].as_slice(),
            "{uri}: the payload is the stored raw body"
        );
        assert_eq!(resp.get("WARC-Truncated"), None);
        // the request as the server received it, header for header
        let target = uri.split_once(&format!(":{}", srv.port)).unwrap().1;
        let got: Vec<String> = header_lines(req.http().0);
        assert_eq!(got[0], format!("GET {target} HTTP/1.1"));
        let sent: Vec<String> = seen[target]
            .iter()
            .map(|(k, v)| format!("{}: {v}", k.to_ascii_lowercase()))
            .collect();
        assert_eq!(got[1..], sent[..], "{uri}: request headers as sent");
    }

    let resp = |p: &str| &records[pairs[&u(p)].0];
    // headers as received, repeated names kept, nothing added
    let home = header_lines(resp("/").http().0);
    assert_eq!(
        home,
        [
            "HTTP/1.1 200 OK",
            &format!("content-length: {}", bodies[&u("/")].len()),
            "content-type: text/html; charset=utf-8",
            "x-served-by: test one",
            "x-served-by: test two",
            "connection: keep-alive",
        ]
    );
    assert!(resp("/").get("Finscan-Note").is_none());
    // a reason phrase of the server's own is kept
    assert!(
        resp("/odd?x=1")
            .http()
            .0
            .starts_with(b"HTTP/1.1 203 Status\r\n"),
        "{}",
        String::from_utf8_lossy(resp("/odd?x=1").http().0)
    );
    // decoded bodies: the coding headers renamed, with their values, and said so
    for (p, coding, raw_len) in [
        (
            "/gz",
            "gzip",
            gzip(page("<p>资金池运作，配资杠杆10倍。</p>").as_bytes()).len(),
        ),
        (
            "/deflate",
            "deflate",
            zlib(page("<p>首付贷，先行垫付。</p>").as_bytes()).len(),
        ),
    ] {
        let r = resp(p);
        let head = header_lines(r.http().0);
        assert!(
            head.contains(&format!("x-original-content-encoding: {coding}")),
            "{head:?}"
        );
        assert!(
            head.contains(&format!("x-original-content-length: {raw_len}")),
            "{head:?}"
        );
        assert!(
            !head
                .iter()
                .any(|h| h.starts_with("content-encoding") || h.starts_with("content-length")),
            "{head:?}"
        );
        assert!(r.must("Finscan-Note").contains(coding));
        assert!(
            String::from_utf8_lossy(r.http().1).contains("<!DOCTYPE html>"),
            "{p}: the payload is decoded HTML"
        );
    }

    // --all-pages adds the page without hits
    let all = s.dir.path().join("all.warc.gz");
    let (code, err) = export(&s.db(), &all, &["--all-pages"]);
    assert_eq!(code, 0, "{err}");
    let pairs = check_records(&read_warc(&all));
    assert!(pairs.contains_key(&u("/clean")));
    assert_eq!(pairs.len(), 5);
    assert!(
        read_warc(&all)[0]
            .block
            .windows(9)
            .any(|w| w == b"pages=all")
    );

    // --url, --host and time windows select
    let one = s.dir.path().join("one.warc.gz");
    let (code, err) = export(&s.db(), &one, &["--url", &u("/gz")]);
    assert_eq!(code, 0, "{err}");
    let pairs = check_records(&read_warc(&one));
    assert_eq!(pairs.keys().collect::<Vec<_>>(), [&u("/gz")]);
    let (code, err) = export(&s.db(), &one, &["--host", &u("/"), "--since", "2000-01-01"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(check_records(&read_warc(&one)).len(), 4);
    let (code, err) = export(
        &s.db(),
        &one,
        &["--host", "a.test", "--until", "2000-01-01"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_warc(&one).len(), 1);
    assert!(err.contains("holds only its warcinfo record"), "{err}");
}

#[test]
fn an_empty_selection_is_a_valid_warc_with_only_warcinfo() {
    let (srv, _) = site();
    let s = Scratch::new();
    assert_eq!(crawl_site(&s, srv.port, "a.test", &[]).code, 1);
    let out = s.dir.path().join("none.warc.gz");
    let (code, err) = export(&s.db(), &out, &["--host", "b.test"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no page matched (host=b.test; pages=with-hits)")
            && err.contains("holds only its warcinfo record"),
        "{err}"
    );
    let records = read_warc(&out);
    assert_eq!(records.len(), 1);
    check_records(&records);
    assert!(String::from_utf8_lossy(&records[0].block).contains("finscan-selection: host=b.test"));
}

#[test]
fn a_url_not_in_the_database_is_named_and_the_rest_exported() {
    let (srv, _) = site();
    let s = Scratch::new();
    assert_eq!(crawl_site(&s, srv.port, "a.test", &[]).code, 1);
    let out = s.dir.path().join("x.warc.gz");
    let missing = url("a.test", srv.port, "/nowhere");
    let (code, err) = export(
        &s.db(),
        &out,
        &["--url", &missing, "--url", &url("a.test", srv.port, "/")],
    );
    assert_eq!(code, 3, "partial: {err}");
    assert!(
        err.contains(&format!("{missing}: no page is stored under this URL")),
        "{err}"
    );
    assert_eq!(check_records(&read_warc(&out)).len(), 1);
}

#[test]
fn pages_stored_before_headers_were_kept_are_marked_not_invented() {
    let (srv, _) = site();
    let s = Scratch::new();
    assert_eq!(crawl_site(&s, srv.port, "a.test", &[]).code, 1);
    // a database written before pages kept their HTTP exchange: the same
    // records without the `http` key
    {
        let store = finscan::store::Store::open(&s.db()).unwrap();
        for kv in store.pages.iter() {
            let (k, v) = kv.unwrap();
            let mut j: serde_json::Value = serde_json::from_slice(&v).unwrap();
            assert!(j.as_object_mut().unwrap().remove("http").is_some() || j["sha256"].is_null());
            store
                .pages
                .insert(k, serde_json::to_vec(&j).unwrap())
                .unwrap();
        }
        store.flush().unwrap();
    }
    let out = s.dir.path().join("old.warc.gz");
    let (code, err) = export(&s.db(), &out, &[]);
    assert_eq!(code, 0, "{err}");
    let records = read_warc(&out);
    let pairs = check_records(&records);
    let bodies = stored_bodies(&s.db());
    let gz = url("a.test", srv.port, "/gz");
    let (resp, req) = (&records[pairs[&gz].0], &records[pairs[&gz].1]);
    assert_eq!(
        header_lines(resp.http().0),
        ["HTTP/1.1 200 OK", "content-type: text/html; charset=utf-8"],
        "only what the page record knows"
    );
    assert!(resp.must("Finscan-Note").contains("rebuilt"));
    assert!(resp.must("Finscan-Note").contains("not known"));
    assert_eq!(
        resp.get("WARC-IP-Address"),
        None,
        "the address was not stored"
    );
    assert_eq!(resp.http().1, bodies[&gz].as_slice());
    assert_eq!(
        header_lines(req.http().0),
        ["GET /gz HTTP/1.1", &format!("host: a.test:{}", srv.port)]
    );
    assert!(req.must("Finscan-Note").contains("not stored"));
    assert_eq!(resp.all("Finscan-Note").len(), 1);
}

#[test]
fn a_body_cut_at_the_cap_is_marked_truncated() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        _ => html(&format!("{PROMO}{}", "<p>填充</p>".repeat(200))),
    });
    let s = Scratch::new();
    assert_eq!(
        crawl_site(&s, srv.port, "a.test", &["--max-body", "400"]).code,
        1
    );
    let out = s.dir.path().join("t.warc.gz");
    let (code, err) = export(&s.db(), &out, &[]);
    assert_eq!(code, 0, "{err}");
    let records = read_warc(&out);
    check_records(&records);
    assert_eq!(records[1].must("WARC-Truncated"), "length");
    assert_eq!(records[1].http().1.len(), 400);
}

#[test]
fn bad_outputs_and_databases_are_clear_errors_that_keep_what_exists() {
    let (srv, _) = site();
    let s = Scratch::new();
    assert_eq!(crawl_site(&s, srv.port, "a.test", &[]).code, 1);
    // --out into a missing directory
    let missing = s.dir.path().join("no/such/dir/x.warc.gz");
    let (code, err) = export(&s.db(), &missing, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("directory") && err.contains("no/such/dir") && err.contains("does not exist"),
        "{err}"
    );
    // a database that does not exist: refused, nothing created, an existing
    // file at --out left as it was
    let out = s.dir.path().join("keep.warc.gz");
    std::fs::write(&out, b"earlier export").unwrap();
    let nodb = s.dir.path().join("nodb");
    let (code, err) = export(&nodb, &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no database at"), "{err}");
    assert!(!nodb.exists(), "no database is created");
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier export");
    // --out naming a directory
    let (code, err) = export(&s.db(), s.dir.path(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a file name"), "{err}");
    // a bad time
    let (code, err) = export(&s.db(), &out, &["--since", "2026-02-30"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2026-02-30"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier export");
}

#[test]
fn pages_list_shows_the_exchange_with_times_in_the_readers_zone() {
    let (srv, _) = site();
    let s = Scratch::new();
    assert_eq!(crawl_site(&s, srv.port, "a.test", &[]).code, 1);
    let pages = list("pages", &s.db(), &["--tz", "Asia/Shanghai"]);
    let gz = crawl_support::page(&pages, &url("a.test", srv.port, "/gz"));
    let x = &gz["http"];
    assert_eq!(x["status"], 200, "{gz}");
    assert_eq!(x["version"], "HTTP/1.1");
    assert_eq!(x["remote_ip"], "127.0.0.1");
    assert_eq!(x["decoded"], "gzip");
    assert_eq!(x["request_line"], "GET /gz HTTP/1.1");
    let at = x["fetched_at"].as_str().unwrap();
    assert!(at.ends_with("+08:00") && at.len() == 25, "{at}");
    assert!(
        x["response_headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "content-encoding" && h["value"] == "gzip"),
        "the header as received: {x}"
    );
}
