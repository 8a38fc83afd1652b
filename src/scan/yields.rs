//! The yield detector: rates written as numbers after a rate keyword
//! (年化收益率高达18%, 年化 24.5%, 月息2分, 日息0.1%), normalized to a simple
//! annual rate so that one threshold (plan §五（四）: 显失合理的超高回报率)
//! applies to all.

/// How many characters may stand between a keyword and its number
/// (高达, 最高可达, 为, 约).
const MAX_LEAD_CHARS: usize = 8;

/// How many characters may stand between a rate and a keyword that follows it
/// (预期 in `8%预期年化`).
const MAX_TRAIL_CHARS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year,
    Month,
    Day,
}

impl Period {
    /// The period a keyword speaks of: 月息 and 月利率 monthly, 日息 and 天
    /// daily, everything else yearly.
    pub fn of_keyword(k: &str) -> Self {
        if k.contains('月') {
            Period::Month
        } else if k.contains('日') || k.contains('天') {
            Period::Day
        } else {
            Period::Year
        }
    }
}

/// A stated rate found after a keyword.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatedRate {
    /// End (exclusive, normalized byte offset) of the rate as written.
    pub end: usize,
    /// The rate as a simple annual percentage.
    pub annual_percent: f64,
}

/// Reads the rate that follows a keyword ending at `from` in normalized text.
///
/// Accepts `18%`, `24.5%`, ranges `8%-12%`/`8-12%` (the upper end counts), `5‰`,
/// and the lending idiom `N分` / `N厘` (月息2分 = 2% a month; 年息1分 = 10% a
/// year). Returns `None` when no number follows closely or it has no unit.
pub fn read_rate(text: &str, from: usize, period: Period) -> Option<StatedRate> {
    let rest = &text[from..];
    let mut skipped = 0;
    let mut num_start = None;
    for (i, c) in rest.char_indices() {
        if c.is_ascii_digit() {
            num_start = Some(i);
            break;
        }
        skipped += 1;
        if skipped > MAX_LEAD_CHARS {
            return None;
        }
    }
    let mut pos = num_start?;
    let bytes = rest.as_bytes();
    let mut best: Option<(f64, usize)> = None; // (value, end of number)
    loop {
        let (value, after) = read_number(rest, pos)?;
        best = Some(best.map_or((value, after), |(b, _)| (b.max(value), after)));
        // an optional unit before a range separator (8%-12%), then a second number
        let mut p = after;
        if bytes.get(p) == Some(&b'%') {
            p += 1;
        }
        let sep = rest[p..].chars().next();
        match sep {
            Some('-' | '~' | '至' | '到') => {
                let q = p + sep.map_or(0, char::len_utf8);
                if bytes.get(q).is_some_and(u8::is_ascii_digit) {
                    pos = q;
                    continue;
                }
                break;
            }
            _ => break,
        }
    }
    let (value, num_end) = best?;
    let mut after_unit = rest[num_end..].chars();
    let unit = after_unit.next()?;
    // 3分钟 (minutes), 分期 (instalments), 5厘米 (centimetres) are not rates
    let next = after_unit.next();
    if matches!(
        (unit, next),
        ('分', Some('钟' | '期' | '之')) | ('厘', Some('米'))
    ) {
        return None;
    }
    let (percent, unit_len) = match unit {
        '%' => (value, 1),
        '‰' => (value / 10.0, '‰'.len_utf8()),
        '分' => match period {
            Period::Month => (value, '分'.len_utf8()),
            Period::Year => (value * 10.0, '分'.len_utf8()),
            Period::Day => return None,
        },
        '厘' => match period {
            Period::Month => (value / 10.0, '厘'.len_utf8()),
            Period::Year => (value, '厘'.len_utf8()),
            Period::Day => return None,
        },
        _ => return None,
    };
    let annual = match period {
        Period::Year => percent,
        Period::Month => percent * 12.0,
        Period::Day => percent * 365.0,
    };
    Some(StatedRate {
        end: from + num_end + unit_len,
        annual_percent: annual,
    })
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
    let (value, end) = read_number(before, start)?;
    if end != pct {
        return None;
    }
    let annual = match period {
        Period::Year => value,
        Period::Month => value * 12.0,
        Period::Day => value * 365.0,
    };
    Some((start, annual))
}

/// Reads `123` or `12.5` at `pos`; returns the value and the end offset.
fn read_number(s: &str, pos: usize) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let mut end = pos;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end == pos {
        return None;
    }
    if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    // more than 12 digits is an id or a phone number, not a rate
    if end - pos > 12 {
        return None;
    }
    s[pos..end].parse().ok().map(|v| (v, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str, kw: &str) -> Option<f64> {
        let from = text.find(kw).unwrap() + kw.len();
        read_rate(text, from, Period::of_keyword(kw)).map(|r| r.annual_percent)
    }

    #[test]
    fn annual_percentages() {
        assert_eq!(rate("年化收益率高达18%", "年化收益率"), Some(18.0));
        assert_eq!(rate("年化24.5%", "年化"), Some(24.5));
        assert_eq!(rate("年化8%-12%", "年化"), Some(12.0));
        assert_eq!(rate("年化8-12%", "年化"), Some(12.0));
    }

    #[test]
    fn monthly_and_daily_rates_are_annualized() {
        assert_eq!(rate("月息2分", "月息"), Some(24.0));
        assert!((rate("月息8厘", "月息").unwrap() - 9.6).abs() < 1e-9);
        let d = rate("日息0.1%", "日息").unwrap();
        assert!((d - 36.5).abs() < 1e-9);
        assert_eq!(rate("年息1分", "年息"), Some(10.0));
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
    fn ranges_survive_normalization() {
        let n = crate::text::normalize("年化8%-13%");
        assert_eq!(rate(&n.text, "年化"), Some(13.0));
    }

    #[test]
    fn minutes_and_instalments_are_not_lending_rates() {
        assert_eq!(rate("年化收益3分钟了解详情", "年化收益"), None);
        assert_eq!(rate("月息借款3分钟到账", "月息"), None);
        assert_eq!(rate("月息12分期", "月息"), None);
        assert_eq!(rate("月息2分", "月息"), Some(24.0));
    }

    #[test]
    fn no_number_or_no_unit_is_no_rate() {
        assert_eq!(rate("年化收益稳定可观", "年化收益"), None);
        assert_eq!(rate("年化18", "年化"), None);
        assert_eq!(rate("年化收益的计算方法请参见说明第3%", "年化收益"), None);
    }
}
