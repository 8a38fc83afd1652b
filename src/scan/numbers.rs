//! Numbers as people write them in normalized text: Arabic (`24.5`,
//! `1,000`), Chinese (`十八`, `两百`, `四点五`, colloquial `一千五` = 1,500),
//! mixed (`3.5万`, `5千`), fractions (`百分之十八`, `千分之一`,
//! `万分之四点五`), and the quantities the rules read from them: rates,
//! percentages, multiples, money and durations.
//!
//! Positions are byte offsets of the normalized text (see `text::normalize`:
//! full-width digits are ASCII there, and `.` `,` `-` `~` `:` `+` between
//! digits are kept).
//!
//! Written here because no crate reads Chinese numerals *with positions*
//! inside running text (the crates that convert `一千五百` parse a whole
//! string), and the rules need where a number starts and ends.

use crate::rules::NumberKind;

/// The value of one Chinese digit character.
fn cn_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

/// The value of a Chinese magnitude character.
fn cn_magnitude(c: char) -> Option<f64> {
    Some(match c {
        '十' | '拾' => 10.0,
        '百' | '佰' => 100.0,
        '千' | '仟' => 1_000.0,
        '万' => 10_000.0,
        '亿' => 100_000_000.0,
        _ => return None,
    })
}

/// Whether `c` can start a number: an ASCII digit or a Chinese numeral.
pub fn starts_number(c: char) -> bool {
    c.is_ascii_digit() || cn_digit(c).is_some() || matches!(c, '十' | '拾')
}

/// Reads a number at `pos`: Arabic digits (with a decimal point and
/// thousands commas), then optionally a Chinese magnitude (`3.5万`, `5千`);
/// or a Chinese numeral (`十八`, `一百二十`, `两万`, `四点五`, `一千五`).
/// Returns the value and the end of the number. A year (`2016年`) is read
/// as a number too; callers that read durations leave years out.
pub fn read_number(text: &str, pos: usize) -> Option<(f64, usize)> {
    let first = text[pos..].chars().next()?;
    if first.is_ascii_digit() {
        read_arabic(text, pos)
    } else {
        read_chinese(text, pos)
    }
}

fn read_arabic(text: &str, pos: usize) -> Option<(f64, usize)> {
    let b = text.as_bytes();
    let mut end = pos;
    let mut digits = String::new();
    while end < b.len() {
        let c = b[end];
        if c.is_ascii_digit() {
            digits.push(c as char);
            end += 1;
        } else if c == b','
            && end + 3 < b.len() + 1
            && b.get(end + 1..end + 4)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && !b.get(end + 4).is_some_and(u8::is_ascii_digit)
            && !digits.is_empty()
        {
            // thousands separator: exactly three digits follow
            end += 1;
        } else {
            break;
        }
    }
    if digits.is_empty() || digits.len() > 12 {
        // more than 12 digits is an id or a phone number, not a quantity
        return None;
    }
    if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
        digits.push('.');
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            digits.push(b[end] as char);
            end += 1;
        }
    }
    let mut value: f64 = digits.parse().ok()?;
    // a magnitude right after: 3.5万, 5千, 2亿 (one only: 5千万 = 5×千×万)
    let mut magnitude_end = end;
    for c in text[end..].chars() {
        match cn_magnitude(c) {
            Some(m) if c != '十' && c != '拾' => {
                value *= m;
                magnitude_end += c.len_utf8();
            }
            _ => break,
        }
        if magnitude_end - end > 6 {
            break;
        }
    }
    Some((value, magnitude_end))
}

