//! One HTTP exchange with limits: connect and total timeouts, a streamed body
//! cap (which is also the decompression cap: the cap counts decoded bytes),
//! the content-type allow-list, and the SSRF guard.
//!
//! The exchange is recorded as it happened ([`HttpExchange`]): the request
//! headers as sent, the status line and response headers as received, the
//! remote address. finscan decodes the content coding itself (gzip, deflate,
//! br) rather than letting the HTTP client do it, because the client's
//! decoder deletes `Content-Encoding` and `Content-Length` from the headers
//! it hands back, and those headers are evidence.
//!
//! The SSRF guard sits in the DNS resolver, so it sees the addresses a
//! connection will really use (no check-then-resolve race), and runs again for
//! every redirect hop because every hop is a new request. URLs that name an
//! IP address skip DNS and are checked by [`check_literal`] before sending.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::store::{HeaderField, HttpExchange};

/// Default cap on a body, after decompression.
pub const DEFAULT_MAX_BODY: usize = 5 * 1024 * 1024;

/// A request refused because its destination is not a public address.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} is {addr}, a {kind} address (use --allow-private to crawl it)")]
pub struct SsrfRefused {
    pub host: String,
    pub addr: IpAddr,
    pub kind: &'static str,
}

/// A host name DNS gave no address for.
#[derive(Debug, thiserror::Error)]
#[error("DNS: {message}")]
pub struct DnsFailed {
    pub host: String,
    pub message: String,
}

/// Whether `host` is under `.invalid`, which never resolves (RFC 6761
/// §6.4): answered at once, without asking a DNS server.
fn never_resolves(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    h == "invalid" || h.ends_with(".invalid")
}

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || o[0] >= 240
                // IETF protocol assignments, benchmarking (RFC 6890, 2544)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
            {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public_kind(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // addresses that carry an IPv4 address a gateway will reach:
            // NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
            // IPv4-compatible ::a.b.c.d
            if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
                // local-use NAT64 (RFC 8215): the network's own translator
                return Some("private");
            }
            let embedded = if s[0] == 0x64 && s[1] == 0xff9b {
                Some(std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ))
            } else if s[0] == 0x2002 {
                Some(std::net::Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                ))
            } else if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                Some(std::net::Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ))
            } else {
                None
            };
            if let Some(v4) = embedded
                && let Some(kind) = non_public_kind(IpAddr::V4(v4))
            {
                return Some(kind);
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("reserved")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("private")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if (s[0] & 0xffc0) == 0xfec0 {
                // deprecated site-local, still routed inside some networks
                Some("private")
            } else {
                None
            }
        }
    }
}

/// Host names mapped to addresses by `--resolve HOST:PORT:ADDR` (curl's
/// syntax). A mapped name may point anywhere, loopback included: naming it
/// is the user's explicit permission.
#[derive(Debug, Clone, Default)]
pub struct ResolveMap {
    /// host → (port named, address, port connected to)
    map: HashMap<String, (u16, IpAddr, u16)>,
}

impl ResolveMap {
    /// Parses one `HOST:PORT:ADDR` (ADDR may be `[v6]`).
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let mut parts = spec.splitn(3, ':');
        let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("--resolve {spec:?}: expected HOST:PORT:ADDR"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("--resolve {spec:?}: bad port {port:?}"))?;
        let addr: IpAddr = addr
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| format!("--resolve {spec:?}: bad address {addr:?}"))?;
        if host.is_empty() {
            return Err(format!("--resolve {spec:?}: empty host"));
        }
        self.map
            .insert(host.to_ascii_lowercase(), (port, addr, port));
        Ok(())
    }

    /// Sends requests for `host:port` to `to`, another port included (curl's
    /// `--connect-to`): `finscan demo` serves its sites on a free port of
    /// 127.0.0.1 while their URLs keep the default port, so that the URLs,
    /// and the pages stored under them, are the same in every run.
    pub fn connect_to(&mut self, host: &str, port: u16, to: SocketAddr) {
        self.map
            .insert(host.to_ascii_lowercase(), (port, to.ip(), to.port()));
    }

    pub fn get(&self, host: &str) -> Option<(u16, IpAddr)> {
        self.map
            .get(&host.to_ascii_lowercase())
            .map(|&(port, addr, _)| (port, addr))
    }

    /// The address a connection to `host` goes to; port 0 means the URL's.
    fn connect_addr(&self, host: &str) -> Option<SocketAddr> {
        let &(port, addr, to) = self.map.get(&host.to_ascii_lowercase())?;
        // a resolved port other than 0 is used when the URL names none
        // (hyper's `set_port`); the URL's own port always wins
        Some(SocketAddr::new(addr, if to == port { 0 } else { to }))
    }
}

