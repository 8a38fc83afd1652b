//! The periodic report (plan §四（三）–（四）: the leading group's summary of
//! the rectification): one self-contained HTML file with its charts drawn as
//! inline SVG by `plotters`, no script and no reference outside the file, so
//! that it opens offline and can be mailed or printed as it is.
//!
//! [`ReportData`] is what the report shows; whoever holds the findings (the
//! review layer, the server) fills it, and [`write_html`] renders it.

use std::io::{self, Write};

use plotters::prelude::*;

use crate::rules::Severity;
use crate::time::{Timestamp, Zone};

/// One labelled count (a category, a county, a status, a day).
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    pub label: String,
    pub count: u64,
}

impl Count {
    pub fn new(label: impl Into<String>, count: u64) -> Count {
        Count {
            label: label.into(),
            count,
        }
    }
}

/// A site in the table of the sites with the most findings.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    /// Registrable domain (网站域名).
    pub site: String,
    /// Operator as read from the site (主办单位), if any.
    pub operator: Option<String>,
    /// ICP filing number (ICP备案号), if any.
    pub icp: Option<String>,
    pub findings: u64,
    /// Worst severity of the site's findings.
    pub worst: Severity,
}

/// Everything the report shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    pub title: String,
    /// The period covered: from (if limited) …
    pub since: Option<Timestamp>,
    /// … to the time the report was made.
    pub generated_at: Option<Timestamp>,
    pub by_category: Vec<Count>,
    pub by_county: Vec<Count>,
    pub by_status: Vec<Count>,
    /// New findings per period (a day or a week), in time order.
    pub over_time: Vec<Count>,
    pub top_sites: Vec<SiteRow>,
    /// Findings whose owner was notified (通知整改) …
    pub notified: u64,
    /// … of which the recheck found rectified (已整改) …
    pub rectified: u64,
    /// … or still there (仍未整改).
    pub persisting: u64,
}

impl ReportData {
    /// Rectified among the notified findings whose recheck decided, as a
    /// percentage; `None` before any recheck.
    pub fn rectification_rate(&self) -> Option<f64> {
        let decided = self.rectified + self.persisting;
        (decided > 0).then(|| self.rectified as f64 * 100.0 / decided as f64)
    }
}

/// Writes the report as one HTML document.
pub fn write_html(data: &ReportData, zone: &Zone, out: &mut impl Write) -> io::Result<()> {
    let title = if data.title.is_empty() {
        "互联网金融风险专项整治 监测报告"
    } else {
        data.title.as_str()
    };
    let period = match (data.since, data.generated_at) {
        (Some(s), Some(g)) => format!("{} 至 {}", zone.human(s), zone.human(g)),
        (None, Some(g)) => format!("截至 {}", zone.human(g)),
        (Some(s), None) => format!("自 {}", zone.human(s)),
        (None, None) => String::new(),
    };
    let total: u64 = data.by_status.iter().map(|c| c.count).sum();
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n\
         <h1>{t}</h1><p class=\"meta\">{p}（时区 {z}） · finscan {v}</p>\n",
        t = escape(title),
        p = escape(&period),
        z = escape(zone.name()),
        v = env!("CARGO_PKG_VERSION"),
    )?;
    let rate = data
        .rectification_rate()
        .map_or("—".to_string(), |r| format!("{r:.1}%"));
    writeln!(
        out,
        "<section class=\"kpi\"><div><b>{total}</b>发现问题</div>\
         <div><b>{}</b>已通知整改</div><div><b>{}</b>已整改</div>\
         <div><b>{}</b>仍未整改</div><div><b>{rate}</b>整改率</div></section>",
        data.notified, data.rectified, data.persisting
    )?;
    for (id, heading, counts) in [
        ("category", "按违规类型", &data.by_category),
        ("county", "按区县", &data.by_county),
        ("status", "按处理状态", &data.by_status),
    ] {
        write!(out, "<section><h2>{heading}</h2>")?;
        if counts.is_empty() {
            write!(out, "<p class=\"none\">无数据</p>")?;
        } else {
            out.write_all(bar_chart(counts).map_err(io::Error::other)?.as_bytes())?;
            count_table(out, id, counts)?;
        }
        writeln!(out, "</section>")?;
    }
    write!(out, "<section><h2>新发现问题（按时间）</h2>")?;
    if data.over_time.is_empty() {
        write!(out, "<p class=\"none\">无数据</p>")?;
    } else {
        out.write_all(
            time_chart(&data.over_time)
                .map_err(io::Error::other)?
                .as_bytes(),
        )?;
        count_table(out, "time", &data.over_time)?;
    }
    writeln!(out, "</section>")?;
    write!(
        out,
        "<section><h2>问题最多的网站</h2><table><thead><tr><th>序号</th><th>域名</th>\
         <th>主办单位</th><th>ICP备案号</th><th>问题数</th><th>最高严重程度</th></tr></thead><tbody>"
    )?;
    for (i, s) in data.top_sites.iter().enumerate() {
        write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            i + 1,
            escape(&s.site),
            escape(s.operator.as_deref().unwrap_or("—")),
            escape(s.icp.as_deref().unwrap_or("—")),
            s.findings,
            s.worst.label_zh()
        )?;
    }
    writeln!(out, "</tbody></table></section>\n</body></html>")
}

/// A chart's figures as a table, folded under it (no script: `<details>`),
/// for whoever needs the exact numbers or reads the file with a program;
/// `data-chart` names the chart.
fn count_table(out: &mut impl Write, id: &str, counts: &[Count]) -> io::Result<()> {
    write!(
        out,
        "<details><summary>数据</summary><table class=\"counts\" data-chart=\"{id}\"><tbody>"
    )?;
    for c in counts {
        write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&c.label),
            c.count
        )?;
    }
    write!(out, "</tbody></table></details>")
}

