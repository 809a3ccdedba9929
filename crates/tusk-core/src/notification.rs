//! The kinds of notification, as Mastodon 4.3 names them.

/// What a notification is about. Tusk writes the first five; the others are named so that
/// clients filtering by them (`types[]`, `exclude_types[]`) are understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationType {
    Mention,
    Reblog,
    Follow,
    FollowRequest,
    Favourite,
    Status,
    Poll,
    Update,
    AdminSignUp,
    AdminReport,
    SeveredRelationships,
    ModerationWarning,
}

impl NotificationType {
    pub const ALL: [Self; 12] = [
        Self::Mention,
        Self::Reblog,
        Self::Follow,
        Self::FollowRequest,
        Self::Favourite,
        Self::Status,
        Self::Poll,
        Self::Update,
        Self::AdminSignUp,
        Self::AdminReport,
        Self::SeveredRelationships,
        Self::ModerationWarning,
    ];

    /// The ones Tusk writes today.
    pub const WRITTEN: [Self; 5] =
        [Self::Mention, Self::Reblog, Self::Follow, Self::FollowRequest, Self::Favourite];

    /// Grouped by default in the grouped notifications (Mastodon's `GROUPABLE_NOTIFICATION_TYPES`).
    pub const GROUPABLE: [Self; 3] = [Self::Favourite, Self::Follow, Self::Reblog];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Mention => "mention",
            Self::Reblog => "reblog",
            Self::Follow => "follow",
            Self::FollowRequest => "follow_request",
            Self::Favourite => "favourite",
            Self::Status => "status",
            Self::Poll => "poll",
            Self::Update => "update",
            Self::AdminSignUp => "admin.sign_up",
            Self::AdminReport => "admin.report",
            Self::SeveredRelationships => "severed_relationships",
            Self::ModerationWarning => "moderation_warning",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn groupable(self) -> bool {
        Self::GROUPABLE.contains(&self)
    }

    /// Whether its notifications show a status (Mastodon's `TARGET_STATUS_INCLUDES_BY_TYPE`).
    pub fn carries_status(self) -> bool {
        matches!(
            self,
            Self::Favourite | Self::Reblog | Self::Status | Self::Mention | Self::Poll | Self::Update
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in NotificationType::ALL {
            assert_eq!(NotificationType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationType::parse("no_such_type"), None);
        assert!(NotificationType::Favourite.groupable() && !NotificationType::Mention.groupable());
    }
}
