//! Account, organization and robot names.

/// Names no account or organization may take.
pub const RESERVED: &[&str] = &[
    "admin", "root", "library", "api", "auth", "v1", "v2", "berth", "registry", "official", "search", "static", "www",
    "help", "login", "logout", "signup", "settings", "users", "orgs", "robots", "teams", "token", "tokens",
];

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{0:?} is not a valid name: 2 to 30 lowercase letters and digits")]
    Invalid(String),
    #[error("{0:?} is a reserved name")]
    Reserved(String),
    #[error("a password needs at least {MIN_PASSWORD_LEN} characters")]
    ShortPassword,
}

fn plain(name: &str) -> bool {
    (2..=30).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Checks a user or organization name (`admin` is allowed only where `allow_admin`).
pub fn check_account_name(name: &str, allow_admin: bool) -> Result<(), NameError> {
    if !plain(name) {
        return Err(NameError::Invalid(name.to_owned()));
    }
    if RESERVED.contains(&name) && !(allow_admin && name == "admin") {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// Checks the short name of a robot (the part after `<org>+`).
pub fn check_robot_name(name: &str) -> Result<(), NameError> {
    if plain(name) {
        Ok(())
    } else {
        Err(NameError::Invalid(name.to_owned()))
    }
}

pub fn check_password(password: &str) -> Result<(), NameError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        Err(NameError::ShortPassword)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["al", "alice", "a1", "0x", &"a".repeat(30)] {
            assert_eq!(check_account_name(ok, false), Ok(()), "{ok}");
        }
        for bad in ["a", "Alice", "al-ice", "al_ice", "al.ice", "", &"a".repeat(31), "a+b"] {
            assert!(matches!(check_account_name(bad, false), Err(NameError::Invalid(_))), "{bad}");
        }
        assert!(matches!(check_account_name("library", false), Err(NameError::Reserved(_))));
        assert!(matches!(check_account_name("admin", false), Err(NameError::Reserved(_))));
        assert_eq!(check_account_name("admin", true), Ok(()));
        assert_eq!(check_robot_name("ci"), Ok(()));
        assert!(check_robot_name("c").is_err());
        assert_eq!(check_password("12345678"), Ok(()));
        assert_eq!(check_password("1234567"), Err(NameError::ShortPassword));
    }
}