/// The resolver: `--resolve` names first, then the system resolver with the
/// SSRF guard applied to every address it returns.
struct GuardedResolver {
    map: ResolveMap,
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        if let Some(addr) = self.map.connect_addr(&host) {
            let addrs: Addrs = Box::new(std::iter::once(addr));
            return Box::pin(async move { Ok(addrs) });
        }
        let allow_private = self.allow_private;
        Box::pin(async move {
            if never_resolves(&host) {
                return Err(Box::new(DnsFailed {
                    host,
                    message: "no such host (.invalid names never resolve)".into(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|a| a.collect::<Vec<SocketAddr>>());
            let addrs = match found {
                Ok(a) => a,
                Err(e) => {
                    return Err(Box::new(DnsFailed {
                        host,
                        message: e.to_string(),
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            };
            if !allow_private
                && let Some(bad) = addrs
                    .iter()
                    .find_map(|a| non_public_kind(a.ip()).map(|k| (a.ip(), k)))
            {
                return Err(Box::new(SsrfRefused {
                    host,
                    addr: bad.0,
                    kind: bad.1,
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL that names a non-public IP address directly.
pub fn check_literal(u: &Url, allow_private: bool) -> Result<(), SsrfRefused> {
    if allow_private {
        return Ok(());
    }
    let ip = match u.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match non_public_kind(ip) {
        Some(kind) => Err(SsrfRefused {
            host: ip.to_string(),
            addr: ip,
            kind,
        }),
        None => Ok(()),
    }
}

/// `--resolve HOST:PORT:ADDR` names one port, as in curl. The resolver sees
/// host names only, so a URL on another port of a mapped host is refused
/// here unless `--allow-private`: otherwise a crawled page could reach every
/// service on the mapped (usually loopback) address.
fn check_resolve_port(url: &Url, map: &ResolveMap, allow_private: bool) -> Result<(), FetchError> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Ok(());
    };
    match map.get(host) {
        Some((mapped, addr)) if mapped != port && !allow_private => Err(FetchError::Refused(
            format!("{host}:{port} is not named by --resolve (only {host}:{mapped} -> {addr})"),
        )),
        _ => Ok(()),
    }
}

/// Fetch limits and identity.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_body: usize,
    pub allow_private: bool,
    pub resolve: ResolveMap,
}

/// Builds the HTTP client: rustls with the ring provider, no redirects
/// (the crawler follows them itself to re-check scope, robots and dedup at
/// every hop), no proxies from the environment, the guarded resolver.
pub fn client(cfg: &FetchConfig) -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.timeout)
        .read_timeout(cfg.timeout)
        .no_proxy()
        // content codings are decoded in `fetch`, so that the headers as
        // received are kept (see the module documentation)
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .pool_max_idle_per_host(8)
        .dns_resolver(Arc::new(GuardedResolver {
            map: cfg.resolve.clone(),
            allow_private: cfg.allow_private,
        }))
        .build()
}

/// Content types finscan reads. Anything else is recorded and skipped
/// without reading its body.
pub fn content_type_allowed(ct: Option<&str>) -> bool {
    let Some(ct) = ct else { return true };
    let mime = crate::text::mime_type(ct);
    mime.is_empty()
        || matches!(
            mime.as_str(),
            "text/html" | "application/xhtml+xml" | "text/plain"
        )
}

/// A response as the crawler needs it.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Body (empty for redirects, skipped content types and 304).
    pub body: Vec<u8>,
    pub truncated: bool,
    /// Content type outside the allow-list: body not read.
    pub skipped_type: bool,
    /// The request and the response's status line and headers (boxed: a
    /// `Fetched` travels by value through the redirect loop).
    pub exchange: Box<HttpExchange>,
}

/// The content codings finscan asks for and decodes.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";
/// The media types finscan asks for (it reads HTML and text).
pub const ACCEPT: &str = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1";

/// Why a fetch produced no response.
#[derive(Debug)]
pub enum FetchError {
    /// The SSRF guard refused the destination: permanent, not retried.
    Refused(String),
    /// Timeout, connection failure, reset: worth retrying later.
    Network(String),
    /// The host name did not resolve: retried like a network error, but
    /// reported once per host (the machine may have no DNS at all).
    Dns(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused(s) | FetchError::Network(s) | FetchError::Dns(s) => f.write_str(s),
        }
    }
}

fn classify(e: &reqwest::Error) -> FetchError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut chain = Vec::new();
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<SsrfRefused>() {
            return FetchError::Refused(r.to_string());
        }
        if let Some(d) = s.downcast_ref::<DnsFailed>() {
            return FetchError::Dns(d.to_string());
        }
        chain.push(s.to_string());
        src = s.source();
    }
    chain.dedup();
    let what = if e.is_timeout() { "timed out: " } else { "" };
    FetchError::Network(format!("{what}{}", chain.join(": ")))
}

/// Sends one GET (conditional when `validators` are given) and reads the body
/// of a 2xx up to the cap, unless `check_type` finds a content type outside
/// the allow-list. Never follows redirects.
pub async fn fetch(
    client: &reqwest::Client,
    cfg: &FetchConfig,
    url: &Url,
    validators: Option<(&Option<String>, &Option<String>)>,
    read_body: bool,
    check_type: bool,
) -> Result<Fetched, FetchError> {
    check_literal(url, cfg.allow_private).map_err(|e| FetchError::Refused(e.to_string()))?;
    check_resolve_port(url, &cfg.resolve, cfg.allow_private)?;
    // Every request header is set here, in the order sent, so that the
    // record of the request is what went over the wire; the client adds
    // only `host`, last (hyper-util, when the request has none).
    let mut headers = reqwest::header::HeaderMap::new();
    let mut put = |name: reqwest::header::HeaderName, value: &str| {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(value) {
            headers.append(name, v);
        }
    };
    put(reqwest::header::USER_AGENT, &cfg.user_agent);
    put(reqwest::header::ACCEPT, ACCEPT);
    put(reqwest::header::ACCEPT_ENCODING, ACCEPT_ENCODING);
    if let Some((etag, lm)) = validators {
        if let Some(e) = etag {
            put(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(l) = lm {
            put(reqwest::header::IF_MODIFIED_SINCE, l);
        }
    }
    let mut request_headers: Vec<HeaderField> = headers
        .iter()
        .map(|(k, v)| HeaderField::new(k.as_str(), v.as_bytes()))
        .collect();
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => String::new(),
    };
    request_headers.push(HeaderField::new("host", authority.as_bytes()));
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let resp = client
        .get(url.clone())
        .headers(headers)
        .send()
        .await
        .map_err(|e| classify(&e))?;
    let h = resp.headers();
    let text = |name: reqwest::header::HeaderName| {
        h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let status = resp.status().as_u16();
    let content_type = text(reqwest::header::CONTENT_TYPE);
    let location = text(reqwest::header::LOCATION);
    let retry_after = text(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v));
    let etag = text(reqwest::header::ETAG);
    let last_modified = text(reqwest::header::LAST_MODIFIED);
    let coding = h
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(Coding::named);
    // the client keeps a reason phrase only when it is not the standard one
    let reason = match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        None => resp.status().canonical_reason().unwrap_or("").to_owned(),
    };
    let exchange = Box::new(HttpExchange {
        fetched_at: crate::store::now_rfc3339(),
        url: url.to_string(),
        request_line: format!("GET {target} HTTP/1.1"),
        request_headers,
        version: format!("{:?}", resp.version()),
        status,
        reason,
        response_headers: h
            .iter()
            .map(|(k, v)| HeaderField::new(k.as_str(), v.as_bytes()))
            .collect(),
        remote_ip: resp.remote_addr().map(|a| a.ip().to_string()),
        decoded: None,
    });
    let mut out = Fetched {
        status,
        content_type,
        location,
        retry_after,
        etag,
        last_modified,
        body: Vec::new(),
        truncated: false,
        skipped_type: false,
        exchange,
    };
    let wants_body = read_body && (200..300).contains(&status);
    if !wants_body {
        return Ok(out);
    }
    if check_type && !content_type_allowed(out.content_type.as_deref()) {
        out.skipped_type = true;
        return Ok(out);
    }
    out.exchange.decoded = coding.map(|c| c.name().to_owned());
    let mut sink = Decoder::new(coding, cfg.max_body);
    let mut stream = resp.bytes_stream();
    let mut failed = None;
    let mut coded_bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(&e))?;
        coded_bytes += chunk.len();
        if let Err(e) = sink.write(&chunk) {
            failed = Some(e);
            break;
        }
    }
    // Stop reading at the cap: dropping the stream closes the connection.
    drop(stream);
    if coded_bytes == 0 {
        // an empty body is empty in every coding (a decoder would miss its
        // trailer), as HTTP clients treat it
        out.body = Vec::new();
        return Ok(out);
    }
    let (body, over, finished) = sink.finish();
    if over {
        out.truncated = true;
    } else if let Some(e) = failed.or(finished.err()) {
        let name = coding.map_or("identity", Coding::name);
        return Err(FetchError::Network(format!(
            "body of {url} is not valid {name} data: {e}"
        )));
    }
    out.body = body;
    Ok(out)
}

/// A content coding finscan decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped (RFC 9110 §8.4.1.2).
    Deflate,
    Brotli,
}

impl Coding {
    /// The coding named by a `Content-Encoding` value; `None` for identity,
    /// for a list of codings and for codings finscan does not ask for (the
    /// body is then stored as received).
    pub fn named(value: &str) -> Option<Coding> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            "deflate" => Some(Coding::Deflate),
            "br" => Some(Coding::Brotli),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// The body as it is read: at most `cap` bytes kept; a byte past the cap
/// fails the write, which stops a decoder before it inflates further.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let room = self.cap - self.buf.len();
        if b.len() > room {
            self.buf.extend_from_slice(&b[..room]);
            self.over = true;
            return Err(std::io::Error::other("body cap reached"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Undoes the content coding chunk by chunk into a [`Capped`] body.
enum Decoder {
    Identity(Capped),
    Gzip(Box<flate2::write::MultiGzDecoder<Capped>>),
    Deflate(Box<flate2::write::ZlibDecoder<Capped>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Capped>>),
}

impl Decoder {
    fn new(coding: Option<Coding>, cap: usize) -> Decoder {
        let sink = Capped {
            buf: Vec::new(),
            cap,
            over: false,
        };
        match coding {
            None => Decoder::Identity(sink),
            Some(Coding::Gzip) => Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            Some(Coding::Deflate) => {
                Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(sink)))
            }
            Some(Coding::Brotli) => Decoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(sink, 8192),
            )),
        }
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Identity(c) => c.write_all(chunk),
            Decoder::Gzip(d) => d.write_all(chunk),
            Decoder::Deflate(d) => d.write_all(chunk),
            Decoder::Brotli(d) => d.write_all(chunk),
        }
    }

    /// Ends the stream: the body, whether the cap cut it, and whether the
    /// coded stream was complete and valid.
    fn finish(self) -> (Vec<u8>, bool, std::io::Result<()>) {
        let take = |c: &mut Capped| (std::mem::take(&mut c.buf), c.over);
        match self {
            Decoder::Identity(mut c) => {
                let (b, over) = take(&mut c);
                (b, over, Ok(()))
            }
            Decoder::Gzip(mut d) => {
                let r = d.try_finish();
                let (b, over) = take(d.get_mut());
                (b, over, r)
            }
            Decoder::Deflate(mut d) => {
                let r = d.try_finish();
                let (b, over) = take(d.get_mut());
                (b, over, r)
            }
            Decoder::Brotli(d) => match d.into_inner() {
                Ok(mut c) => {
                    let (b, over) = take(&mut c);
                    (b, over, Ok(()))
                }
                Err(mut c) => {
                    let (b, over) = take(&mut c);
                    (
                        b,
                        over,
                        Err(std::io::Error::other("incomplete brotli stream")),
                    )
                }
            },
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let t = httpdate::parse_http_date(v).ok()?;
    Some(
        t.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_in_ipv6_and_special_ranges_are_not_public() {
        for a in [
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.1",
            "192.0.0.8",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(non_public_kind(ip).is_some(), "{a} is not public");
        }
        for a in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "198.20.0.1",
            "2400:3200::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(non_public_kind(ip), None, "{a} is public");
        }
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "reserved"),
            ("::1", "loopback"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
        ] {
            assert_eq!(non_public_kind(ip.parse().unwrap()), Some(kind), "{ip}");
        }
        assert_eq!(non_public_kind("8.8.8.8".parse().unwrap()), None);
        assert_eq!(non_public_kind("2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn literal_private_urls_are_refused_unless_allowed() {
        let u = Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(check_literal(&u, false).is_err());
        assert!(check_literal(&u, true).is_ok());
        assert!(check_literal(&Url::parse("http://a.cn/").unwrap(), false).is_ok());
    }

    #[test]
    fn resolve_specs_parse_like_curl() {
        let mut m = ResolveMap::default();
        m.add("a.test:8080:127.0.0.1").unwrap();
        m.add("b.test:80:[::1]").unwrap();
        assert_eq!(m.get("A.TEST"), Some((8080, "127.0.0.1".parse().unwrap())));
        assert_eq!(m.get("b.test").unwrap().1, "::1".parse::<IpAddr>().unwrap());
        assert!(m.add("nope").is_err());
        assert!(m.add("a:x:127.0.0.1").is_err());
        assert!(m.add("a:1:notanip").is_err());
    }

    #[test]
    fn content_type_allow_list() {
        assert!(content_type_allowed(Some("text/html; charset=gbk")));
        assert!(content_type_allowed(Some("text/plain")));
        assert!(content_type_allowed(None));
        assert!(!content_type_allowed(Some("application/pdf")));
        assert!(!content_type_allowed(Some("image/png")));
    }

    fn decode(coding: Option<Coding>, data: &[u8], cap: usize) -> (Vec<u8>, bool, bool) {
        let mut d = Decoder::new(coding, cap);
        // in small chunks, as the network delivers them
        let mut failed = false;
        for c in data.chunks(7) {
            if d.write(c).is_err() {
                failed = true;
                break;
            }
        }
        let (body, over, r) = d.finish();
        (body, over, !over && (failed || r.is_err()))
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn codings_decode_under_the_cap_of_decoded_bytes() {
        let plain = vec![b'a'; 10_000];
        let (body, over, bad) = decode(Some(Coding::Gzip), &gz(&plain), 20_000);
        assert_eq!((body.len(), over, bad), (10_000, false, false));
        let (body, over, _) = decode(Some(Coding::Gzip), &gz(&plain), 1_000);
        assert_eq!((body.len(), over), (1_000, true));
        let (body, over, _) = decode(Some(Coding::Gzip), &gz(&plain), 10_000);
        assert_eq!(
            (body.len(), over),
            (10_000, false),
            "exactly the cap is whole"
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&plain).unwrap();
        let (body, over, bad) = decode(Some(Coding::Deflate), &z.finish().unwrap(), 20_000);
        assert_eq!((body, over, bad), (plain.clone(), false, false));
        let two = [gz(b"abc"), gz(b"def")].concat();
        let (body, _, bad) = decode(Some(Coding::Gzip), &two, 100);
        assert_eq!(
            (body.as_slice(), bad),
            (&b"abcdef"[..], false),
            "gzip members"
        );
        let (body, over, bad) = decode(None, &plain, 4_000);
        assert_eq!((body.len(), over, bad), (4_000, true, false));
    }

    #[test]
    fn a_body_that_is_not_its_coding_is_an_error() {
        let (_, over, bad) = decode(Some(Coding::Gzip), b"<html>not gzip</html>", 1_000);
        assert!(bad && !over);
        let (_, over, bad) = decode(Some(Coding::Brotli), &gz(b"x"), 1_000);
        assert!(bad && !over);
        let cut = gz(&[b'a'; 5_000]);
        let (_, _, bad) = decode(Some(Coding::Gzip), &cut[..cut.len() / 2], 100_000);
        assert!(bad, "a stream cut short is not a whole body");
    }

    #[test]
    fn content_encoding_names() {
        assert_eq!(Coding::named(" GZIP "), Some(Coding::Gzip));
        assert_eq!(Coding::named("x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::named("br"), Some(Coding::Brotli));
        assert_eq!(Coding::named("deflate"), Some(Coding::Deflate));
        assert_eq!(Coding::named("identity"), None);
        assert_eq!(
            Coding::named("gzip, br"),
            None,
            "stacked codings are stored as received"
        );
        assert_eq!(Coding::named("zstd"), None);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
