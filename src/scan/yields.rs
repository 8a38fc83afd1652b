//! The yield detector: returns as people state them, normalized to a simple
//! annual rate so that one threshold (plan §五（四）: 显失合理的超高回报率)
//! applies to all.
//!
//! Three readings, all over normalized text:
//! * **after a keyword** (年化收益率高达18%, 月息两分, 日息万分之六, 年化9%+加息3%,
//!   8.00%年化收益 with the figure before its caption);
//! * **money earned on a principal** (每万元每月收益150元 = 18 %,
//!   存满两万每月到手三百 = 18 %, 五万块放一年能拿九千 = 18 %);
//! * **a product table**: a rate in the column whose header names the yield
//!   (see [`table_rates`]).
//!
//! Numbers are read by [`super::numbers`] (Chinese numerals, fractions,
//! ranges: the upper end of a range counts, as a platform's "up to" does).

use super::numbers::{self, Period, Quantity};
use crate::rules::NumberKind;
use crate::text::Normalized;

/// How many characters may stand between a keyword and its number
/// (高达, 最高可达, 为, 约, 算下来).
const MAX_LEAD_CHARS: usize = 10;

/// How many characters may stand between a rate and a keyword that follows it
/// (预期 in `8%预期年化`).
const MAX_TRAIL_CHARS: usize = 2;

/// A stated rate found after a keyword.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatedRate {
    /// Start of the number (after the lead: 高达, 为).
    pub number: usize,
    /// End (exclusive, normalized byte offset) of the rate as written.
    pub end: usize,
    /// The rate as a simple annual percentage (a boost included).
    pub annual_percent: f64,
}

/// Reads the rate that follows a keyword ending at `from` in normalized text.
///
/// Accepts percentages in every notation ([`numbers::read_percent`]), the
/// lending idiom `N分` / `N厘` ([`numbers::read_idiom`]), a period written in
/// the lead (收益率每天0.05%), and a boost after the rate (`+2%`, `加息3%`,
/// with a word of `boost_words`), which adds to it. A lead that starts
/// with 的 (收益的20%) names a share of the keyword, not a rate. Returns
/// `None` when no number follows closely or it has no unit.
pub fn read_rate(
    text: &str,
    from: usize,
    period: Period,
    boost_words: &[String],
) -> Option<StatedRate> {
    let rest = &text[from..];
    if rest.starts_with('的') {
        return None;
    }
    let mut period = period;
    let mut num_start = None;
    for (n, (i, c)) in rest.char_indices().enumerate() {
        if n > MAX_LEAD_CHARS {
            return None;
        }
        let at = from + i;
        if numbers::starts_number(c)
            || ["百分之", "千分之", "万分之"]
                .iter()
                .any(|p| text[at..].starts_with(p))
        {
            num_start = Some(at);
            break;
        }
        if let Some(p) = Period::of_char(c) {
            period = p;
        }
        // a product code (鸿泰月月息 HT1702) is no lead to a rate
        if c.is_ascii_alphabetic() {
            return None;
        }
    }
    let at = num_start?;
    let (percent, end) = rate_at(text, at, period)?;
    let mut annual = percent * period.per_year();
    let mut end = end;
    if let Some((boost, e)) = boost_after(text, end, period, boost_words) {
        annual += boost;
        end = e;
    }
    Some(StatedRate {
        number: at,
        end,
        annual_percent: annual,
    })
}

/// A rate for `period` at `at`: a percentage, or the lending idiom.
fn rate_at(text: &str, at: usize, period: Period) -> Option<(f64, usize)> {
    // 收益百分之百有保障 says "fully", not a rate of 100 %
    if text[at..].starts_with("百分之百") {
        return None;
    }
    if let Some(p) = numbers::read_percent(text, at) {
        return Some((p.value, p.end));
    }
    let (v, e) = numbers::read_idiom(text, at, period)?;
    // the idiom is in percent for the period already: back to per period
    Some((v, e)).filter(|_| period != Period::Day)
}

