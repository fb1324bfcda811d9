//! Docker token scopes: `repository:<name>:<actions>`, `repository(<class>):<name>:<actions>`,
//! `registry:catalog:*`.

use berth_oci::RepoName;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const PULL: Actions = Actions(1);
    pub const PULL_PUSH: Actions = Actions(3);
    pub const ALL: Actions = Actions(7);

    pub fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    pub fn with(self, a: Action) -> Actions {
        Actions(self.0 | a.bit())
    }

    pub fn union(self, o: Actions) -> Actions {
        Actions(self.0 | o.0)
    }

    pub fn intersect(self, o: Actions) -> Actions {
        Actions(self.0 & o.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses `pull,push`, `*`; unknown words are ignored.
    pub fn parse(s: &str) -> Actions {
        s.split(',').fold(Actions::NONE, |acc, w| match w.trim() {
            "pull" => acc.with(Action::Pull),
            "push" => acc.with(Action::Push),
            "delete" => acc.with(Action::Delete),
            "*" => Actions::ALL,
            _ => acc,
        })
    }

    pub fn list(self) -> Vec<&'static str> {
        [Action::Pull, Action::Push, Action::Delete]
            .into_iter()
            .filter(|a| self.contains(*a))
            .map(Action::as_str)
            .collect()
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.list().join(","))
    }
}

/// One requested scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository { name: RepoName, actions: Actions },
    Catalog,
}

impl Scope {
    /// Parses one scope; `None` for anything malformed (ignored by the token endpoint).
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let kind = kind.split_once('(').map_or(kind, |(k, _)| k);
        match kind {
            "repository" => Some(Scope::Repository { name: name.parse().ok()?, actions: Actions::parse(actions) }),
            "registry" if name == "catalog" => Some(Scope::Catalog),
            _ => None,
        }
    }

    /// Parses a space-separated list (as `scope` may carry several).
    pub fn parse_list(s: &str) -> Vec<Scope> {
        s.split(' ').filter(|p| !p.is_empty()).filter_map(Scope::parse).collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Repository { name, actions } => write!(f, "repository:{name}:{actions}"),
            Scope::Catalog => f.write_str("registry:catalog:*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let n = |s: &str| s.parse::<RepoName>().unwrap();
        let cases: &[(&str, Option<Scope>)] = &[
            (
                "repository:alice/app:pull,push",
                Some(Scope::Repository { name: n("alice/app"), actions: Actions::PULL_PUSH }),
            ),
            ("repository:a:*", Some(Scope::Repository { name: n("a"), actions: Actions::ALL })),
            ("repository(plugin):a/b:pull", Some(Scope::Repository { name: n("a/b"), actions: Actions::PULL })),
            ("repository:a:pull,fly", Some(Scope::Repository { name: n("a"), actions: Actions::PULL })),
            ("repository:a:", Some(Scope::Repository { name: n("a"), actions: Actions::NONE })),
            ("registry:catalog:*", Some(Scope::Catalog)),
            ("registry:other:*", None),
            ("repository:Bad:pull", None),
            ("repository", None),
            ("nonsense:x:y", None),
        ];
        for (s, want) in cases {
            assert_eq!(Scope::parse(s), *want, "{s}");
        }
        assert_eq!(Scope::parse_list("repository:a:pull registry:catalog:*").len(), 2);
        assert_eq!(Scope::parse("repository:a/b:push,pull").unwrap().to_string(), "repository:a/b:pull,push");
        assert_eq!(Actions::ALL.intersect(Actions::PULL), Actions::PULL);
    }
}
