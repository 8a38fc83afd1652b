//! Unified social credit codes (统一社会信用代码, GB 32100-2015).
//!
//! A [`CreditCode`] can only be built from a code that passes the standard's
//! checks, so code that holds one never re-validates. Input is normalized
//! first, because registries and web pages write the same code with spaces,
//! hyphens, lower case and full-width characters (`91 110000 600037341l`).
//!
//! Checks: 18 characters from `0123456789ABCDEFGHJKLMNPQRTUWXY` (no I, O, S,
//! V, Z); characters 3–8 are the administrative division code of the
//! registering authority, so they must be digits; the 18th character is the
//! check character computed over the first 17 with weights
//! 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28 (check = (31 − Σ mod 31) mod 31).
//! The registering department (character 1) and entity type (character 2)
//! are not restricted further: the standard's tables have grown since 2015
//! (`N` for agriculture, `A` for the military) and rejecting a real code is
//! worse than accepting an odd one whose check character is right.

use std::fmt;

use serde::Serialize;

/// The 31 characters of the code alphabet, in value order.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Each byte's value in the alphabet, or [`NOT_IN_ALPHABET`].
const VALUES: [u8; 256] = {
    let mut t = [NOT_IN_ALPHABET; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT_IN_ALPHABET: u8 = u8::MAX;

/// Value of an alphabet character, `None` for a character outside it.
fn value(b: u8) -> Option<u32> {
    match VALUES[b as usize] {
        NOT_IN_ALPHABET => None,
        v => Some(u32::from(v)),
    }
}

/// The check character of the first 17 characters (all in the alphabet).
fn check_char(first17: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (&b, w) in first17.iter().zip(WEIGHTS) {
        sum += value(b)? * w;
    }
    Some(ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// A valid unified social credit code, in its canonical form (18 ASCII
/// characters, upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode([u8; 18]);

/// Why a string is not a valid credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeError {
    /// Nothing left after normalization.
    #[error("empty")]
    Empty,
    /// Not 18 characters after normalization (old 15-digit 注册号, 13-digit codes, truncations).
    #[error("length {len}, expected 18")]
    Length { len: usize },
    /// A character outside the alphabet (1-based position in the normalized code).
    #[error(
        "character {ch:?} at position {position} is not allowed (I, O, S, V, Z and symbols are not used)"
    )]
    BadChar { position: usize, ch: char },
    /// Characters 3–8 must be the digits of a division code.
    #[error(
        "character {ch:?} at position {position} must be a digit (characters 3-8 are the division code)"
    )]
    DivisionNotDigits { position: usize, ch: char },
    /// The 18th character does not match the check computed over the first 17.
    #[error("check character expected {expected:?}, got {got:?}")]
    Check { expected: char, got: char },
    /// Fifteen digits, an old registration number (注册号) whose check digit
    /// (ISO 7064 MOD 11,10) is wrong.
    #[error("registration number (15 digits) check digit expected {expected:?}, got {got:?}")]
    RegistrationCheck { expected: char, got: char },
}

/// An old business registration number (工商注册号, GS 15-2006): the number
/// companies carried before unified social credit codes (2015), still in
/// registry exports of older companies. 15 digits: the registering
/// authority's division code (6), a sequence (8) and a check digit over the
/// first 14 (ISO 7064 MOD 11,10). Only constructible from a valid number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationNumber([u8; 15]);

/// The ISO 7064 MOD 11,10 check digit of `digits` (ASCII digits).
fn mod_11_10(digits: &[u8]) -> u8 {
    let mut p = 10u32;
    for &d in digits {
        let s = match (p + u32::from(d - b'0')) % 10 {
            0 => 10,
            s => s,
        };
        p = s * 2 % 11;
    }
    b'0' + ((11 - p) % 10) as u8
}