/// A boost right after a rate: `+2%`, `+加息3%`, `加息0.5分`, `另加1%`.
/// Returns the boost as an annual percentage and its end.
fn boost_after(
    text: &str,
    end: usize,
    period: Period,
    boost_words: &[String],
) -> Option<(f64, usize)> {
    let rest = &text[end..];
    let mut p = end;
    if rest.starts_with('+') {
        p += 1;
    }
    let mut worded = false;
    for w in boost_words {
        if text[p..].starts_with(w.as_str()) {
            p += w.len();
            worded = true;
            break;
        }
    }
    if p == end {
        return None;
    }
    // a word or two between 加息 and its number (加息券再加2%) is not read
    let c = text[p..].chars().next()?;
    if !(numbers::starts_number(c) || text[p..].starts_with("百分之")) {
        return None;
    }
    let (v, e) = rate_at(text, p, period)?;
    let _ = worded;
    Some((v * period.per_year(), e))
}

/// Reads a rate written just before its keyword, as mobile pages set a big
/// figure over its caption (`8.00%年化收益`, `11.00% 预期年化`). Only `%` rates,
/// at most [`MAX_TRAIL_CHARS`] characters between the `%` and the keyword.
/// Returns the start of the number and the rate.
pub fn read_rate_before(text: &str, keyword_start: usize, period: Period) -> Option<(usize, f64)> {
    let before = &text[..keyword_start];
    let mut pct = None;
    for (n, (i, c)) in before.char_indices().rev().enumerate() {
        if c == '%' {
            pct = Some(i);
            break;
        }
        if n >= MAX_TRAIL_CHARS || c.is_ascii_digit() {
            return None;
        }
    }
    let pct = pct?;
    let b = before.as_bytes();
    let mut start = pct;
    while start > 0 && (b[start - 1].is_ascii_digit() || b[start - 1] == b'.') {
        start -= 1;
    }
    while start < pct && b[start] == b'.' {
        start += 1;
    }
    let p = numbers::read_percent(before, start)?;
    if p.end != pct + 1 {
        return None;
    }
    Some((start, p.value * period.per_year()))
}

/// The lending idiom with the number before it: 三分利, 两分的利, 2分息 is
/// 2–3 % a month, 八厘息 0.8 % a month. `keyword_start` is where the idiom
/// word (分利, 分的利, 厘息 …) starts; the number right before it, one to
/// five 分 (十分利好 is "very favourable", not 10 % a month) or one to nine
/// 厘. Returns the number's start and the annual percentage.
pub fn idiom_before(text: &str, keyword_start: usize, keyword: &str) -> Option<(usize, f64)> {
    let per_unit = if keyword.starts_with('分') {
        1.0
    } else if keyword.starts_with('厘') {
        0.1
    } else {
        return None;
    };
    let (i, c) = text[..keyword_start].char_indices().next_back()?;
    if !numbers::starts_number(c) {
        return None;
    }
    // the number is one character: a digit before it would make it another
    // (十三分利 is no idiom)
    if text[..i]
        .chars()
        .next_back()
        .is_some_and(numbers::starts_number)
    {
        return None;
    }
    let (v, e) = numbers::read_number(text, i)?;
    let max = if per_unit == 1.0 { 5.0 } else { 9.0 };
    if e != keyword_start || !(1.0..=max).contains(&v) {
        return None;
    }
    Some((i, v * per_unit * 12.0))
}

/// Principals written without a number: 每万元 is 10,000 yuan.
const IMPLICIT_PRINCIPALS: &[(&str, f64)] = &[
    ("每万元", 10_000.0),
    ("每万块", 10_000.0),
    ("每千元", 1_000.0),
    ("每千块", 1_000.0),
    ("每百元", 100.0),
    ("每一万", 10_000.0),
    ("每万", 10_000.0),
    ("每千", 1_000.0),
];

