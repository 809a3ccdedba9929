//! Mastodon's id-based paging: `max_id` (older than), `since_id` (newer than, newest first),
//! `min_id` (newer than, immediately after it), and `limit`.

use crate::Id;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    pub max_id: Option<Id>,
    pub since_id: Option<Id>,
    pub min_id: Option<Id>,
    pub limit: usize,
}

impl PageRange {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 40;

    /// Clamps `limit` to 1..=40 (default 20), as Mastodon does instead of refusing.
    pub fn new(max_id: Option<Id>, since_id: Option<Id>, min_id: Option<Id>, limit: Option<i64>) -> Self {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(n) => n.clamp(1, Self::MAX_LIMIT as i64) as usize,
        };
        Self { max_id, since_id, min_id, limit }
    }

    /// The exclusive lower bound (`min_id` wins over `since_id`, as in Mastodon).
    pub fn lower(&self) -> Option<Id> {
        self.min_id.or(self.since_id)
    }

    /// Whether the page is the one right after `min_id` (oldest first, then shown newest first).
    pub fn from_bottom(&self) -> bool {
        self.min_id.is_some()
    }

    pub fn contains(&self, id: Id) -> bool {
        self.max_id.is_none_or(|max| id < max) && self.lower().is_none_or(|low| id > low)
    }

    /// Cuts a newest-first list of candidates down to this page, newest first.
    pub fn select(&self, newest_first: impl IntoIterator<Item = Id>) -> Vec<Id> {
        let mut inside: Vec<Id> = newest_first.into_iter().filter(|id| self.contains(*id)).collect();
        if self.from_bottom() {
            let skip = inside.len().saturating_sub(self.limit);
            inside.drain(..skip);
        } else {
            inside.truncate(self.limit);
        }
        inside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::RangeInclusive<i64>) -> Vec<Id> {
        range.rev().map(Id).collect()
    }

    #[test]
    fn limit_is_clamped() {
        assert_eq!(PageRange::new(None, None, None, None).limit, 20);
        assert_eq!(PageRange::new(None, None, None, Some(400)).limit, 40);
        assert_eq!(PageRange::new(None, None, None, Some(0)).limit, 1);
    }

    #[test]
    fn max_since_and_min() {
        let all = ids(1..=10);
        let page = PageRange::new(Some(Id(8)), None, None, Some(3));
        assert_eq!(page.select(all.clone()), vec![Id(7), Id(6), Id(5)]);
        let since = PageRange::new(None, Some(Id(3)), None, Some(3));
        assert_eq!(since.select(all.clone()), vec![Id(10), Id(9), Id(8)]);
        let min = PageRange::new(None, None, Some(Id(3)), Some(3));
        assert_eq!(min.select(all), vec![Id(6), Id(5), Id(4)]);
    }
}
