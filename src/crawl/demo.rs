//! The sample platform sites served by `finscan demo`: fictional hosts under
//! the reserved `.example` domain (RFC 2606), so no real company is named.
//! Two are GBK-encoded (one declares its charset only in `<meta>`, as many
//! Chinese sites of the period did), each has a robots.txt, footers carry ICP
//! and public-security filing numbers and the operator, and the pages mix
//! forbidden promotion (保本保息, 本息保障, 年化收益率高达18%, 资金池,
//! 注册送体验金) with clean pages and a negated notice (严禁承诺保本保息).
//!
//! [`Variant::Rectified`] serves the same sites after their operator acted
//! on a rectification notice (`demo/rectified/HOST/PATH`): the lending
//! products page no longer runs a fund pool (rectified), the front page
//! dropped its sign-up bonus and 18% banner but still promises 本息保障 and
//! 保本保息 (persisting), and the mobile site's invitation page is gone
//! (404, while the mobile front page still links to it): a page that
//! disappears is recorded as a failed recheck, never as rectified.

use std::sync::Arc;

use super::loopback::{Handler, Response};

/// One file of a demo site.
#[derive(Debug, Clone, Copy)]
pub struct DemoFile {
    pub host: &'static str,
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every file of every demo site (`demo/HOST/PATH` in the repository).
pub const FILES: &[DemoFile] = &[
    DemoFile {
        host: "m.hengxin-licai.example",
        path: "/index.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/m.hengxin-licai.example/index.html"),
    },
    DemoFile {
        host: "m.hengxin-licai.example",
        path: "/invite.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/m.hengxin-licai.example/invite.html"),
    },
    DemoFile {
        host: "m.hengxin-licai.example",
        path: "/robots.txt",
        content_type: "text/plain",
        body: include_bytes!("../../demo/m.hengxin-licai.example/robots.txt"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/about.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/www.anbao-insurance.example/about.html"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/brochure.pdf",
        content_type: "application/pdf",
        body: include_bytes!("../../demo/www.anbao-insurance.example/brochure.pdf"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/index.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/www.anbao-insurance.example/index.html"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/product/jiankang.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/www.anbao-insurance.example/product/jiankang.html"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/product/wannengxian.html",
        content_type: "text/html",
        body: include_bytes!("../../demo/www.anbao-insurance.example/product/wannengxian.html"),
    },
    DemoFile {
        host: "www.anbao-insurance.example",
        path: "/robots.txt",
        content_type: "text/plain",
        body: include_bytes!("../../demo/www.anbao-insurance.example/robots.txt"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/about.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/about.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/admin/login.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/admin/login.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/help/faq.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/help/faq.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/index.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/news/notice-2016.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/news/notice-2016.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/products.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.hengxin-licai.example/products.html"),
    },
    DemoFile {
        host: "www.hengxin-licai.example",
        path: "/robots.txt",
        content_type: "text/plain",
        body: include_bytes!("../../demo/www.hengxin-licai.example/robots.txt"),
    },
    DemoFile {
        host: "www.qingshan-shop.example",
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.qingshan-shop.example/index.html"),
    },
    DemoFile {
        host: "www.qingshan-shop.example",
        path: "/pay.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.qingshan-shop.example/pay.html"),
    },
    DemoFile {
        host: "www.qingshan-shop.example",
        path: "/robots.txt",
        content_type: "text/plain",
        body: include_bytes!("../../demo/www.qingshan-shop.example/robots.txt"),
    },
    DemoFile {
        host: "www.qingshan-shop.example",
        path: "/tea/longjing.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../demo/www.qingshan-shop.example/tea/longjing.html"),
    },
];

/// Which version of the demo sites is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// The sites as first crawled.
    #[default]
    Original,
    /// The sites after their operator rectified some of them ([`RECTIFIED`]).
    Rectified,
}

/// A file of the rectified sites: replaces the file of the same host and
/// path, or, with no body, takes that page down (404).
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub host: &'static str,
    pub path: &'static str,
    pub body: Option<&'static [u8]>,
}