/// Words before an amount that make it a principal (投一万, 满一万, 存5万).
const PRINCIPAL_LEADS: &[char] = &['每', '满', '投', '存', '买', '出', '借', '交', '认', '入'];

/// The same, in words: 本金5万, 投资10万元, 出借2万.
const PRINCIPAL_WORDS: &[&str] = &[
    "本金", "投资", "出借", "存入", "认购", "买入", "购买", "投入", "本钱",
];

/// Leads and words that put money in to earn on it: a principal so led
/// (投五万, 存入2万, 本金10万, 一万块放进来) states an investment by itself.
const INVESTED_LEADS: &[char] = &['投', '存'];
const INVESTED_WORDS: &[&str] = &["本金", "投资", "出借", "存入", "认购", "投入", "本钱"];
const INVESTED_AFTER: &[&str] = &[
    "本金", "放进", "存进", "投进", "放在", "存在", "投到", "放到",
];

/// Gain words that count the principal in (本息11800 on 10,000 lent).
const TOTAL_WORDS: &[&str] = &["本息", "连本带利", "本利", "合计", "一共", "变"];

/// Period words with how many of them make a year: 每月 12, 一年 1, 两年后
/// ½ (a gain over two years is half of it a year).
const PERIOD_WORDS: &[(&str, f64)] = &[
    ("每个月", 12.0),
    ("一个月", 12.0),
    ("每月", 12.0),
    ("按月", 12.0),
    ("月收益", 12.0),
    ("每年", 1.0),
    ("一年", 1.0),
    ("年收益", 1.0),
    ("每天", 365.0),
    ("每日", 365.0),
    ("一天", 365.0),
    ("日收益", 365.0),
    ("每周", 52.0),
    ("每季", 4.0),
    ("半年", 2.0),
    ("两年", 0.5),
    ("二年", 0.5),
    ("2年", 0.5),
    ("三年", 1.0 / 3.0),
    ("3年", 1.0 / 3.0),
    ("五年", 0.2),
    ("5年", 0.2),
    ("十年", 0.1),
    ("10年", 0.1),
];

/// Money earned on a principal over a period, around a gain word at
/// `gain` (收益, 到手, 拿): the principal is an amount led by 每/满/投/存…
/// (or 每万元), the gain the amount right after the gain word (within four
/// characters), the period the nearest period word before the gain word,
/// all within `start..end` (the sentence). Returns the span from the
/// principal to the gain, the annual rate, and whether the principal is
/// money put in to earn (投五万, 本金10万, 一万块放进来: an investment stated
/// by the sentence itself, whatever else the page is about).
pub fn principal_rate(
    text: &str,
    clauses: &[u32],
    start: usize,
    end: usize,
    gain: (usize, usize),
) -> Option<PrincipalRate> {
    let (gs, ge) = gain;
    // the gain: an amount of money right after the word (a bare number
    // counts too: 一年利息1800)
    let gained = numbers::quantities_in_clauses(text, clauses, ge, end, NumberKind::Money)
        .into_iter()
        .next()
        .filter(|q| text[ge..q.start].chars().count() <= 4)
        .or_else(|| bare_amount(text, ge, end))?;
    // the principal: before the gain word
    let mut principal: Option<(usize, f64)> = None;
    let mut invested = false;
    for (w, v) in IMPLICIT_PRINCIPALS {
        if let Some(i) = text[start..gs].rfind(w) {
            principal = Some((start + i, *v));
            break;
        }
    }
    if principal.is_none() {
        // an amount led by 投/存/满… or named 本金, else any amount larger
        // than the gain (10万元一年到手1.5万)
        let amounts: Vec<Quantity> =
            numbers::quantities_in_clauses(text, clauses, start, gs, NumberKind::Money);
        let marked = amounts.iter().rev().find(|q| {
            let before = &text[..q.start];
            let led = before
                .chars()
                .next_back()
                .is_some_and(|c| PRINCIPAL_LEADS.contains(&c))
                || PRINCIPAL_WORDS.iter().any(|w| before.ends_with(w));
            let named = text[q.end..].starts_with("本金") || text[q.end..].starts_with("钱");
            led || named || text[q.start..q.end].contains('块')
        });
        if let Some(q) = marked {
            let before = &text[..q.start];
            let after = &text[q.end..];
            invested = before
                .chars()
                .next_back()
                .is_some_and(|c| INVESTED_LEADS.contains(&c))
                || INVESTED_WORDS.iter().any(|w| before.ends_with(w))
                || INVESTED_AFTER.iter().any(|w| after.starts_with(w));
        }
        principal = marked
            .or_else(|| amounts.iter().rev().find(|q| q.value > gained.value))
            .map(|q| (q.start, q.value));
    }
    let (pstart, pvalue) = principal?;
    // 本息11800: principal and interest together, the interest is the rest
    let mut gain = gained.value;
    let word = &text[gs..gained.start];
    if TOTAL_WORDS.iter().any(|w| word.contains(w)) && gain > pvalue {
        gain -= pvalue;
    }
    if pvalue <= gain || pvalue <= 0.0 || gain <= 0.0 {
        return None;
    }
    // the period: the period word nearest before the gain word (每万元每月
    // 收益, 一年一万块钱能拿) or the gain word itself (月收益)
    let between = &text[start..ge];
    let period = PERIOD_WORDS
        .iter()
        .filter_map(|&(w, p)| between.rfind(w).map(|i| (i, w.len(), p)))
        .max_by_key(|&(i, len, _)| (i + len, len))
        .map(|(_, _, p)| p)?;
    let rate = gain / pvalue * 100.0 * period;
    Some(PrincipalRate {
        start: pstart,
        end: gained.end,
        annual_percent: rate,
        invested,
    })
}

