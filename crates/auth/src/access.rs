//! The access decision: from who asks and what the repository is, the level they have on it.

use crate::scope::Actions;

/// A caller's level on a repository, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    #[default]
    None,
    Read,
    Write,
    Admin,
}

impl Level {
    /// The actions a level allows: read pulls, write also pushes, admin also deletes.
    pub fn actions(self) -> Actions {
        match self {
            Level::None => Actions::NONE,
            Level::Read => Actions::PULL,
            Level::Write => Actions::PULL_PUSH,
            Level::Admin => Actions::ALL,
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }
}

/// A team's role on its organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrgRole {
    Read,
    Write,
    Admin,
    Owner,
}

impl OrgRole {
    pub fn parse(s: &str) -> Option<OrgRole> {
        match s {
            "read" => Some(OrgRole::Read),
            "write" => Some(OrgRole::Write),
            "admin" => Some(OrgRole::Admin),
            "owner" => Some(OrgRole::Owner),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Read => "read",
            OrgRole::Write => "write",
            OrgRole::Admin => "admin",
            OrgRole::Owner => "owner",
        }
    }

    /// The level the role gives on every repository of the organization.
    pub fn level(self) -> Level {
        match self {
            OrgRole::Read => Level::Read,
            OrgRole::Write => Level::Write,
            OrgRole::Admin | OrgRole::Owner => Level::Admin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// The scope of a personal access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatScope {
    Read,
    ReadWrite,
    Delete,
}

impl PatScope {
    pub fn parse(s: &str) -> Option<PatScope> {
        match s {
            "read" => Some(PatScope::Read),
            "read-write" => Some(PatScope::ReadWrite),
            "delete" => Some(PatScope::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PatScope::Read => "read",
            PatScope::ReadWrite => "read-write",
            PatScope::Delete => "delete",
        }
    }

    pub fn actions(self) -> Actions {
        match self {
            PatScope::Read => Actions::PULL,
            PatScope::ReadWrite => Actions::PULL_PUSH,
            PatScope::Delete => Actions::ALL,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Subject {
    #[default]
    Anonymous,
    Account {
        id: i64,
        name: String,
        admin: bool,
        robot: bool,
        /// Set when the caller authenticated with a personal access token.
        scope: Option<PatScope>,
    },
}

impl Subject {
    pub fn name(&self) -> &str {
        match self {
            Subject::Anonymous => "",
            Subject::Account { name, .. } => name,
        }
    }

    pub fn id(&self) -> Option<i64> {
        match self {
            Subject::Anonymous => None,
            Subject::Account { id, .. } => Some(*id),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Subject::Account { admin: true, .. })
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Subject::Anonymous)
    }
}

/// What the metadata store knows about a repository, for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFacts {
    /// The repository's visibility, or the one it would get if it were created now.
    pub visibility: Visibility,
    /// The namespace is this subject's own user namespace.
    pub own_namespace: bool,
    /// The subject's best level from the teams it belongs to (organization role and repository roles).
    pub team_level: Level,
}

/// The actions `subject` may perform on a repository.
pub fn allowed(subject: &Subject, facts: &RepoFacts, anonymous_pull: bool) -> Actions {
    let level = match subject {
        Subject::Anonymous => {
            if anonymous_pull && facts.visibility == Visibility::Public {
                Level::Read
            } else {
                Level::None
            }
        }
        Subject::Account { admin: true, .. } => Level::Admin,
        Subject::Account { robot, .. } => {
            let mut l = facts.team_level;
            if facts.visibility == Visibility::Public {
                l = l.max(Level::Read);
            }
            if facts.own_namespace && !robot {
                l = Level::Admin;
            }
            l
        }
    };
    let actions = level.actions();
    match subject {
        Subject::Account { scope: Some(s), .. } => actions.intersect(s.actions()),
        _ => actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(admin: bool, scope: Option<PatScope>) -> Subject {
        Subject::Account { id: 1, name: "alice".into(), admin, robot: false, scope }
    }

    fn facts(v: Visibility, own: bool, team: Level) -> RepoFacts {
        RepoFacts { visibility: v, own_namespace: own, team_level: team }
    }

    #[test]
    fn decision_table() {
        use Visibility::*;
        let robot = Subject::Account { id: 2, name: "org+ci".into(), admin: false, robot: true, scope: None };
        let cases: Vec<(Subject, RepoFacts, bool, Actions)> = vec![
            (Subject::Anonymous, facts(Public, false, Level::None), true, Actions::PULL),
            (Subject::Anonymous, facts(Public, false, Level::None), false, Actions::NONE),
            (Subject::Anonymous, facts(Private, false, Level::None), true, Actions::NONE),
            (user(false, None), facts(Private, true, Level::None), true, Actions::ALL),
            (user(false, None), facts(Private, false, Level::None), true, Actions::NONE),
            (user(false, None), facts(Public, false, Level::None), false, Actions::PULL),
            (user(false, None), facts(Private, false, Level::Read), true, Actions::PULL),
            (user(false, None), facts(Private, false, Level::Write), true, Actions::PULL_PUSH),
            (user(false, None), facts(Public, false, Level::Write), true, Actions::PULL_PUSH),
            (user(false, None), facts(Private, false, Level::Admin), true, Actions::ALL),
            (user(true, None), facts(Private, false, Level::None), true, Actions::ALL),
            (user(false, Some(PatScope::Read)), facts(Private, true, Level::None), true, Actions::PULL),
            (user(false, Some(PatScope::ReadWrite)), facts(Private, true, Level::None), true, Actions::PULL_PUSH),
            (user(false, Some(PatScope::Delete)), facts(Private, true, Level::None), true, Actions::ALL),
            (user(false, Some(PatScope::Delete)), facts(Private, false, Level::Read), true, Actions::PULL),
            (user(true, Some(PatScope::Read)), facts(Private, false, Level::None), true, Actions::PULL),
            (robot.clone(), facts(Private, true, Level::None), true, Actions::NONE),
            (robot, facts(Private, false, Level::Write), true, Actions::PULL_PUSH),
        ];
        for (i, (s, f, anon, want)) in cases.into_iter().enumerate() {
            assert_eq!(allowed(&s, &f, anon), want, "case {i}: {s:?} {f:?}");
        }
        assert_eq!(OrgRole::Owner.level(), Level::Admin);
        assert_eq!(OrgRole::Write.level(), Level::Write);
        assert!(Level::Admin > Level::Write && Level::Read > Level::None);
    }
}
