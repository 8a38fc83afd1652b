//! API tokens: made by `finscan token add`, stored as a hash in the config
//! file's `[[tokens]]` table, checked on every request.
//!
//! A token is `fst_` and 64 hex digits: 32 bytes from the operating
//! system's random source. It is printed once and never stored; the config
//! keeps its SHA-256. A fast hash is enough, and the right one: a slow
//! password hash (argon2) protects guessable secrets, and 256 random bits
//! are not guessable, while hashing on every request with argon2 would let
//! any client burn the server's two cores.
//!
//! The hashes live in the config file, not in the database: the config is
//! what an admin reads, edits, reviews and backs up, it survives a new
//! database, and revoking a token is deleting four lines (the server
//! re-reads the tokens when the file changes, see [`TokenStore`]). A hash
//! reveals nothing that lets one make a token, so the file needs no more
//! protection than any config.
//!
//! A presented token is hashed and compared with every stored hash in
//! constant time ([`subtle`]), so the time of a refusal says nothing of
//! how close a guess came, or of which name it was near.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::{Config, ConfigError, Role, TokenEntry};

/// What a token's text starts with (it tells a leaked string for what it is).
pub const PREFIX: &str = "fst_";

/// Errors of `finscan token …`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Edit { path: PathBuf, message: String },
    #[error("token name {0:?}: {1}")]
    BadName(String, String),
    #[error("{}: a token named {name:?} exists already (revoke it first)", path.display())]
    Exists { path: PathBuf, name: String },
    #[error("{}: no token named {name:?}", path.display())]
    NoSuchToken { path: PathBuf, name: String },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// Checks a token's or a job's name: 1 to 64 letters, digits, `.`, `_`,
/// `-` or `@` (it is shown in logs and used in URLs).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("may hold only ASCII letters, digits, '.', '_', '-' and '@'".into());
    }
    Ok(())
}

/// SHA-256 of a token's text, as 64 hex digits.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token's text.
pub fn generate() -> Result<String, TokenError> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// Who a request's token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// The tokens of a config, ready to check.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    entries: Vec<(Caller, [u8; 32])>,
}

impl TokenSet {
    pub fn new(tokens: &[TokenEntry]) -> TokenSet {
        let entries = tokens
            .iter()
            .filter_map(|t| {
                let mut h = [0u8; 32];
                hex::decode_to_slice(&t.sha256, &mut h).ok()?;
                Some((
                    Caller {
                        name: t.name.clone(),
                        role: t.role,
                    },
                    h,
                ))
            })
            .collect();
        TokenSet { entries }
    }