/// Money earned on a principal, as a rate (see [`principal_rate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrincipalRate {
    pub start: usize,
    pub end: usize,
    pub annual_percent: f64,
    /// The principal is money put in to earn (投五万, 本金10万).
    pub invested: bool,
}

/// A bare number of at least two digits (or two Chinese numeral
/// characters: 一百八) within four characters after `from` (利息1800),
/// read as yuan.
fn bare_amount(text: &str, from: usize, end: usize) -> Option<Quantity> {
    for (n, (i, c)) in text[from..end].char_indices().enumerate() {
        if n > 4 {
            return None;
        }
        if numbers::starts_number(c) {
            let (v, e) = numbers::read_number(text, from + i)?;
            let chars = text[from + i..e].chars().count();
            if chars < 2
                || text[e..].starts_with(['%', '倍', '成', '分', '厘', '个', '年', '月', '天'])
            {
                return None;
            }
            return Some(Quantity {
                kind: NumberKind::Money,
                start: from + i,
                end: e,
                low: v,
                value: v,
            });
        }
    }
    None
}

/// Splits a visible line into cells: a tab (HTML table cells, see
/// `text::html`), a run of ideographic spaces, or two or more spaces.
/// Returns the cells' visible ranges.
pub fn cells(line: &str, offset: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut cell_start: Option<usize> = None;
    let mut spaces = 0usize;
    let mut gap_start = 0usize;
    let mut ideographic = false;
    for (i, c) in line.char_indices() {
        let sep = matches!(c, '\t' | '\u{3000}' | ' ' | '\u{A0}');
        if sep {
            if spaces == 0 {
                gap_start = i;
                ideographic = false;
            }
            spaces += 1;
            ideographic |= c == '\t' || c == '\u{3000}';
            continue;
        }
        if spaces > 0 {
            if (spaces >= 2 || ideographic)
                && let Some(s) = cell_start.take()
            {
                out.push((offset + s, offset + gap_start));
            }
            spaces = 0;
        }
        if cell_start.is_none() {
            cell_start = Some(i);
        }
    }
    if let Some(s) = cell_start {
        let end = if spaces > 0 { gap_start } else { line.len() };
        out.push((offset + s, offset + end));
    }
    out
}

