//! Access roles of bearer tokens and what each may do.

use serde::{Deserialize, Serialize};

/// The role a token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including tokens.
    Admin,
    /// Create and run: datasets, models, studies.
    Engineer,
    /// Read only.
    Viewer,
    /// The plant's MES: append rows, read, score.
    Mes,
}

/// One thing a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    AppendRows,
    CreateResources,
    ManageTokens,
    /// Subscribe URLs to events (webhooks carry the factory's events off the machine).
    ManageWebhooks,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Viewer => "viewer",
            Role::Mes => "mes",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "engineer" => Some(Role::Engineer),
            "viewer" => Some(Role::Viewer),
            "mes" => Some(Role::Mes),
            _ => None,
        }
    }

    /// Whether this role grants `p`.
    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Engineer => !matches!(p, Permission::ManageTokens | Permission::ManageWebhooks),
            Role::Viewer => matches!(p, Permission::Read),
            Role::Mes => matches!(p, Permission::Read | Permission::AppendRows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_says() {
        assert!(Role::Admin.allows(Permission::ManageTokens));
        assert!(!Role::Engineer.allows(Permission::ManageTokens));
        assert!(Role::Admin.allows(Permission::ManageWebhooks));
        assert!(!Role::Engineer.allows(Permission::ManageWebhooks));
        assert!(Role::Engineer.allows(Permission::CreateResources));
        assert!(!Role::Viewer.allows(Permission::AppendRows));
        assert!(Role::Mes.allows(Permission::AppendRows));
        assert!(!Role::Mes.allows(Permission::CreateResources));
        for r in [Role::Admin, Role::Engineer, Role::Viewer, Role::Mes] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