/// Reads a Chinese numeral: sections of digit × magnitude, summed, with the
/// colloquial shorthand of a trailing digit one magnitude down (一千五 =
/// 1,500; 一万二 = 12,000; 两百五 = 250) and a decimal part after 点.
fn read_chinese(text: &str, pos: usize) -> Option<(f64, usize)> {
    let mut total = 0.0; // closed by 万 or 亿
    let mut section = 0.0; // below 万
    let mut digit: Option<f64> = None;
    let mut last_magnitude = 0.0;
    let mut zero_after_magnitude = false;
    let mut end = pos;
    let mut seen = false;
    for (i, c) in text[pos..].char_indices() {
        if let Some(d) = cn_digit(c) {
            digit = Some(match digit {
                // digits in a row (二〇一六) are read digit by digit
                Some(prev) if c != '零' => prev * 10.0 + d as f64,
                Some(prev) => prev,
                None => d as f64,
            });
            if c == '零' && last_magnitude > 0.0 {
                zero_after_magnitude = true;
            }
            seen = true;
        } else if let Some(m) = cn_magnitude(c) {
            if !seen && m != 10.0 {
                break; // a bare 百/千/万 is a word, not a number
            }
            let d = digit.take().unwrap_or(if m == 10.0 { 1.0 } else { 0.0 });
            if m == 100_000_000.0 {
                total = (total + section + d) * m;
                section = 0.0;
            } else if m == 10_000.0 {
                total += (section + d) * m;
                section = 0.0;
            } else {
                section += d * m;
            }
            last_magnitude = m;
            zero_after_magnitude = false;
            seen = true;
        } else {
            break;
        }
        end = pos + i + c.len_utf8();
    }
    if !seen {
        return None;
    }
    if let Some(d) = digit {
        // a trailing digit: one magnitude below the last (一千五), or units
        // (十八, 一千零五)
        let scale = if last_magnitude >= 100.0 && !zero_after_magnitude {
            last_magnitude / 10.0
        } else {
            1.0
        };
        section += d * scale;
    }
    let mut value = total + section;
    // decimal part: 四点五, 一点二五
    if text[end..].starts_with('点') {
        let mut frac = String::from("0.");
        let mut p = end + '点'.len_utf8();
        for c in text[p..].chars() {
            match cn_digit(c) {
                Some(d) => {
                    frac.push(char::from(b'0' + d as u8));
                    p += c.len_utf8();
                }
                None => break,
            }
        }
        if frac.len() > 2 {
            value += frac.parse::<f64>().unwrap_or(0.0);
            end = p;
        }
    }
    Some((value, end))
}

/// A period a rate is stated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year,
    Month,
    Week,
    Day,
}

impl Period {
    /// How many of this period make a year.
    pub fn per_year(self) -> f64 {
        match self {
            Period::Year => 1.0,
            Period::Month => 12.0,
            Period::Week => 52.0,
            Period::Day => 365.0,
        }
    }

    /// The period a single character marks: 日/天 daily, 月 monthly, 周
    /// weekly, 年 yearly.
    pub fn of_char(c: char) -> Option<Period> {
        match c {
            '日' | '天' => Some(Period::Day),
            '月' => Some(Period::Month),
            '周' => Some(Period::Week),
            '年' => Some(Period::Year),
            _ => None,
        }
    }

    /// The period a rate keyword speaks of: 月息 and 月利率 monthly, 日息
    /// and 天 daily, everything else yearly.
    pub fn of_keyword(k: &str) -> Self {
        if k.contains('月') {
            Period::Month
        } else if k.contains('日') || k.contains('天') {
            Period::Day
        } else if k.contains('周') {
            Period::Week
        } else {
            Period::Year
        }
    }
}

/// A percentage as written at a position: `18%`, `8%-12%`, `百分之十八`,
/// `千分之一` (0.1), `万分之四点五` (0.045), `5‰`. `value` is the highest of a
/// range, `low` its lowest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent {
    pub start: usize,
    pub end: usize,
    pub low: f64,
    pub value: f64,
}