/// A rate read under a table header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableRate {
    /// Normalized span of the rate's cell.
    pub start: usize,
    pub end: usize,
    pub annual_percent: f64,
}

/// Rates in a table column whose header names the yield.
///
/// `keyword` is a yield keyword (normalized span) and `period` its period.
/// When the keyword's visible line is a header row — at least three cells,
/// the keyword's cell short (a caption, not prose) — the cells of the same
/// column in the rows below (until a line that is not a row of as many
/// cells) are read as rates: a percentage or the lending idiom, with a
/// period written in the cell (日万分之八, 月1.5%) before the keyword's.
pub fn table_rates(
    norm: &Normalized,
    visible: &str,
    keyword: (usize, usize),
    period: Period,
) -> Vec<TableRate> {
    let mut out = Vec::new();
    let vk = norm.map.src_start(keyword.0);
    let line_start = visible[..vk].rfind('\n').map_or(0, |i| i + 1);
    let line_end = visible[vk..].find('\n').map_or(visible.len(), |i| vk + i);
    let header = cells(&visible[line_start..line_end], line_start);
    if header.len() < 3 {
        return out;
    }
    let Some(col) = header.iter().position(|&(s, e)| s <= vk && vk < e) else {
        return out;
    };
    let (hs, he) = header[col];
    if visible[hs..he].chars().count() > 12 {
        return out;
    }
    let principal_col = header.iter().enumerate().position(|(i, &(s, e))| {
        i != col && PRICE_HEADERS.iter().any(|h| visible[s..e].contains(h))
    });
    let mut pos = line_end;
    for _ in 0..50 {
        if pos >= visible.len() {
            break;
        }
        let ls = pos + 1;
        let le = visible[ls..].find('\n').map_or(visible.len(), |i| ls + i);
        pos = le;
        let row = cells(&visible[ls..le], ls);
        if row.len() + 1 < header.len() || row.len() > header.len() + 1 {
            break;
        }
        let Some(&(cs, ce)) = row.get(col) else {
            continue;
        };
        let ns = norm.map.out_at_src(cs);
        let ne = norm.map.out_at_src(ce).max(ns);
        let rate = cell_rate(&norm.text, ns, ne, period).or_else(|| {
            // money paid out under the header, against the price in its row
            let (ps, pe) = *row.get(principal_col?)?;
            let price = first_money(norm, ps, pe)?;
            let paid = first_money(norm, cs, ce)?;
            let cell = &visible[cs..ce];
            let per = if cell.contains("/月") || cell.contains("每月") {
                Period::Month
            } else if cell.contains("/天") || cell.contains("/日") || cell.contains("每天") {
                Period::Day
            } else if cell.contains("/年") || cell.contains("每年") {
                Period::Year
            } else {
                period
            };
            (price > paid).then(|| paid / price * 100.0 * per.per_year())
        });
        if let Some(r) = rate {
            out.push(TableRate {
                start: ns,
                end: ne,
                annual_percent: r,
            });
        }
    }
    out
}

/// Header words of the column that holds a price or an amount invested.
const PRICE_HEADERS: &[&str] = &[
    "费用",
    "金额",
    "价格",
    "本金",
    "单价",
    "出资",
    "认购额",
    "投资额",
    "起投",
    "认购价",
    "售价",
];

/// The first amount of money in the visible range `vs..ve`.
fn first_money(norm: &Normalized, vs: usize, ve: usize) -> Option<f64> {
    let ns = norm.map.out_at_src(vs);
    let ne = norm.map.out_at_src(ve).max(ns);
    numbers::quantities_in_clauses(&norm.text, &norm.clauses, ns, ne, NumberKind::Money)
        .first()
        .map(|q| q.value)
}

