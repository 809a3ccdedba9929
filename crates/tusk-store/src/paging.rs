//! Keyset paging as Mastodon pages (`max_id`, `since_id`/`min_id`, `limit`), for every query
//! that pages by a snowflake column.

use tusk_core::PageRange;

/// The end of a paged query's `WHERE`: `column` below `$first` (`max_id`) and above
/// `$first + 1` (the lower bound), ordered newest first, or from the bottom for `min_id`, and
/// limited. The caller binds `range.max_id` and `range.lower()` there; [`newest_first`] turns
/// a page read from the bottom around. A missing bound is the end of the id space, never
/// `($n IS NULL OR …)`: the bounds stay index bounds in a generic plan, so a page deep down
/// starts where it is instead of walking there from the top.
pub(crate) fn keyset(column: &str, first: usize, range: &PageRange) -> String {
    let lower = first + 1;
    format!(
        "AND {column} < coalesce(${first}::bigint, {max}) AND {column} > coalesce(${lower}::bigint, 0) \
         ORDER BY {column} {} LIMIT {}",
        order(range),
        range.limit,
        max = i64::MAX
    )
}

/// `ASC` for a page read from the bottom (`min_id`), else `DESC`.
pub(crate) fn order(range: &PageRange) -> &'static str {
    if range.from_bottom() { "ASC" } else { "DESC" }
}

/// A page read in the order of [`keyset`], newest first.
pub(crate) fn newest_first<T>(mut rows: Vec<T>, range: &PageRange) -> Vec<T> {
    if range.from_bottom() {
        rows.reverse();
    }
    rows
}

#[cfg(test)]
mod tests {
    use tusk_core::Id;

    use super::*;

    #[test]
    fn pages_from_the_top_or_the_bottom() {
        let top = PageRange::new(Some(Id(9)), None, None, Some(3));
        assert_eq!(
            keyset("s.id", 1, &top),
            "AND s.id < coalesce($1::bigint, 9223372036854775807) AND s.id > coalesce($2::bigint, 0) \
             ORDER BY s.id DESC LIMIT 3"
        );
        let bottom = PageRange::new(None, None, Some(Id(2)), Some(3));
        assert!(
            keyset("n.id", 5, &bottom).ends_with("n.id > coalesce($6::bigint, 0) ORDER BY n.id ASC LIMIT 3")
        );
        assert_eq!(newest_first(vec![3, 4, 5], &bottom), vec![5, 4, 3]);
        assert_eq!(newest_first(vec![5, 4, 3], &top), vec![5, 4, 3]);
    }
}