/// What the operator changed for [`Variant::Rectified`]; every other file
/// is served as in [`FILES`].
pub const RECTIFIED: &[Change] = &[
    Change {
        host: "www.hengxin-licai.example",
        path: "/index.html",
        body: Some(include_bytes!(
            "../../demo/rectified/www.hengxin-licai.example/index.html"
        )),
    },
    Change {
        host: "www.hengxin-licai.example",
        path: "/products.html",
        body: Some(include_bytes!(
            "../../demo/rectified/www.hengxin-licai.example/products.html"
        )),
    },
    Change {
        host: "m.hengxin-licai.example",
        path: "/invite.html",
        body: None,
    },
];

/// The body served for `host` and `path` (`/index.html` for `/`) in
/// `variant`, with its content type; `None`: not found.
pub fn file(variant: Variant, host: &str, path: &str) -> Option<(&'static str, &'static [u8])> {
    let f = FILES.iter().find(|f| f.host == host && f.path == path)?;
    if variant == Variant::Rectified
        && let Some(c) = RECTIFIED.iter().find(|c| c.host == host && c.path == path)
    {
        return c.body.map(|b| (f.content_type, b));
    }
    Some((f.content_type, f.body))
}

/// The demo's seed URLs are the front pages of these hosts.
pub const SEED_HOSTS: &[&str] = &[
    "www.hengxin-licai.example",
    "www.anbao-insurance.example",
    "www.qingshan-shop.example",
];

/// Hosts of the demo sites.
pub fn hosts() -> Vec<&'static str> {
    let mut h: Vec<&str> = FILES.iter().map(|f| f.host).collect();
    h.dedup();
    h
}

/// HTML bodies from this size on are sent gzip-compressed to a client that
/// accepts it, as web servers do (nginx's `gzip_min_length`): the demo's
/// crawl, and the WARC exported from it, then hold both kinds of response.
const GZIP_FROM: usize = 512;

/// Serves [`FILES`] (as `variant` has them, see [`file`]) by `Host`
/// header and path (`/` is `/index.html`). The pages link to each other by
/// host name alone: the demo's URLs carry no port, whatever port the
/// server was given (`ResolveMap::connect_to`).
pub fn handler(variant: Variant) -> Handler {
    Arc::new(move |req| {
        let path = match req.path() {
            "/" => "/index.html",
            p => p,
        };
        file(variant, &req.host, path)
            .map(|(content_type, body)| {
                let body = body.to_vec();
                let gzip = content_type.starts_with("text/html")
                    && body.len() >= GZIP_FROM
                    && req
                        .header("accept-encoding")
                        .is_some_and(|a| a.split(',').any(|c| c.trim() == "gzip"));
                match gzip.then(|| gzip_bytes(&body)).flatten() {
                    Some(z) => Response::bytes(content_type, z)
                        .header("Content-Encoding", "gzip")
                        .header("Vary", "Accept-Encoding"),
                    None => Response::bytes(content_type, body),
                }
            })
            .unwrap_or_else(Response::not_found)
    })
}

fn gzip_bytes(b: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).ok()?;
    e.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_of_the_rectified_sites_is_a_file_of_the_original() {
        for c in RECTIFIED {
            assert!(
                file(Variant::Original, c.host, c.path).is_some(),
                "{}{}",
                c.host,
                c.path
            );
            let rectified = file(Variant::Rectified, c.host, c.path).map(|f| f.1);
            assert_eq!(rectified, c.body, "{}{}", c.host, c.path);
        }
        // one page is taken down, the others are served as they were
        assert!(RECTIFIED.iter().any(|c| c.body.is_none()));
        let unchanged = file(
            Variant::Rectified,
            "www.qingshan-shop.example",
            "/index.html",
        );
        assert_eq!(
            unchanged,
            file(
                Variant::Original,
                "www.qingshan-shop.example",
                "/index.html"
            )
        );
        assert_eq!(
            file(Variant::Rectified, "www.qingshan-shop.example", "/no"),
            None
        );
    }
}