/// Reads a percentage at `pos`, or `None`.
pub fn read_percent(text: &str, pos: usize) -> Option<Percent> {
    let rest = &text[pos..];
    for (prefix, scale) in [("百分之", 1.0), ("千分之", 0.1), ("万分之", 0.01)] {
        if let Some(after) = rest.strip_prefix(prefix) {
            let at = pos + prefix.len();
            // 百分之百: all of it
            if prefix == "百分之" && after.starts_with('百') {
                let end = at + '百'.len_utf8();
                return Some(Percent {
                    start: pos,
                    end,
                    low: 100.0,
                    value: 100.0,
                });
            }
            let (v, mut end) = read_number(text, at).filter(|_| !after.is_empty())?;
            let mut hi = v;
            // 百分之八到十二
            if let Some((v2, e2)) = range_tail(text, end) {
                hi = v2.max(v);
                end = e2;
            }
            return Some(Percent {
                start: pos,
                end,
                low: v * scale,
                value: hi * scale,
            });
        }
    }
    let first = rest.chars().next()?;
    // 12个点, 十二个百分点: percentage points, as salespeople say them
    if let Some((v, e)) = read_number(text, pos) {
        for unit in ["个百分点", "个点"] {
            if text[e..].starts_with(unit) {
                return Some(Percent {
                    start: pos,
                    end: e + unit.len(),
                    low: v,
                    value: v,
                });
            }
        }
    }
    // 一成五, 两成: tenths, as salespeople say them (一成五 = 15 %)
    if !first.is_ascii_digit()
        && let Some((v, e)) = read_chinese(text, pos)
        && v < 10.0
        && v.fract() == 0.0
        && let Some(after) = text[e..].strip_prefix('成')
    {
        let mut value = v * 10.0;
        let mut end = e + '成'.len_utf8();
        match after.chars().next() {
            Some('半') => {
                value += 5.0;
                end += '半'.len_utf8();
            }
            Some(c)
                if let Some(d) = cn_digit(c)
                    && !after[c.len_utf8()..].starts_with(['成', '十', '百']) =>
            {
                value += f64::from(d);
                end += c.len_utf8();
            }
            _ => {}
        }
        return Some(Percent {
            start: pos,
            end,
            low: value,
            value,
        });
    }
    if !first.is_ascii_digit() {
        // a Chinese numeral with a % sign (十八%)
        let (v, e) = read_chinese(text, pos)?;
        return text[e..].starts_with('%').then_some(Percent {
            start: pos,
            end: e + 1,
            low: v,
            value: v,
        });
    }
    let (v, e) = read_arabic_plain(text, pos)?;
    let (mut low, mut value, mut end) = (v, v, e);
    // an optional unit before a range separator (8%-12%), then a second number
    let unit_at = |p: usize| -> Option<(f64, usize)> {
        if text[p..].starts_with('%') {
            Some((1.0, p + 1))
        } else if text[p..].starts_with('‰') {
            Some((0.1, p + '‰'.len_utf8()))
        } else {
            None
        }
    };
    let mut after_first_unit = end;
    if let Some((_, p)) = unit_at(end) {
        after_first_unit = p;
    }
    if let Some((v2, e2)) = range_tail(text, after_first_unit).or_else(|| range_tail(text, end)) {
        if v2 >= v {
            value = v2;
            end = e2;
        }
    }
    let (scale, unit_end) = unit_at(end)?;
    low *= scale;
    value *= scale;
    Some(Percent {
        start: pos,
        end: unit_end,
        low: low.min(value),
        value,
    })
}

/// After a range separator (- ~ 至 到) at `p`, the second number.
fn range_tail(text: &str, p: usize) -> Option<(f64, usize)> {
    let sep = text[p..].chars().next()?;
    if !matches!(sep, '-' | '~' | '至' | '到') {
        return None;
    }
    let q = p + sep.len_utf8();
    let next = text[q..].chars().next()?;
    if !starts_number(next) {
        return None;
    }
    read_number(text, q)
}

/// Arabic digits and a decimal part, without a magnitude (for percentages).
fn read_arabic_plain(text: &str, pos: usize) -> Option<(f64, usize)> {
    let b = text.as_bytes();
    let mut end = pos;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end == pos || end - pos > 12 {
        return None;
    }
    if b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    text[pos..end].parse().ok().map(|v| (v, end))
}