/// The annual rate a table cell states, if it states one at its start
/// (after at most two period characters: 日万分之八, 月1.5%).
fn cell_rate(text: &str, start: usize, end: usize, period: Period) -> Option<f64> {
    let mut p = start;
    let mut period = period;
    for c in text[start..end].chars().take(2) {
        match Period::of_char(c) {
            Some(q) => {
                period = q;
                p += c.len_utf8();
            }
            None if c == '每' => p += c.len_utf8(),
            None => break,
        }
    }
    if p >= end {
        return None;
    }
    let (v, e) = rate_at(text, p, period)?;
    (e <= end).then_some(v * period.per_year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn rate(text: &str, kw: &str) -> Option<f64> {
        let n = normalize(text);
        let t = n.text.as_str();
        let from = t.find(&normalize(kw).text).unwrap() + normalize(kw).text.len();
        let boosts = ["加息".to_owned(), "另加".to_owned()];
        read_rate(t, from, Period::of_keyword(kw), &boosts).map(|r| r.annual_percent)
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn annual_percentages() {
        assert_eq!(rate("年化收益率高达18%", "年化收益率"), Some(18.0));
        assert_eq!(rate("年化24.5%", "年化"), Some(24.5));
        assert_eq!(rate("年化8%-12%", "年化"), Some(12.0));
        assert_eq!(rate("年化8-12%", "年化"), Some(12.0));
        assert_eq!(rate("年化折合下来约16%", "年化"), Some(16.0));
        assert_eq!(rate("年化６—１２％", "年化"), Some(12.0));
    }

    #[test]
    fn chinese_numerals_and_fractions() {
        assert_eq!(rate("年化百分之十八", "年化"), Some(18.0));
        assert!(close(rate("日息万分之五", "日息"), 18.25));
        assert!(close(rate("日息千分之一", "日息"), 36.5));
        assert!(close(rate("收益率每天万分之六", "收益率"), 21.9));
    }

    #[test]
    fn monthly_and_daily_rates_are_annualized() {
        assert_eq!(rate("月息2分", "月息"), Some(24.0));
        assert_eq!(rate("月息两分", "月息"), Some(24.0));
        assert!(close(rate("月息1分5", "月息"), 18.0));
        assert!(close(rate("月息一分八", "月息"), 21.6));
        assert!(close(rate("月息8厘", "月息"), 9.6));
        assert!(close(rate("日息0.1%", "日息"), 36.5));
        assert_eq!(rate("年息1分", "年息"), Some(10.0));
    }

    #[test]
    fn boosts_add_to_the_base_rate() {
        assert!(close(rate("年化10%+加息2.5%", "年化"), 12.5));
        assert!(close(rate("年化8.8%+3%", "年化"), 11.8));
        assert!(close(rate("年化9% 另加1.5%", "年化"), 10.5));
    }

    #[test]
    fn a_product_code_is_no_lead_to_a_rate() {
        assert_eq!(rate("鸿泰月月息 HT1702 12.8%", "月息"), None);
    }

    #[test]
    fn a_share_of_the_return_is_not_a_rate() {
        assert_eq!(rate("收益的20%作为服务费", "收益"), None);
    }

    #[test]
    fn rate_before_its_keyword_is_read() {
        let t = "11.00%预期年化";
        let k = t.find("年化").unwrap();
        assert_eq!(read_rate_before(t, k, Period::Year), Some((0, 11.0)));
        let t = "期限3个月年化";
        assert_eq!(
            read_rate_before(t, t.find("年化").unwrap(), Period::Year),
            None
        );
    }

    #[test]
    fn minutes_and_instalments_are_not_lending_rates() {
        assert_eq!(rate("年化收益3分钟了解详情", "年化收益"), None);
        assert_eq!(rate("月息借款3分钟到账", "月息"), None);
        assert_eq!(rate("月息12分期", "月息"), None);
    }

    #[test]
    fn no_number_or_no_unit_is_no_rate() {
        assert_eq!(rate("年化收益稳定可观", "年化收益"), None);
        assert_eq!(rate("收益百分之百有保障", "收益"), None);
        assert_eq!(rate("年化18", "年化"), None);
        assert_eq!(rate("年化收益的计算方法请参见说明第3%", "年化收益"), None);
        assert_eq!(rate("年化收益一直很稳", "年化收益"), None);
    }

    fn per_principal(text: &str, gain: &str) -> Option<f64> {
        let n = normalize(text);
        let t = n.text.as_str();
        let g = t.find(gain).unwrap();
        principal_rate(t, &n.clauses, 0, t.len(), (g, g + gain.len()))
            .map(|r| (r.annual_percent * 100.0).round() / 100.0)
    }

    #[test]
    fn money_earned_on_a_principal() {
        assert_eq!(per_principal("每万元每月收益150元", "收益"), Some(18.0));
        assert_eq!(per_principal("存满两万每月到手三百", "到手"), Some(18.0));
        assert_eq!(per_principal("一年五万块钱能拿九千", "能拿"), Some(18.0));
        assert_eq!(per_principal("投5万元，一年拿6000元利息", "拿"), Some(12.0));
        assert_eq!(per_principal("每千元每天收益5角", "收益"), Some(18.25));
        assert_eq!(per_principal("存1万元，一年利息1800", "利息"), Some(18.0));
        assert_eq!(per_principal("10万元一年到手1.5万", "到手"), Some(15.0));
        assert_eq!(per_principal("本金5万，每月利息1000元", "利息"), Some(24.0));
        assert_eq!(
            per_principal("投资1万元，一年后可得本息11800元", "可得"),
            Some(18.0)
        );
        assert_eq!(
            per_principal("投五万，一年稳稳拿九千块利息", "拿"),
            Some(18.0)
        );
        assert_eq!(
            per_principal("一万块放进来，每个月到手一百八", "到手"),
            Some(21.6)
        );
        assert_eq!(
            per_principal("本金八万，两年后连本带利取回十万", "连本带利"),
            Some(12.5)
        );
        assert_eq!(
            per_principal("存3万，半年拿回本息3.3万", "拿回"),
            Some(20.0)
        );
        // no principal, no period, or a fee rather than a gain
        assert_eq!(per_principal("每台终端开通返现99元", "返现"), None);
        assert_eq!(per_principal("新用户收益200元", "收益"), None);
    }

    #[test]
    fn cells_split_on_tabs_and_wide_gaps() {
        let line = "方案　　保证金\t利息  月利率 备注";
        let c: Vec<&str> = cells(line, 0).iter().map(|&(s, e)| &line[s..e]).collect();
        assert_eq!(c, ["方案", "保证金", "利息", "月利率 备注"]);
    }

    #[test]
    fn rates_under_a_yield_header() {
        let v = "产品\t期限\t预期年化收益\t起投\n稳盈A\t3个月\t9%\t100元\n稳盈B\t12个月\t12.5%\t100元\n说明：以上收益仅供参考";
        let n = normalize(v);
        let k = n.text.find("预期年化收益").unwrap();
        let rates = table_rates(&n, v, (k, k + "预期年化收益".len()), Period::Year);
        let got: Vec<f64> = rates.iter().map(|r| r.annual_percent).collect();
        assert_eq!(got, [9.0, 12.5]);
        let r = rates[1];
        assert_eq!(&v[n.map.src_start(r.start)..n.map.src_end(r.end)], "12.5%");
    }

    #[test]
    fn money_paid_under_a_yield_header_against_the_price_in_its_row() {
        let v = "方案\t认购金额\t年回报\t期限\n单份\t5,000元\t900元/年\t2年\n整套\t2万元\t300元/月\t2年";
        let n = normalize(v);
        let k = n.text.find("年回报").unwrap();
        let rates = table_rates(&n, v, (k, k + "年回报".len()), Period::Year);
        let got: Vec<f64> = rates.iter().map(|r| r.annual_percent).collect();
        assert_eq!(got, [18.0, 18.0]);
    }
}
