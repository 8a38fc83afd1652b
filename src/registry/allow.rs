//! The user's allow-list of licensed institutions (持牌金融机构).
//!
//! Banks, payment institutions and other licensed companies may use the
//! restricted words; the market supervision bureau keeps its own list of
//! them, so the file belongs to the user, not to the rules. One entry per
//! line: a unified social credit code, an exact registered name, or a name
//! ending in `*`, which covers every name starting with the text before the
//! `*` (`中国工商银行股份有限公司*` covers all of that bank's branches, whose
//! registered names start with the licensed legal entity's name).
//! Everything after ` #` is a comment, kept as the reason shown in output.
//! Blank lines and lines starting with `#` are ignored.
//!
//! Names are compared after removing white space and making full-width
//! ASCII (`（）`) half-width, because the same registry writes both; nothing
//! else is normalized: an allow-list is an exemption and must stay exact.

use std::collections::HashMap;
use std::path::Path;

use super::code::{CodeError, CreditCode, normalize_code};

/// Licensed institutions exempt from flagging, by credit code or exact name.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    codes: HashMap<CreditCode, String>,
    names: HashMap<String, String>,
    /// (name prefix, reason), from entries ending in `*`.
    prefixes: Vec<(String, String)>,
}

/// A line of the allow-list that looks wrong (reported, then ignored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct AllowWarning {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Name as compared: no white space, full-width ASCII made half-width.
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Whether `s` has the shape of a credit code (18 ASCII letters/digits after
/// normalization), so a wrong check character is reported instead of the
/// entry silently becoming a name that never matches.
fn looks_like_code(s: &str) -> bool {
    let n = normalize_code(s);
    n.len() == 18 && n.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl AllowList {
    pub fn load(path: &Path) -> std::io::Result<(Self, Vec<AllowWarning>)> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::parse(&path.display().to_string(), &text))
    }

    pub fn parse(file: &str, text: &str) -> (Self, Vec<AllowWarning>) {
        let mut list = AllowList::default();
        let mut warnings = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches('\u{FEFF}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (entry, reason) = match line.split_once(" #").or_else(|| line.split_once("\t#")) {
                Some((e, r)) => (e.trim(), r.trim()),
                None => (line, ""),
            };
            let reason = if reason.is_empty() {
                "allow-list"
            } else {
                reason
            }
            .to_owned();
            if let Some(prefix) = entry.strip_suffix('*') {
                let prefix = normalize_name(prefix);
                if prefix.chars().count() < 4 {
                    warnings.push(AllowWarning {
                        file: file.to_owned(),
                        line: i + 1,
                        message: format!(
                            "{entry:?}: a prefix needs at least 4 characters; ignored"
                        ),
                    });
                } else {
                    list.prefixes.push((prefix, reason));
                }
            } else if looks_like_code(entry) {
                match CreditCode::parse(entry) {
                    Ok(code) => {
                        list.codes.insert(code, reason);
                    }
                    Err(
                        e @ (CodeError::Check { .. }
                        | CodeError::BadChar { .. }
                        | CodeError::DivisionNotDigits { .. }),
                    ) => {
                        warnings.push(AllowWarning {
                            file: file.to_owned(),
                            line: i + 1,
                            message: format!(
                                "{entry:?} looks like a credit code but is invalid ({e}); ignored"
                            ),
                        });
                    }
                    Err(_) => {
                        list.names.insert(normalize_name(entry), reason);
                    }
                }
            } else {
                list.names.insert(normalize_name(entry), reason);
            }
        }
        (list, warnings)
    }

    pub fn len(&self) -> usize {
        self.codes.len() + self.names.len() + self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reason a record is exempt: its credit code or its exact name is listed.
    pub fn lookup(&self, code: Option<&CreditCode>, name: &str) -> Option<&str> {
        if self.is_empty() {
            return None;
        }
        let name = normalize_name(name);
        code.and_then(|c| self.codes.get(c))
            .or_else(|| self.names.get(&name))
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| name.starts_with(p.as_str()))
                    .map(|(_, r)| r)
            })
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# licensed\n\
        91110000600037341L  # 某银行 金融许可证\n\
        中国工商银行股份有限公司安康分行\n\
        陕西某支付有限公司（安康）  # 支付业务许可证\n\
        91110000600037341N  # typo\n\
        中国农业银行股份有限公司*  # 金融许可证（各分支机构）\n\
        银行*\n";

    #[test]
    fn matches_by_code_or_exact_name() {
        let (list, warnings) = AllowList::parse("a.txt", SAMPLE);
        assert_eq!(list.len(), 4);
        let code = CreditCode::parse("91110000600037341L").ok();
        assert_eq!(
            list.lookup(code.as_ref(), "whatever"),
            Some("某银行 金融许可证")
        );
        assert_eq!(
            list.lookup(None, "中国工商银行股份有限公司安康分行"),
            Some("allow-list")
        );
        assert_eq!(
            list.lookup(None, "陕西某支付有限公司(安康)"),
            Some("支付业务许可证"),
            "bracket width"
        );
        assert_eq!(
            list.lookup(None, "中国工商银行股份有限公司安康"),
            None,
            "exact names only"
        );
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[0].line, 5);
        assert!(
            warnings[0].message.contains("expected 'L'"),
            "{}",
            warnings[0].message
        );
        assert!(
            warnings[1].message.contains("at least 4"),
            "{}",
            warnings[1].message
        );
    }

    #[test]
    fn a_trailing_star_covers_every_branch_of_a_licensed_entity() {
        let (list, _) = AllowList::parse("a.txt", SAMPLE);
        assert_eq!(
            list.lookup(None, "中国农业银行股份有限公司汉中天台路支行"),
            Some("金融许可证（各分支机构）")
        );
        assert_eq!(
            list.lookup(None, "汉中中国农业银行股份有限公司代理点"),
            None,
            "prefix, not substring"
        );
    }
}