/// The lending idiom `N分` / `N厘` after a rate keyword: 月息2分 is 2 % a
/// month, 年息1分 10 % a year, 月息1分5 1.5 %, 月息8厘 0.8 %. `N分钟` (minutes),
/// `N分期` (instalments), `N分之` (fractions) and `N厘米` are not rates.
/// Returns the rate in percent for `period`, and the end.
pub fn read_idiom(text: &str, pos: usize, period: Period) -> Option<(f64, usize)> {
    let (v, e) = read_number(text, pos)?;
    let mut rest = text[e..].chars();
    let unit = rest.next()?;
    let next = rest.next();
    if matches!(
        (unit, next),
        (
            '分',
            Some('钟' | '期' | '之' | '红' | '享' | '配' | '散' | '别' | '数')
        ) | ('厘', Some('米'))
    ) {
        return None;
    }
    let mut end = e + unit.len_utf8();
    let mut value = v;
    // 一分半 = 1.5分
    if unit == '分' && next == Some('半') {
        value += 0.5;
        end += '半'.len_utf8();
    }
    // 1分5 = 1.5分, 一分八 = 1.8分: a single digit right after
    else if unit == '分'
        && let Some(n) = next
        && (n.is_ascii_digit() || cn_digit(n).is_some())
        && !text[end + n.len_utf8()..].chars().next().is_some_and(|c| {
            c.is_ascii_digit() || cn_digit(c).is_some() || cn_magnitude(c).is_some() || c == '%'
        })
    {
        let d = n.to_digit(10).or_else(|| cn_digit(n)).unwrap_or(0);
        value += d as f64 / 10.0;
        end += n.len_utf8();
    }
    let percent = match (unit, period) {
        ('分', Period::Year) => value * 10.0,
        ('分', Period::Month) => value,
        ('厘', Period::Year) => value,
        ('厘', Period::Month) => value / 10.0,
        // 日息万分之… is written with a fraction, not 分/厘
        _ => return None,
    };
    Some((percent, end))
}

/// A quantity found in a stretch of text (see [`NumberKind`]). `value` is
/// the highest of a range, `low` its lowest; a part's bounds accept the
/// token when the range meets them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub kind: NumberKind,
    pub start: usize,
    pub end: usize,
    pub low: f64,
    pub value: f64,
}

/// Characters after a number that make it a count of something else, not
/// money: 万份 (fund shares), 万人, 万家 …
const NOT_MONEY_AFTER: &[char] = &[
    '份', '人', '个', '户', '家', '次', '名', '股', '位', '笔', '台', '件', '张', '条', '亩', '棵',
    '平', '米', '公', '吨', '斤', '字', '分', '倍',
];

/// Every quantity of `kind` in `text[from..to]`, in order.
pub fn quantities(text: &str, from: usize, to: usize, kind: NumberKind) -> Vec<Quantity> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let prefixed_fraction = ["百分之", "千分之", "万分之"]
            .iter()
            .any(|p| text[i..].starts_with(p));
        if !(starts_number(c)
            || prefixed_fraction
            || (kind == NumberKind::Multiple && c == '翻')
            || (kind == NumberKind::Days && c == '半'))
        {
            i += c.len_utf8();
            continue;
        }
        // a number continues a previous one (the 5 of 1.5): skip to its start only
        if let Some(q) = quantity_at(text, i, to, kind) {
            i = q.end.max(i + c.len_utf8());
            out.push(q);
        } else {
            // skip the whole number, so that its tail is not read again
            let skip = read_number(text, i).map_or(i + c.len_utf8(), |(_, e)| e);
            i = skip.max(i + c.len_utf8());
        }
    }
    out
}

/// Every quantity of `kind` in `text[from..to]`, none read across a clause
/// break (`clauses`, sorted offsets): normalized text has its punctuation
/// removed, and 投五万，一年 must not read as 五万一 (51,000).
pub fn quantities_in_clauses(
    text: &str,
    clauses: &[u32],
    from: usize,
    to: usize,
    kind: NumberKind,
) -> Vec<Quantity> {
    let first = clauses.partition_point(|&b| (b as usize) <= from);
    let ends = clauses[first..]
        .iter()
        .map(|&b| b as usize)
        .take_while(|&b| b < to)
        .chain([to]);
    let mut out = Vec::new();
    let mut seg_start = from;
    for seg_end in ends {
        out.extend(quantities(&text[..seg_end], seg_start, seg_end, kind));
        seg_start = seg_end;
    }
    out
}