const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;\
margin:2em auto;max-width:60em;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;\
border-bottom:1px solid #ccc}.meta{color:#666}.kpi{display:flex;gap:1em}\
.kpi div{border:1px solid #ddd;padding:.6em 1em;border-radius:4px}.kpi b{display:block;\
font-size:1.6em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;\
padding:.3em .5em;text-align:left}.n{text-align:right}.none{color:#888}svg{max-width:100%}\
details{margin:.3em 0 1em}summary{color:#666;cursor:pointer}.counts{width:auto}";

/// HTML text: the five characters with a meaning in markup are escaped
/// (site names and operators come from the web).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

type ChartResult = Result<String, Box<dyn std::error::Error + Send + Sync>>;

/// A horizontal bar chart, one bar per count, largest first as given.
fn bar_chart(counts: &[Count]) -> ChartResult {
    let rows = counts.len().max(1);
    let height = 40 + 26 * rows as u32;
    let max = counts.iter().map(|c| c.count).max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(170)
            .build_cartesian_2d(0u64..max + max / 10 + 1, (0..rows).into_segmented())?;
        let labels: Vec<String> = counts.iter().map(|c| c.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows)
            .y_label_formatter(&|v| match v {
                // the first count on top: segment 0 is at the bottom
                SegmentValue::CenterOf(i) => labels
                    .get(rows.wrapping_sub(1).wrapping_sub(*i))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 13))
            .draw()?;
        let row = |i: usize| rows - 1 - i;
        chart.draw_series(counts.iter().enumerate().map(|(i, c)| {
            let mut bar = Rectangle::new(
                [
                    (0, SegmentValue::Exact(row(i))),
                    (c.count, SegmentValue::Exact(row(i) + 1)),
                ],
                RGBColor(52, 101, 164).filled(),
            );
            // a gap between bars
            bar.set_margin(4, 4, 0, 0);
            bar
        }))?;
        chart.draw_series(counts.iter().enumerate().map(|(i, c)| {
            Text::new(
                format!(" {}", c.count),
                (c.count, SegmentValue::CenterOf(row(i))),
                ("sans-serif", 12),
            )
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// New findings per period as a line over the periods' labels.
fn time_chart(counts: &[Count]) -> ChartResult {
    let n = counts.len();
    let max = counts.iter().map(|c| c.count).max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 260)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0..n.max(1), 0u64..max + max / 10 + 1)?;
        let labels: Vec<String> = counts.iter().map(|c| c.label.clone()).collect();
        chart
            .configure_mesh()
            .x_labels(n.min(8))
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .label_style(("sans-serif", 12))
            .draw()?;
        chart.draw_series(LineSeries::new(
            counts.iter().enumerate().map(|(i, c)| (i, c.count)),
            RGBColor(204, 0, 0).stroke_width(2),
        ))?;
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .map(|(i, c)| Circle::new((i, c.count), 3, RGBColor(204, 0, 0).filled())),
        )?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReportData {
        ReportData {
            title: String::new(),
            since: Some("2026-11-01T00:00:00Z".parse().unwrap()),
            generated_at: Some("2026-12-06T00:00:00Z".parse().unwrap()),
            by_category: vec![Count::new("承诺保本保息", 12), Count::new("设立资金池", 5)],
            by_county: vec![Count::new("汉滨区", 9), Count::new("旬阳市", 3)],
            by_status: vec![Count::new("已确认", 7), Count::new("待审核", 10)],
            over_time: vec![
                Count::new("11-01", 3),
                Count::new("11-08", 8),
                Count::new("11-15", 6),
            ],
            top_sites: vec![SiteRow {
                site: "evil<script>.example".into(),
                operator: Some("某某投资管理有限公司".into()),
                icp: None,
                findings: 12,
                worst: Severity::High,
            }],
            notified: 6,
            rectified: 3,
            persisting: 1,
        }
    }

    fn html(d: &ReportData) -> String {
        let mut out = Vec::new();
        write_html(d, &Zone::named("Asia/Shanghai").unwrap(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_report_is_one_self_contained_file_with_its_charts() {
        let h = html(&sample());
        // four charts, inline
        assert_eq!(h.matches("<svg").count(), 4, "{h}");
        for label in ["承诺保本保息", "汉滨区", "已确认", "11-08"] {
            assert!(h.contains(label), "{label}");
        }
        // nothing to fetch and nothing to run
        assert!(!h.contains("<script"));
        // the only URL is the SVG namespace, a name that is never fetched
        let urls = h.matches("http").count();
        assert_eq!(
            urls,
            h.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
            "{h}"
        );
        for fetching in [" src=", "<link", "href=", "url(", "@import"] {
            assert!(!h.contains(fetching), "{fetching}");
        }
        // the period in the reader's zone, the rate of the decided rechecks
        assert!(h.contains("2026-11-01 08:00:00 至 2026-12-06 08:00:00"));
        assert!(h.contains("75.0%"));
    }

    #[test]
    fn names_from_the_web_are_escaped() {
        let h = html(&sample());
        assert!(h.contains("evil&lt;script&gt;.example"));
    }

    #[test]
    fn an_empty_report_still_renders() {
        let h = html(&ReportData::default());
        assert!(h.contains("无数据"));
        assert!(h.contains("<td") || h.contains("</tbody>"));
        assert_eq!(ReportData::default().rectification_rate(), None);
    }
}
