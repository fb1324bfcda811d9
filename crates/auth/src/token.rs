//! Access tokens: JWTs signed with Ed25519 (EdDSA), carrying the granted actions.

use crate::scope::{Actions, Scope};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

/// The `iss` of every token berth signs.
pub const ISSUER: &str = "berth";

/// One entry of the `access` claim, as Docker's token spec shapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl AccessEntry {
    /// The entry granting `actions` for `scope` (the scope's own actions are ignored).
    pub fn grant(scope: &Scope, actions: Actions) -> AccessEntry {
        match scope {
            Scope::Repository { name, .. } => AccessEntry {
                kind: "repository".into(),
                name: name.to_string(),
                actions: actions.list().into_iter().map(str::to_owned).collect(),
            },
            Scope::Catalog => {
                AccessEntry { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub access: Vec<AccessEntry>,
    /// Set when the token was issued to a personal access token: its scope (`read`, ...), which
    /// limits what the live decision may grant this caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pat_scope: Option<String>,
}

impl Claims {
    /// The actions the token grants on a repository.
    pub fn repository_actions(&self, name: &str) -> Actions {
        self.access
            .iter()
            .filter(|e| e.kind == "repository" && e.name == name)
            .flat_map(|e| e.actions.iter())
            .fold(Actions::NONE, |acc, a| acc.union(Actions::parse(a)))
    }

    pub fn grants_catalog(&self) -> bool {
        self.access.iter().any(|e| e.kind == "registry" && e.name == "catalog")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("invalid signing key: {0}")]
    Key(String),
}

/// The signing key pair.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// A new Ed25519 key, as PKCS#8 DER (what [`TokenKeys::from_pkcs8`] reads back).
    pub fn generate_pkcs8() -> Result<Vec<u8>, TokenError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|e| TokenError::Key(e.to_string()))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<TokenKeys, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| TokenError::Key(e.to_string()))?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = hex::encode(&sha2_digest(&public)[..8]);
        Ok(TokenKeys { encoding: EncodingKey::from_ed_der(der), decoding: DecodingKey::from_ed_der(&public), kid })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks signature, issuer, audience and lifetime (no leeway: the signer is this server).
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, TokenError> {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[audience]);
        v.set_issuer(&[ISSUER]);
        v.leeway = 0;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

fn sha2_digest(b: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(b).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn claims(aud: &str, exp_in: i64) -> Claims {
        let scope = Scope::parse("repository:a/b:pull,push").unwrap();
        Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: aud.into(),
            exp: now() + exp_in,
            nbf: now() - 1,
            iat: now(),
            jti: "j1".into(),
            access: vec![
                AccessEntry::grant(&scope, Actions::PULL_PUSH),
                AccessEntry::grant(&Scope::Catalog, Actions::ALL),
            ],
            pat_scope: None,
        }
    }

    #[test]
    fn sign_and_verify() {
        let keys = TokenKeys::from_pkcs8(&TokenKeys::generate_pkcs8().unwrap()).unwrap();
        let t = keys.sign(&claims("berth", 60)).unwrap();
        let c = keys.verify(&t, "berth").unwrap();
        assert_eq!(c.repository_actions("a/b"), Actions::PULL_PUSH);
        assert_eq!(c.repository_actions("a/c"), Actions::NONE);
        assert!(c.grants_catalog());
        // Wrong audience, expired, tampered, foreign key.
        assert!(keys.verify(&t, "other").is_err());
        assert!(keys.verify(&keys.sign(&claims("berth", -5)).unwrap(), "berth").is_err());
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        assert!(keys.verify(&parts.join("."), "berth").is_err());
        let other = TokenKeys::from_pkcs8(&TokenKeys::generate_pkcs8().unwrap()).unwrap();
        assert!(other.verify(&t, "berth").is_err());
    }
}