fn quantity_at(text: &str, i: usize, to: usize, kind: NumberKind) -> Option<Quantity> {
    let within = |q: Quantity| (q.end <= to).then_some(q);
    match kind {
        NumberKind::Percent => {
            let p = read_percent(text, i)?;
            within(Quantity {
                kind,
                start: p.start,
                end: p.end,
                low: p.low,
                value: p.value,
            })
        }
        NumberKind::Rate => {
            let p = read_percent(text, i)?;
            let period = period_near(text, p.start, p.end);
            let f = period.per_year();
            within(Quantity {
                kind,
                start: p.start,
                end: p.end,
                low: p.low * f,
                value: p.value * f,
            })
        }
        NumberKind::Multiple => read_multiple(text, i).and_then(within),
        NumberKind::Money => read_money(text, i).and_then(within),
        NumberKind::Days => read_days(text, i).and_then(within),
    }
}

/// The period written right around a rate: 日/每天/每日 before it (日万分之八,
/// 每天0.05%), or 每天/每日//天 after it (0.05%/天).
pub fn period_near(text: &str, start: usize, end: usize) -> Period {
    let before: Vec<char> = text[..start].chars().rev().take(3).collect();
    for c in &before {
        if let Some(p) = Period::of_char(*c) {
            return p;
        }
    }
    let after: String = text[end..].chars().take(3).collect();
    for (s, p) in [
        ("每天", Period::Day),
        ("每日", Period::Day),
        ("天", Period::Day),
        ("每月", Period::Month),
        ("月", Period::Month),
        ("每周", Period::Week),
    ] {
        if after.starts_with(s) {
            return p;
        }
    }
    Period::Year
}

/// `10倍`, `1:10`, `1比10`, `翻倍` (2), `翻番` (2), `翻两番` (4), `翻三倍` (3).
fn read_multiple(text: &str, i: usize) -> Option<Quantity> {
    let rest = &text[i..];
    if let Some(after) = rest.strip_prefix('翻') {
        let at = i + '翻'.len_utf8();
        if after.starts_with('倍') || after.starts_with('番') {
            return Some(mult(i, at + 3, 2.0));
        }
        let (v, e) = read_number(text, at)?;
        if text[e..].starts_with('番') {
            return Some(mult(i, e + 3, 2f64.powf(v)));
        }
        if text[e..].starts_with('倍') {
            return Some(mult(i, e + 3, v));
        }
        return None;
    }
    let (v, e) = read_number(text, i)?;
    if text[e..].starts_with('倍') {
        return Some(mult(i, e + 3, v));
    }
    // 一番, 两番 after 翻 read as a number: 2^n
    if text[e..].starts_with('番') && text[..i].ends_with('翻') {
        return Some(mult(i, e + 3, 2f64.powf(v)));
    }
    // 1:10, 1比10 (a margin ratio: the second number is the multiple)
    for sep in [":", "比"] {
        if let Some(r) = text[e..].strip_prefix(sep)
            && r.chars().next().is_some_and(starts_number)
        {
            let (v2, e2) = read_number(text, e + sep.len())?;
            if v == 1.0 && v2 > 1.0 && v2 <= 100.0 {
                return Some(mult(i, e2, v2));
            }
        }
    }
    None
}

fn mult(start: usize, end: usize, v: f64) -> Quantity {
    Quantity {
        kind: NumberKind::Multiple,
        start,
        end,
        low: v,
        value: v,
    }
}