impl RegistrationNumber {
    /// Normalizes `input` like a credit code; `None` unless it is 15 ASCII
    /// digits, else whether its check digit is right.
    pub fn parse(input: &str) -> Option<Result<Self, CodeError>> {
        let n = normalize_code(input);
        let b: [u8; 15] = n.as_bytes().try_into().ok()?;
        if !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let expected = mod_11_10(&b[..14]);
        Some(if expected == b[14] {
            Ok(RegistrationNumber(b))
        } else {
            Err(CodeError::RegistrationCheck {
                expected: expected as char,
                got: b[14] as char,
            })
        })
    }

    pub fn as_str(&self) -> &str {
        // only ASCII digits are ever stored
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Digits 1–6: the division code of the registering authority.
    pub fn division_code(&self) -> &str {
        &self.as_str()[..6]
    }
}

impl fmt::Display for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RegistrationNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Normalizes a code as written: drops spaces (incl. U+3000 and NBSP),
/// hyphens and dashes of any width, maps full-width characters to ASCII and
/// lower case to upper case.
pub fn normalize_code(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(64));
    for c in input.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace()
            || matches!(
                c,
                '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FEFF}' | '\u{200B}'
            )
        {
            continue;
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl CreditCode {
    /// Normalizes `input` and validates it.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        // the common case, a valid code as written: one pass, no allocation
        if let Ok(b) = <[u8; 18]>::try_from(input.as_bytes())
            && Self::valid_canonical(&b)
        {
            return Ok(CreditCode(b));
        }
        // anything else, including why it is invalid
        Self::parse_canonical(&normalize_code(input))
    }

    /// Whether 18 bytes are a valid code in canonical form: every check of
    /// [`CreditCode::parse_canonical`] in one pass.
    fn valid_canonical(b: &[u8; 18]) -> bool {
        // the check character is in the alphabet, so a match proves b[17] is
        b[2..8].iter().all(u8::is_ascii_digit) && check_char(&b[..17]) == Some(b[17])
    }

    /// Validates a code that is already normalized.
    fn parse_canonical(norm: &str) -> Result<Self, CodeError> {
        if norm.is_empty() {
            return Err(CodeError::Empty);
        }
        let len = norm.chars().count();
        if len != 18 {
            return Err(CodeError::Length { len });
        }
        // 18 chars; a non-ASCII one is a bad character
        for (i, ch) in norm.chars().enumerate() {
            if !ch.is_ascii() || value(ch as u8).is_none() {
                return Err(CodeError::BadChar {
                    position: i + 1,
                    ch,
                });
            }
        }
        let b = norm.as_bytes();
        for (i, &c) in b.iter().enumerate().take(8).skip(2) {
            if !c.is_ascii_digit() {
                return Err(CodeError::DivisionNotDigits {
                    position: i + 1,
                    ch: c as char,
                });
            }
        }
        let expected = check_char(&b[..17]).ok_or(CodeError::Empty)?;
        if expected != b[17] {
            return Err(CodeError::Check {
                expected: expected as char,
                got: b[17] as char,
            });
        }
        let mut arr = [0u8; 18];
        arr.copy_from_slice(b);
        Ok(CreditCode(arr))
    }

    pub fn as_str(&self) -> &str {
        // only ASCII alphabet bytes are ever stored
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Characters 3–8: the division code of the registering authority (登记管理机关行政区划码).
    pub fn division_code(&self) -> &str {
        &self.as_str()[2..8]
    }

    /// Character 1: the registering department (登记管理部门代码).
    pub fn department(&self) -> char {
        self.0[0] as char
    }

    /// What character 1 means (GB 32100-2015 table 1, with later additions).
    pub fn department_name(&self) -> &'static str {
        match self.0[0] {
            b'1' => "机构编制",
            b'2' => "外交",
            b'3' => "司法行政",
            b'4' => "文化",
            b'5' => "民政",
            b'6' => "旅游",
            b'7' => "宗教",
            b'8' => "工会",
            b'9' => "工商",
            b'A' => "中央军委改革和编制办公室",
            b'N' => "农业",
            b'Y' => "其他",
            _ => "未定义",
        }
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CreditCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CreditCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_are_checked_by_iso_7064_mod_11_10() {
        // check digits computed by an independent implementation (Python)
        for good in ["110108001234569", "610902000123451", "310000400001237"] {
            let n = RegistrationNumber::parse(good)
                .expect("15 digits")
                .expect(good);
            assert_eq!(n.division_code(), &good[..6]);
        }
        assert_eq!(
            RegistrationNumber::parse("11010800123456 0"),
            Some(Err(CodeError::RegistrationCheck {
                expected: '9',
                got: '0'
            }))
        );
        assert!(RegistrationNumber::parse("91610902MA70B5XK71").is_none());
        assert!(RegistrationNumber::parse("11010800123456X").is_none());
    }

    // Vectors: the check characters below were computed by hand / with an
    // independent Python one-liner, not with this module:
    //   A="0123456789ABCDEFGHJKLMNPQRTUWXY"; W=[1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28]
    //   A[(31 - sum(A.index(c)*w for c,w in zip(s,W)) % 31) % 31]
    #[test]
    fn accepts_valid_codes() {
        for code in [
            "91110000600037341L", // python-stdnum doctest
            "91350100M000100Y43", // python-stdnum doctest (letters in the organization code)
            "916103227412724929", // real registry row (凤翔县)
            "91610902MA70B5XK71", // Ankang 汉滨区, computed by hand
        ] {
            let c = CreditCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(c.as_str(), code);
        }
    }

    #[test]
    fn normalizes_spaces_hyphens_case_and_full_width() {
        let c = CreditCode::parse("91 110000 600037341l").expect("valid after normalization");
        assert_eq!(c.as_str(), "91110000600037341L");
        let c = CreditCode::parse("９１１１００００-６０００３７３４１Ｌ").expect("full width");
        assert_eq!(c.as_str(), "91110000600037341L");
        let c = CreditCode::parse("\u{3000}91110000600037341L\t").expect("ideographic space");
        assert_eq!(c.as_str(), "91110000600037341L");
    }

    #[test]
    fn wrong_length_is_reported_with_the_length() {
        assert_eq!(
            CreditCode::parse("12345"),
            Err(CodeError::Length { len: 5 })
        );
        assert_eq!(
            CreditCode::parse("320404000009558"),
            Err(CodeError::Length { len: 15 })
        );
        assert_eq!(CreditCode::parse("  "), Err(CodeError::Empty));
    }

    #[test]
    fn bad_character_is_reported_with_its_position() {
        assert_eq!(
            CreditCode::parse("9111000060003IOZSV"),
            Err(CodeError::BadChar {
                position: 14,
                ch: 'I'
            })
        );
        // lower case is normalized, so 'x' becomes 'X', which is in the alphabet;
        // a Chinese character is not
        assert_eq!(
            CreditCode::parse("91510823MA6CJ9UA号X"),
            Err(CodeError::BadChar {
                position: 17,
                ch: '号'
            })
        );
    }

    #[test]
    fn division_code_must_be_digits() {
        assert_eq!(
            CreditCode::parse("91A10000600037341L"),
            Err(CodeError::DivisionNotDigits {
                position: 3,
                ch: 'A'
            })
        );
    }

    #[test]
    fn wrong_check_character_says_what_was_expected() {
        assert_eq!(
            CreditCode::parse("91110000600037341N"),
            Err(CodeError::Check {
                expected: 'L',
                got: 'N'
            })
        );
        assert_eq!(
            CreditCode::parse("91610902MA70B5XK70"),
            Err(CodeError::Check {
                expected: '1',
                got: '0'
            })
        );
    }

    #[test]
    fn division_code_is_characters_3_to_8() {
        let c = CreditCode::parse("91610902MA70B5XK71").expect("valid");
        assert_eq!(c.division_code(), "610902");
        assert_eq!(c.department_name(), "工商");
    }
}