    /// The holder of `token`, if it is one of these. Every stored hash is
    /// compared, in constant time.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (caller, h) in &self.entries {
            if bool::from(h.ct_eq(&presented)) {
                found = Some(caller);
            }
        }
        found.cloned()
    }

    /// The holders, in the config's order.
    pub fn callers(&self) -> impl Iterator<Item = &Caller> {
        self.entries.iter().map(|(c, _)| c)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The tokens of the config file a server runs with, read again when the
/// file changes (its modification time or size), so that `finscan token
/// add` and `revoke` take effect without a restart. A file that no longer
/// reads as a valid config keeps the tokens read before (and says so once
/// per change in the log).
pub struct TokenStore {
    path: PathBuf,
    state: RwLock<(Option<Stamp>, Arc<TokenSet>)>,
}

/// A file's modification time and size: what says it changed.
type Stamp = (SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TokenStore {
    pub fn new(config: &Config) -> TokenStore {
        TokenStore {
            path: config.path.clone(),
            state: RwLock::new((stamp(&config.path), Arc::new(TokenSet::new(&config.tokens)))),
        }
    }

    /// The current tokens.
    pub fn current(&self) -> Arc<TokenSet> {
        let now = stamp(&self.path);
        {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            if s.0 == now {
                return s.1.clone();
            }
        }
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if s.0 != now {
            match Config::load(&self.path) {
                Ok(c) => {
                    s.1 = Arc::new(TokenSet::new(&c.tokens));
                    tracing::info!(tokens = s.1.len(), "tokens read again from the config file");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the config file changed but does not read: the tokens read before stay in force")
                }
            }
            s.0 = now;
        }
        s.1.clone()
    }
}

/// Reads the config text at `path` for editing; a missing file is an
/// empty config.
fn read_for_edit(path: &Path) -> Result<String, TokenError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(TokenError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `text` over `path` through a temporary file beside it, after
/// checking it reads as a valid config; the file keeps its permissions.
fn write_checked(path: &Path, text: &str) -> Result<(), TokenError> {
    Config::parse(text, path)?;
    let io = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if let Ok(m) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(m.permissions()).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The config's text as a document to edit (comments and order kept).
fn editable(text: &str, path: &Path) -> Result<toml_edit::DocumentMut, TokenError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| TokenError::Edit {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// Makes a token for `name` with `role`, stores its hash in the config
/// file at `path` (created if missing; comments and order kept) and
/// returns the token, which is not stored anywhere.
pub fn add(path: &Path, name: &str, role: Role) -> Result<String, TokenError> {
    check_name(name).map_err(|m| TokenError::BadName(name.to_owned(), m))?;
    let text = read_for_edit(path)?;
    let config = Config::parse(&text, path)?;
    if config.tokens.iter().any(|t| t.name == name) {
        return Err(TokenError::Exists {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    let mut doc = editable(&text, path)?;
    let token = generate()?;
    let mut t = toml_edit::Table::new();
    t["name"] = toml_edit::value(name);
    t["role"] = toml_edit::value(role.as_str());
    t["sha256"] = toml_edit::value(hash(&token));
    t["created"] = toml_edit::value(
        crate::time::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| crate::time::now())
            .to_string(),
    );
    let tokens = doc
        .entry("tokens")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()));
    let Some(array) = tokens.as_array_of_tables_mut() else {
        return Err(TokenError::Edit {
            path: path.to_owned(),
            message: "`tokens` is not an array of tables ([[tokens]])".into(),
        });
    };
    array.push(t);
    write_checked(path, &doc.to_string())?;
    Ok(token)
}

/// Removes the token named `name` from the config file at `path`.
pub fn revoke(path: &Path, name: &str) -> Result<(), TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })?;
    Config::parse(&text, path)?;
    let mut doc = editable(&text, path)?;
    let missing = || TokenError::NoSuchToken {
        path: path.to_owned(),
        name: name.to_owned(),
    };
    let array = doc
        .get_mut("tokens")
        .and_then(|t| t.as_array_of_tables_mut())
        .ok_or_else(missing)?;
    let before = array.len();
    array.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(name));
    if array.len() == before {
        return Err(missing());
    }
    write_checked(path, &doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_verified_by_its_hash_only() {
        let token = generate().unwrap();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        assert_ne!(token, generate().unwrap());
        let set = TokenSet::new(&[TokenEntry {
            name: "wang".into(),
            role: Role::Reviewer,
            sha256: hash(&token),
            created: None,
        }]);
        assert_eq!(
            set.verify(&token),
            Some(Caller {
                name: "wang".into(),
                role: Role::Reviewer
            })
        );
        assert_eq!(set.verify(&hash(&token)), None, "the hash is not a token");
        assert_eq!(set.verify(""), None);
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push('x');
        assert_eq!(set.verify(&wrong), None);
    }

    #[test]
    fn add_and_revoke_keep_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("finscan.toml");
        std::fs::write(
            &path,
            "# the bureau's server\n[server]\nlisten = \"127.0.0.1:9000\" # local only\n",
        )
        .unwrap();
        let a = add(&path, "wang", Role::Reviewer).unwrap();
        let b = add(&path, "office", Role::Recipient).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# the bureau's server\n"), "{text}");
        assert!(text.contains("# local only"), "{text}");
        assert!(
            !text.contains(&a) && !text.contains(&b),
            "tokens are never stored"
        );
        let c = Config::load(&path).unwrap();
        let set = TokenSet::new(&c.tokens);
        assert_eq!(set.verify(&a).unwrap().name, "wang");
        assert_eq!(set.verify(&b).unwrap().role, Role::Recipient);
        assert!(matches!(
            add(&path, "wang", Role::Admin),
            Err(TokenError::Exists { .. })
        ));
        assert!(matches!(
            add(&path, "../x", Role::Admin),
            Err(TokenError::BadName(..))
        ));
        revoke(&path, "wang").unwrap();
        let set = TokenSet::new(&Config::load(&path).unwrap().tokens);
        assert!(set.verify(&a).is_none());
        assert!(set.verify(&b).is_some());
        assert!(matches!(
            revoke(&path, "wang"),
            Err(TokenError::NoSuchToken { .. })
        ));
    }

    #[test]
    fn add_refuses_to_write_into_a_broken_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("finscan.toml");
        std::fs::write(&path, "[server]\nlisen = 1\n").unwrap();
        let e = add(&path, "wang", Role::Reviewer).unwrap_err();
        assert!(e.to_string().contains(":2: server.lisen"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[server]\nlisen = 1\n"
        );
    }
}