/// Money: `5000元`, `3.5万元`, `10万`, `五千块`, `两百`, `5毛`, `5角`.
fn read_money(text: &str, i: usize) -> Option<Quantity> {
    let (v, e) = read_number(text, i)?;
    let (mut lo, mut hi, mut end) = (v, v, e);
    if let Some((v2, e2)) = range_tail(text, e)
        && v2 >= v
    {
        hi = v2;
        end = e2;
    }
    let written = &text[i..end];
    let has_magnitude = written.contains(['万', '千', '亿', '百']);
    let mut rest = text[end..].chars();
    let unit = rest.next();
    let scale = match unit {
        Some('元' | '块' | '圆') => {
            end += 3;
            1.0
        }
        Some('角' | '毛') => {
            end += 3;
            0.1
        }
        Some(c) if has_magnitude && !NOT_MONEY_AFTER.contains(&c) => 1.0,
        None if has_magnitude => 1.0,
        _ => return None,
    };
    // 钱 after 块/毛 (五毛钱, 一万块钱)
    if text[end..].starts_with('钱') {
        end += 3;
    }
    lo *= scale;
    hi *= scale;
    Some(Quantity {
        kind: NumberKind::Money,
        start: i,
        end,
        low: lo,
        value: hi,
    })
}

/// Durations in days: `30天`, `7日` (not a date: 9月1日), `3个月`, `两年`
/// (not a year: 2016年), `2周`, `半年`.
fn read_days(text: &str, i: usize) -> Option<Quantity> {
    // 半年, 半个月
    for (w, days) in [("半年", 182.0), ("半个月", 15.0)] {
        if text[i..].starts_with(w) {
            return Some(Quantity {
                kind: NumberKind::Days,
                start: i,
                end: i + w.len(),
                low: days,
                value: days,
            });
        }
    }
    let (v, e) = read_number(text, i)?;
    let (mut lo, mut hi, mut end) = (v, v, e);
    if let Some((v2, e2)) = range_tail(text, e)
        && v2 >= v
    {
        hi = v2;
        end = e2;
    }
    let rest = &text[end..];
    let (per, unit_len) = if rest.starts_with("个月") {
        (30.0, "个月".len())
    } else if rest.starts_with("个工作日") {
        (1.0, "个工作日".len())
    } else if rest.starts_with('天') {
        (1.0, 3)
    } else if rest.starts_with('日') {
        // a date: 9月1日, 2016年6月20日
        if text[..i].ends_with('月') {
            return None;
        }
        (1.0, 3)
    } else if rest.starts_with('周') || rest.starts_with("星期") {
        (7.0, if rest.starts_with('周') { 3 } else { 6 })
    } else if rest.starts_with('年') {
        // a calendar year, or a grade (三年级)
        if (1900.0..=2100.0).contains(&hi) || rest.starts_with("年级") {
            return None;
        }
        (365.0, 3)
    } else {
        return None;
    };
    lo *= per;
    hi *= per;
    end += unit_len;
    Some(Quantity {
        kind: NumberKind::Days,
        start: i,
        end,
        low: lo,
        value: hi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Option<f64> {
        read_number(s, 0).map(|(v, _)| v)
    }

    #[test]
    fn arabic_and_mixed_numbers() {
        assert_eq!(num("24.5%"), Some(24.5));
        assert_eq!(num("1,000元"), Some(1000.0));
        assert_eq!(num("3.5万"), Some(35_000.0));
        assert_eq!(num("5千元"), Some(5_000.0));
        assert_eq!(num("10万元"), Some(100_000.0));
        assert_eq!(read_number("12,34", 0), Some((12.0, 2)));
    }

    #[test]
    fn chinese_numerals() {
        for (s, v) in [
            ("十八", 18.0),
            ("十", 10.0),
            ("二十", 20.0),
            ("一百二十", 120.0),
            ("两百", 200.0),
            ("一千五", 1500.0),
            ("一万二", 12_000.0),
            ("两百五", 250.0),
            ("三万五千", 35_000.0),
            ("一千零五", 1005.0),
            ("五千", 5000.0),
            ("三个亿", 3.0),
            ("四点五", 4.5),
            ("一点二五", 1.25),
            ("两", 2.0),
            ("一亿二千万", 120_000_000.0),
        ] {
            assert_eq!(num(s), Some(v), "{s}");
        }
        assert_eq!(num("百"), None);
        assert_eq!(num("万一"), None);
    }

    #[test]
    fn percentages_in_every_notation() {
        let p = |s: &str| read_percent(s, 0).map(|p| (p.low, p.value));
        assert_eq!(p("18%"), Some((18.0, 18.0)));
        assert_eq!(p("8%-12%"), Some((8.0, 12.0)));
        assert_eq!(p("8-12%"), Some((8.0, 12.0)));
        assert_eq!(p("百分之十八"), Some((18.0, 18.0)));
        assert_eq!(p("百分之8到12"), Some((8.0, 12.0)));
        let (lo, hi) = p("千分之一").unwrap();
        assert!((lo - 0.1).abs() < 1e-12 && (hi - 0.1).abs() < 1e-12);
        let (_, hi) = p("万分之四点五").unwrap();
        assert!((hi - 0.045).abs() < 1e-12);
        assert_eq!(p("5‰").map(|x| (x.1 * 10.0).round()), Some(5.0));
        assert_eq!(p("18"), None);
        assert_eq!(p("十八%"), Some((18.0, 18.0)));
        assert_eq!(p("十八"), None);
        assert_eq!(p("12个点"), Some((12.0, 12.0)));
        assert_eq!(p("十二个百分点"), Some((12.0, 12.0)));
    }

    #[test]
    fn the_lending_idiom() {
        let r = |s: &str, p| read_idiom(s, 0, p).map(|(v, _)| (v * 100.0).round() / 100.0);
        assert_eq!(r("2分", Period::Month), Some(2.0));
        assert_eq!(r("两分", Period::Month), Some(2.0));
        assert_eq!(r("1分5", Period::Month), Some(1.5));
        assert_eq!(r("一分八", Period::Month), Some(1.8));
        assert_eq!(r("一分半", Period::Month), Some(1.5));
        assert_eq!(r("8厘", Period::Month), Some(0.8));
        assert_eq!(r("1分", Period::Year), Some(10.0));
        assert_eq!(r("3分钟", Period::Month), None);
        assert_eq!(r("3分一万块", Period::Month), Some(3.0));
        assert_eq!(r("12分期", Period::Month), None);
        assert_eq!(r("2分", Period::Day), None);
    }

    #[test]
    fn quantities_of_each_kind() {
        let q = |s: &str, k| {
            quantities(s, 0, s.len(), k)
                .iter()
                .map(|q| (q.low, q.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            q("杠杆1-10倍，1:5也行", NumberKind::Multiple),
            [(10.0, 10.0), (5.0, 5.0)]
        );
        assert_eq!(
            q("收益翻倍，翻两番", NumberKind::Multiple),
            [(2.0, 2.0), (4.0, 4.0)]
        );
        assert_eq!(
            q("本金1万元最高操盘10万", NumberKind::Money),
            [(10_000.0, 10_000.0), (100_000.0, 100_000.0)]
        );
        assert_eq!(
            q("每1000元仅需5毛钱", NumberKind::Money),
            [(1000.0, 1000.0), (0.5, 0.5)]
        );
        // a bare magnitude is a word: 每千元 is read by the yield detector
        assert_eq!(q("每千元", NumberKind::Money), []);
        assert_eq!(q("万份收益2.52元", NumberKind::Money), [(2.52, 2.52)]);
        assert_eq!(
            q("期限6-36个月，持有满30天", NumberKind::Days),
            [(180.0, 1080.0), (30.0, 30.0)]
        );
        assert_eq!(q("2016年9月1日起两年", NumberKind::Days), [(730.0, 730.0)]);
        let r = quantities(
            "日万分之八，月1.5%",
            0,
            "日万分之八，月1.5%".len(),
            NumberKind::Rate,
        );
        assert!((r[0].value - 0.08 * 365.0).abs() < 1e-9, "{r:?}");
        assert!((r[1].value - 18.0).abs() < 1e-9, "{r:?}");
    }
}
